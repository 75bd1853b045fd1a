// The README's recipes, run against the real libraries. Each block between
// "// recipe: NAME" and "// end recipe" must appear verbatim in README.md
// (checked at the end), so the README shows code that is known to work.
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import path from 'node:path'
import pg from 'pg'
import { Agent, setGlobalDispatcher, getGlobalDispatcher, request } from 'undici'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import WebSocket, { WebSocketServer } from 'ws'
import 'tcp-keepalive/vitest'
import { configureKeepalive, keepaliveAgent, keepaliveConnector, keepaliveServer } from '../lib/index.js'
import { inspectProcess } from '../lib/cli/inspect.js'
import { Lab } from '../lib/lab/lab.js'
import { labUnavailableReason } from '../lib/lab/netns.js'
import { canRun, closeAll, listen } from './helpers.js'
import { Postgres, postgresUnavailableReason } from './postgres.js'

afterEach(closeAll)

const expected = { enabled: true, idle: 30_000, interval: 5_000, count: 3 }

async function freePort(): Promise<number> {
  const probe = await listen(net.createServer())
  probe.close()
  return probe.port
}

describe('servers and clients', () => {
  it('http server and http.Agent', async () => {
    const app = (_request: http.IncomingMessage, response: http.ServerResponse) => response.end('ok')
    // recipe: http
    const server = keepaliveServer(http.createServer(app), { idle: 30_000, interval: 5_000, count: 3 })
    const agent = keepaliveAgent(new http.Agent({ keepAlive: true }), { idle: 30_000, interval: 5_000, count: 3 })
    // end recipe
    await listen(server)
    const accepted = once(server, 'connection')
    const req = http.get({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port, agent })
    const [response] = (await once(req, 'response')) as [http.IncomingMessage]
    response.resume()
    expect(req.socket).toHaveKeepalive(expected)
    expect((await accepted)[0]).toHaveKeepalive(expected)
    agent.destroy()
  })

  it('undici and fetch through the global dispatcher', async () => {
    const server = await listen(http.createServer((_request, response) => response.end('ok')))
    const previous = getGlobalDispatcher()
    // recipe: undici
    setGlobalDispatcher(new Agent({ connect: keepaliveConnector({ idle: 30_000, interval: 5_000, count: 3 }) }))
    // end recipe
    const accepted = once(server, 'connection')
    const { body } = await request(`http://127.0.0.1:${server.port}/`)
    expect(await body.text()).toBe('ok')
    const [serverSide] = (await accepted) as [net.Socket]
    // undici keeps its socket to itself: find it among this process's sockets, as `tcp-keepalive inspect` does.
    const clientSide = inspectProcess(process.pid).find((socket) => socket.local === `127.0.0.1:${serverSide.remotePort}`)
    expect(clientSide?.keepalive).toMatchObject(expected)
    await (getGlobalDispatcher() as Agent).close()
    setGlobalDispatcher(previous)
  })

  it('ws: server and client', async () => {
    // recipe: ws server
    const server = keepaliveServer(http.createServer(), { idle: 30_000, interval: 5_000, count: 3 })
    const wss = new WebSocketServer({ server })
    // end recipe
    await listen(server)
    const url = `ws://127.0.0.1:${(server.address() as net.AddressInfo).port}`
    const serverSide = new Promise<net.Socket>((resolve) => wss.on('connection', (_ws, request) => resolve(request.socket as net.Socket)))
    // recipe: ws client
    const ws = new WebSocket(url, { agent: keepaliveAgent(new http.Agent(), { idle: 30_000, interval: 5_000, count: 3 }) })
    // end recipe
    await once(ws, 'open')
    expect((ws as unknown as { _socket: net.Socket })._socket).toHaveKeepalive(expected)
    expect(await serverSide).toHaveKeepalive(expected)
    ws.close()
    wss.close()
  })
})

const noPostgres = postgresUnavailableReason()
describe.skipIf(!canRun(`PostgreSQL: ${noPostgres}`, noPostgres === null))('pg (node-postgres) against a real PostgreSQL', () => {
  let postgres: Postgres
  let port: number
  beforeAll(async () => {
    postgres = new Postgres()
    port = await freePort()
    postgres.start('127.0.0.1', port)
  }, 60_000)
  afterAll(() => postgres?.close())

  it("the stream option: settings hold after pg's own setKeepAlive, and queries run", async () => {
    const host = '127.0.0.1'
    // recipe: pg
    const client = new pg.Client({
      host,
      port,
      user: 'postgres',
      keepAlive: true, // pg calls setKeepAlive(true, 0) on connect; the settings below survive it
      stream: () => configureKeepalive(new net.Socket(), { idle: 30_000, interval: 5_000, count: 3 }),
    })
    // end recipe
    await client.connect()
    const { rows } = await client.query('SELECT 1 AS one')
    expect(rows).toEqual([{ one: 1 }])
    expect((client as unknown as { connection: { stream: net.Socket } }).connection.stream).toHaveKeepalive(expected)
    await client.end()
  })

  const noLab = labUnavailableReason()
  it.skipIf(!canRun(`the network lab: ${noLab}`, noLab === null))(
    'behind a middlebox that forgets flows idle 3 s, SELECT pg_sleep(6) returns only with keepalive',
    { timeout: 60_000 },
    async () => {
      const forgetSeconds = 3
      const sleepSeconds = 2 * forgetSeconds
      const lab = new Lab({ forgetIdleFlowsAfterSeconds: forgetSeconds })
      const behindLab = new Postgres()
      try {
        behindLab.start(lab.serverAddress, 5432, lab.namespaceCommand('server'))
        const modes = ['no keepalive', 'pg keepAlive: true', 'configureKeepalive', 'preload']
        const runs = modes.map((mode) => {
          // 'preload': the unmodified client, given keepalive by tcp-keepalive/register and TCP_KEEPALIVE alone.
          const preload = [
            'env',
            'TCP_KEEPALIVE=idle=1s interval=1s count=3',
            `NODE_OPTIONS=--require ${path.join(__dirname, '..', 'dist', 'register.js')}`,
          ]
          const child = lab.spawn('client', [
            ...(mode === 'preload' ? preload : []),
            process.execPath,
            path.join(__dirname, 'children', 'pg-query.cjs'),
            JSON.stringify({ host: lab.serverAddress, port: 5432, mode, sleepSeconds, deadlineMs: sleepSeconds * 1000 + 2_000 }),
          ])
          let out = ''
          child.stdout!.on('data', (chunk) => (out += chunk))
          return once(child, 'exit').then(() => JSON.parse(out))
        })
        const results = Object.fromEntries((await Promise.all(runs)).map((result) => [result.mode, result]))
        console.log(`pg behind the middlebox (forgets after ${forgetSeconds} s), SELECT pg_sleep(${sleepSeconds}):`, results)
        expect(results['no keepalive']).toMatchObject({ answered: false })
        expect(results['pg keepAlive: true']).toMatchObject({ answered: false })
        for (const kept of ['configureKeepalive', 'preload']) {
          expect(results[kept].answered).toBe(true)
          expect(results[kept].ms).toBeGreaterThanOrEqual(sleepSeconds * 1000)
          expect(results[kept].ms).toBeLessThan(sleepSeconds * 1000 + 1_000)
        }
      } finally {
        behindLab.close()
        lab.close()
      }
    },
  )
})

describe('README', () => {
  it('shows every recipe exactly as the tests run it', () => {
    const source = [__filename, path.join(__dirname, 'servers.test.ts')].map((file) => readFileSync(file, 'utf8')).join('\n')
    const readme = readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8')
    const recipes = [...source.matchAll(/^( *)\/\/ recipe: (.+)\n([\s\S]*?)^ *\/\/ end recipe$/gm)]
    expect(recipes.map((match) => match[2])).toEqual(['http', 'undici', 'ws server', 'ws client', 'pg', 'redis', 'mysql2'])
    for (const [, indent, name, body] of recipes) {
      const code = body
        .split('\n')
        .map((line) => line.slice(indent.length))
        .join('\n')
        .trimEnd()
      expect(readme, `README.md must contain the "${name}" recipe`).toContain(code)
    }
  })
})
