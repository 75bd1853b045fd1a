// The documented recipes, run against the real libraries. Each block between
// "// recipe: NAME" and "// end recipe" must appear verbatim in README.md or
// docs/*.md (checked at the end), so the docs show code that is known to work.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readdirSync, readFileSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import path from 'node:path'
import pg from 'pg'
import { Agent, setGlobalDispatcher, getGlobalDispatcher, request } from 'undici'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import WebSocket, { WebSocketServer } from 'ws'
import 'tcp-keepalive/vitest'
import { createClient } from 'redis'
import { configureKeepalive, keepaliveAgent, keepaliveConnector, keepaliveProcess, keepaliveServer } from '../lib/index.js'
import { inspectProcess } from '../lib/cli/inspect.js'
import { Lab } from '../lib/lab/lab.js'
import { labUnavailableReason } from '../lib/lab/netns.js'
import { canRun, closeAll, listen } from './helpers.js'
import { Postgres, postgresUnavailableReason } from './postgres.js'
import { ThrowawayServer } from './servers.js'

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

  it('ws heartbeat: a hung client (SIGSTOP) is terminated within two heartbeats; a live one stays', { timeout: 20_000 }, async () => {
    const heartbeatMs = 500
    // recipe: ws heartbeat
    const wss = new WebSocketServer({ server: keepaliveServer(http.createServer(), { idle: 30_000, interval: 5_000, count: 3 }) })
    wss.on('connection', (ws) => {
      let alive = true
      ws.on('pong', () => (alive = true))
      const timer = setInterval(() => {
        if (!alive) return ws.terminate() // no pong since the last ping: the peer is gone, or its process hangs
        alive = false
        ws.ping()
      }, heartbeatMs)
      ws.on('close', () => clearInterval(timer))
    })
    // end recipe
    const server = wss.options.server as http.Server
    await listen(server)
    const url = `ws://127.0.0.1:${(server.address() as net.AddressInfo).port}`
    const accepted: Array<{ socket: net.Socket; closedAt?: number }> = []
    wss.on('connection', (ws, request) => {
      const entry: { socket: net.Socket; closedAt?: number } = { socket: request.socket as net.Socket }
      accepted.push(entry)
      ws.on('close', () => (entry.closedAt = Date.now()))
    })
    const clients = ['hung', 'live'].map(() => spawn(process.execPath, [path.join(__dirname, 'children', 'ws-client.cjs'), url]))
    try {
      await Promise.all(clients.map((child) => once(child.stdout!, 'data')))
      expect(accepted).toHaveLength(2)
      for (const { socket } of accepted) expect(socket).toHaveKeepalive(expected) // keepalive beside the heartbeat
      clients[0].kill('SIGSTOP')
      const stoppedAt = Date.now()
      await new Promise((resolve) => setTimeout(resolve, 5 * heartbeatMs))
      // Which accepted socket is whose: the hung client's is the one closed.
      const closed = accepted.filter((entry) => entry.closedAt !== undefined)
      expect(closed).toHaveLength(1)
      expect(closed[0].closedAt! - stoppedAt).toBeLessThanOrEqual(2 * heartbeatMs + 1_000) // two heartbeats, and a busy machine's grace
      console.log(
        `ws heartbeat: a hung client terminated ${closed[0].closedAt! - stoppedAt} ms after it stopped (heartbeat ${heartbeatMs} ms)`,
      )
      expect(clients[1].exitCode).toBeNull() // the live client: still connected
    } finally {
      for (const child of clients) child.kill('SIGKILL')
      wss.close()
      server.close()
    }
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

const noRedis = ThrowawayServer.unavailableReason('redis')
describe.skipIf(!canRun(`Redis: ${noRedis}`, noRedis === null))('node-redis heartbeat against a real Redis', () => {
  let redis: ThrowawayServer
  beforeAll(async () => {
    redis = await ThrowawayServer.redis()
  }, 20_000)
  afterAll(() => redis?.close())

  it(
    'pingInterval with socketTimeout: a hung Redis (SIGSTOP) fails the socket within pingMs + socketTimeout',
    { timeout: 20_000 },
    async () => {
      const [redisPort, pingMs] = [redis.port, 500]
      // recipe: redis heartbeat
      const rule = keepaliveProcess({ idle: 30_000, interval: 5_000, count: 3 }, { ports: [redisPort] })
      const client = createClient({
        pingInterval: pingMs, // PING every pingMs: Redis itself must answer, not only its kernel
        socket: { port: redisPort, host: '127.0.0.1', socketTimeout: 2 * pingMs }, // no answer, no traffic: the socket times out
      })
      // end recipe
      const errors: Array<{ name: string; at: number }> = []
      client.on('error', (error: Error) => errors.push({ name: error.constructor.name, at: Date.now() }))
      // The control: pingInterval alone. Its PING to a hung Redis waits for ever, and no more PINGs go out.
      const pingOnly = createClient({ pingInterval: pingMs, socket: { port: redisPort, host: '127.0.0.1' } })
      const pingOnlyErrors: Error[] = []
      pingOnly.on('error', (error: Error) => pingOnlyErrors.push(error))
      try {
        await Promise.all([client.connect(), pingOnly.connect()])
        await new Promise((resolve) => setTimeout(resolve, 5 * pingMs)) // live: the pings keep the socket busy
        expect(errors).toEqual([])
        const sockets = inspectProcess(process.pid).filter((socket) => socket.remote === `127.0.0.1:${redisPort}`)
        expect(sockets.length).toBeGreaterThan(0)
        for (const { keepalive } of sockets) expect(keepalive).toMatchObject(expected) // keepalive beside the heartbeat
        redis.signal('SIGSTOP')
        const stoppedAt = Date.now()
        await new Promise((resolve) => setTimeout(resolve, 3 * pingMs + 2 * pingMs + 500))
        expect(errors[0]?.name).toBe('SocketTimeoutError')
        expect(errors[0].at - stoppedAt).toBeLessThanOrEqual(pingMs + 2 * pingMs + 1_000) // the last PING, the timeout, grace
        expect(pingOnlyErrors).toEqual([])
        console.log(
          `node-redis: a hung Redis found after ${errors[0].at - stoppedAt} ms (pingInterval ${pingMs}, socketTimeout ${2 * pingMs}); pingInterval alone: nothing`,
        )
      } finally {
        redis.signal('SIGCONT')
        rule.stop()
        client.destroy()
        pingOnly.destroy()
      }
    },
  )
})

describe('README.md and docs/', () => {
  it('shows every recipe exactly as the tests run it', () => {
    const source = [__filename, path.join(__dirname, 'servers.test.ts')].map((file) => readFileSync(file, 'utf8')).join('\n')
    const root = path.join(__dirname, '..')
    const docs = [
      'README.md',
      ...readdirSync(path.join(root, 'docs'))
        .filter((file) => file.endsWith('.md'))
        .map((file) => `docs/${file}`),
    ].map((file) => ({ file, text: readFileSync(path.join(root, file), 'utf8') }))
    const recipes = [...source.matchAll(/^( *)\/\/ recipe: (.+)\n([\s\S]*?)^ *\/\/ end recipe$/gm)]
    expect(recipes.map((match) => match[2])).toEqual([
      'http',
      'undici',
      'ws server',
      'ws client',
      'ws heartbeat',
      'pg',
      'redis heartbeat',
      'redis',
      'mysql2',
    ])
    for (const [, indent, name, body] of recipes) {
      const code = body
        .split('\n')
        .map((line) => line.slice(indent.length))
        .join('\n')
        .trimEnd()
      expect(
        docs.filter(({ text }) => text.includes(code)).map(({ file }) => file),
        `the "${name}" recipe must appear verbatim in one of ${docs.map(({ file }) => file).join(', ')}:\n${code}`,
      ).not.toEqual([])
    }
  })
})
