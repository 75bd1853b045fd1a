// The client matrix: real client libraries against real servers started here
// (Redis, MariaDB, PostgreSQL, an HTTP server), each in an app that knows
// nothing of tcp-keepalive, configured only by the preload (NODE_OPTIONS and
// TCP_KEEPALIVE) or by one keepaliveProcess call. The kernel is the oracle:
// `tcp-keepalive inspect` reads the app's sockets from outside, and ss shows
// each keepalive timer armed.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import http from 'node:http'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { Redis } from 'ioredis'
import mysql from 'mysql2/promise'
import net from 'node:net'
import { createClient } from 'redis'
import 'tcp-keepalive/vitest'
import { configureKeepalive, keepaliveProcess } from '../lib/index.js'
import { canRun, closeAll, hasCommand, listen } from './helpers.js'
import { Postgres, postgresUnavailableReason } from './postgres.js'
import { freePort, ThrowawayServer } from './servers.js'

const root = path.join(__dirname, '..')
const app = path.join(__dirname, 'children', 'client-matrix.cjs')
const variable = 'idle=31s interval=4s count=5 user-timeout=41s'
const expected = { enabled: true, idle: 31_000, interval: 4_000, count: 5, userTimeout: 41_000 }

type Library = 'ioredis' | 'node-redis' | 'mysql2' | 'pg' | 'http.Agent' | 'undici fetch'
type Mode = 'NODE_OPTIONS=--require tcp-keepalive/register' | 'NODE_OPTIONS=--import tcp-keepalive/register' | 'keepaliveProcess()'

const running: ChildProcess[] = []
afterEach(() => running.splice(0).forEach((child) => child.kill()))

/** Starts the app for `library` in `mode`; resolves with its pid and the connections it reports. */
async function startApp(library: Library, port: number, mode: Mode) {
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: '' }
  if (mode === 'keepaliveProcess()') {
    env.TCP_KEEPALIVE_MATRIX_CALL = JSON.stringify({ idle: 31_000, interval: 4_000, count: 5, userTimeout: 41_000 })
  } else {
    env.NODE_OPTIONS = mode.slice('NODE_OPTIONS='.length) // resolved by package name, from the package root
    env.TCP_KEEPALIVE = variable
  }
  const child = spawn(process.execPath, [app, library, String(port)], { cwd: root, env, stdio: ['ignore', 'pipe', 'inherit'] })
  running.push(child)
  const lines = createInterface({ input: child.stdout! })
  const exited = once(child, 'exit').then(([code]) => Promise.reject(new Error(`the ${library} app exited with ${code}`)))
  const [line] = (await Promise.race([once(lines, 'line'), exited])) as [string]
  return { pid: child.pid!, report: JSON.parse(line) as { connections: Array<{ localPort: number; reconnected?: boolean }> | null } }
}

/** The app's established connections to `port`, with what the kernel holds for each (read from outside). */
function connectionsTo(pid: number, port: number): Array<{ local: string; keepalive: unknown }> {
  const output = execFileSync(process.execPath, [path.join(root, 'dist', 'cli', 'main.js'), 'inspect', String(pid), '--json'], {
    encoding: 'utf8',
  })
  const sockets = JSON.parse(output).sockets as Array<{ state: string; local: string; remote: string; keepalive: unknown }>
  return sockets.filter(({ state, remote }) => state === 'ESTABLISHED' && remote === `127.0.0.1:${port}`)
}

/** How many of the app's connections to `port` ss shows with a keepalive timer (the independent oracle). */
function armedTimers(port: number, localPorts: number[]): number {
  const text = execFileSync('ss', ['-tnoiH', 'state', 'established', `( dport = :${port} )`], { encoding: 'utf8' })
  return text.split('\n').filter((line) => localPorts.some((local) => line.includes(`:${local} `)) && line.includes('timer:(keepalive,'))
    .length
}

const servers: Partial<Record<Library, number>> = {}
const closers: Array<() => Promise<void> | void> = []
const reasons = {
  redis: ThrowawayServer.unavailableReason('redis'),
  mariadb: ThrowawayServer.unavailableReason('mariadb'),
  postgres: postgresUnavailableReason(),
}

beforeAll(async () => {
  if (reasons.redis === null) {
    const redis = await ThrowawayServer.redis()
    closers.push(() => redis.close())
    servers.ioredis = servers['node-redis'] = redis.port
  }
  if (reasons.mariadb === null) {
    const mariadb = await ThrowawayServer.mariadb()
    closers.push(() => mariadb.close())
    servers.mysql2 = mariadb.port
  }
  if (reasons.postgres === null) {
    const postgres = new Postgres()
    closers.push(() => postgres.close())
    servers.pg = await freePort()
    postgres.start('127.0.0.1', servers.pg)
  }
  const web = await listen(http.createServer((_request, response) => response.end('ok')))
  servers['http.Agent'] = servers['undici fetch'] = web.port
}, 90_000)
afterAll(async () => {
  for (const close of closers.splice(0)) await close()
  closeAll()
})

const matrix: Array<[Library, string | null]> = [
  ['ioredis', reasons.redis],
  ['node-redis', reasons.redis],
  ['mysql2', reasons.mariadb],
  ['pg', reasons.postgres],
  ['http.Agent', null],
  ['undici fetch', null],
]
const modes: Mode[] = ['NODE_OPTIONS=--require tcp-keepalive/register', 'keepaliveProcess()']

describe.skipIf(!canRun('ss, to see the keepalive timers', hasCommand('ss')))('the client matrix', () => {
  const results: string[] = []
  afterAll(() => console.log(`client matrix on Node ${process.versions.node}:\n${results.join('\n')}`))

  describe.each(matrix)('%s', (library, unavailable) => {
    it
      .skipIf(!canRun(`the ${library} server: ${unavailable}`, unavailable === null))
      .each(library === 'pg' || library === 'http.Agent' ? [...modes, 'NODE_OPTIONS=--import tcp-keepalive/register' as const] : modes)(
      '%s: every connection holds the settings',
      { timeout: 30_000 },
      async (mode) => {
        const port = servers[library]!
        const { pid, report } = await startApp(library, port, mode)
        const held = connectionsTo(pid, port)
        expect(held.length).toBeGreaterThan(0)
        for (const { keepalive } of held) expect(keepalive).toEqual(expected)
        const localPorts = held.map(({ local }) => Number(local.split(':').pop()))
        expect(armedTimers(port, localPorts)).toBe(held.length)
        if (library === 'ioredis') {
          // After CLIENT KILL ioredis reconnected on a new socket: that one is configured too.
          const reconnected = report.connections!.find((connection) => connection.reconnected)!
          expect(localPorts).toContain(reconnected.localPort)
          expect(report.connections![0].localPort).not.toBe(reconnected.localPort)
        }
        results.push(`  ${library.padEnd(13)} ${mode.padEnd(46)} ${held.length} connection(s), each ${JSON.stringify(held[0].keepalive)}`)
      },
    )
  })
})

describe('recipes (docs/integrations.md), run in this process', () => {
  const rules: Array<{ stop(): void }> = []
  afterEach(() => rules.splice(0).forEach((rule) => rule.stop()))

  it.skipIf(!canRun(`Redis: ${reasons.redis}`, reasons.redis === null))(
    'ioredis and node-redis: keepaliveProcess for the Redis port',
    async () => {
      const redisPort = servers.ioredis!
      // recipe: redis
      // ioredis opens a new socket on every reconnect, node-redis keeps its socket private: one rule covers both.
      const rule = keepaliveProcess({ idle: 30_000, interval: 5_000, count: 3 }, { ports: [redisPort] })
      const ioredis = new Redis({ port: redisPort, host: '127.0.0.1' })
      const nodeRedis = createClient({ socket: { port: redisPort, host: '127.0.0.1' } })
      // end recipe
      rules.push(rule)
      await nodeRedis.connect()
      expect(await ioredis.ping()).toBe('PONG')
      expect(await nodeRedis.ping()).toBe('PONG')
      expect(ioredis.stream).toHaveKeepalive({ enabled: true, idle: 30_000, interval: 5_000, count: 3 })
      ioredis.disconnect()
      await nodeRedis.quit()
    },
  )

  it.skipIf(!canRun(`MariaDB: ${reasons.mariadb}`, reasons.mariadb === null))('mysql2: the stream option', async () => {
    const [port, host] = [servers.mysql2!, '127.0.0.1']
    // recipe: mysql2
    const connection = await mysql.createConnection({
      user: 'root',
      // mysql2 does not call setKeepAlive on a socket it is given (enableKeepAlive is for sockets it opens itself)
      stream: () => configureKeepalive(net.connect(port, host), { idle: 30_000, interval: 5_000, count: 3 }),
    })
    // end recipe
    await connection.query('SELECT 1')
    expect((connection as unknown as { connection: { stream: net.Socket } }).connection.stream).toHaveKeepalive({
      enabled: true,
      idle: 30_000,
      interval: 5_000,
      count: 3,
    })
    await connection.end()
  })
})

describe('the preload, malformed or empty', () => {
  const run = (value: string | undefined) => {
    const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: '--require tcp-keepalive/register' }
    if (value === undefined) delete env.TCP_KEEPALIVE
    else env.TCP_KEEPALIVE = value
    const child = spawn(
      process.execPath,
      ['-e', 'console.log(require("node:net").Socket.prototype.connect.__original ? "wrapped" : "node")'],
      {
        cwd: root,
        env,
      },
    )
    let [stdout, stderr] = ['', '']
    child.stdout.on('data', (chunk) => (stdout += chunk))
    child.stderr.on('data', (chunk) => (stderr += chunk))
    return once(child, 'close').then(([code]) => ({ code, stdout: stdout.trim(), stderr: stderr.trim() }))
  }

  it.each([
    ['idle=30x', "bad token 'idle=30x': a duration is a number with ms, s, m or h (e.g. 30s)"],
    ['idle=30', "bad token 'idle=30': a duration is a number with ms, s, m or h"],
    ['idle=30s count=three', "bad token 'count=three': count is a whole number of probes"],
    ['idle=30s ports=5432,x', "bad token 'ports=5432,x': ports is a comma-separated list"],
    ['idle=30s idle=40s', "bad token 'idle=40s': idle is given twice"],
    ['idle=30s colour=blue', "bad token 'colour=blue': unknown key 'colour'"],
    ['idle=0s', "bad token 'idle=0s': idle is more than 0"],
    ['interval=40000s', "bad token 'interval=40000s': interval is at most 32767s"],
    ['ports=5432', "'ports=5432' sets no keepalive field"],
    // Keys an object has through its prototype are still unknown keys.
    ['toString=5s', "bad token 'toString=5s': unknown key 'toString'"],
    ['constructor=5s', "bad token 'constructor=5s': unknown key 'constructor'"],
    ['idle=5s\x1b[2Jcount=3', "bad token 'idle=5s\\x1b[2Jcount=3': a duration is a number"], // a terminal escape, shown escaped
    ['__proto__=5s', "bad token '__proto__=5s': unknown key '__proto__'"],
  ])('TCP_KEEPALIVE=%s: the process stops at start, exit 9, one line naming the token', async (value, message) => {
    const { code, stdout, stderr } = await run(value)
    expect(code).toBe(9)
    expect(stdout).toBe('')
    expect(stderr.split('\n')).toHaveLength(1)
    expect(stderr).toContain(`tcp-keepalive/register: TCP_KEEPALIVE: ${message}`)
  })

  it('a bad token of 100 000 bytes is named by its first 60 characters, and the line reaches a slow pipe before the process exits', async () => {
    const token = `idle=${'9'.repeat(100_000)}x`
    // A pipe whose reader falls behind, as a log shipper's may: nothing is read for 500 ms.
    const script = `"${process.execPath}" -e 1 2>&1; echo "exit $?"`
    const child = spawn('sh', ['-c', `(${script}) | (sleep 0.5; cat)`], {
      cwd: root,
      env: { ...process.env, NODE_OPTIONS: '--require tcp-keepalive/register', TCP_KEEPALIVE: token },
    })
    let output = ''
    child.stdout.on('data', (chunk) => (output += chunk))
    await once(child, 'close')
    const [stderr, code] = output.trim().split('\n')
    expect(code).toBe('exit 9')
    expect(stderr).toBe(
      `tcp-keepalive/register: TCP_KEEPALIVE: bad token '${token.slice(0, 60)}...' (100006 characters): a duration is a number with ms, s, m or h (e.g. 30s)`,
    )
  })

  it('TCP_KEEPALIVE=idle=30s: the hook is installed', async () => {
    expect(await run('idle=30s')).toEqual({ code: 0, stdout: 'wrapped', stderr: '' })
  })

  it.each([[undefined], [''], ['   ']])('TCP_KEEPALIVE=%j: nothing is installed', async (value) => {
    expect(await run(value)).toEqual({ code: 0, stdout: 'node', stderr: '' })
  })
})
