// 10 000 connections, each end configured (the client side each with its own
// settings, the server side through keepaliveServer) and read back, with ss
// counting the armed keepalive timers as the independent oracle. Client and
// server run in separate processes: each needs ~10 000 fds.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { afterEach, describe, expect, it } from 'vitest'
import { canRun, hasCommand } from './helpers.js'

const CONNECTIONS = 10_000
const FDS = CONNECTIONS + 200
const child = path.join(__dirname, 'children', 'many-sockets.cjs')

/** Whether a process here may have FDS open files (the soft limit can be raised up to the hard one). */
function hardLimitAllows(): boolean {
  const hard = execFileSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim()
  return hard === 'unlimited' || Number(hard) >= FDS
}

const running: ChildProcess[] = []
afterEach(() => running.splice(0).forEach((process) => process.kill()))

/** Starts one side with ulimit -n raised; yields the JSON lines it prints. */
function side(args: string[]): AsyncIterator<Record<string, number>> {
  const started = spawn('sh', ['-c', `ulimit -n ${FDS} && exec "$0" "$@"`, process.execPath, child, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  running.push(started)
  const lines = createInterface({ input: started.stdout! })[Symbol.asyncIterator]()
  return {
    async next() {
      const { value, done } = await lines.next()
      return done ? { value: undefined, done: true } : { value: JSON.parse(value as string), done: false }
    },
  }
}

/** Sockets on port `port` (`sport`: its server side, `dport`: its clients) whose keepalive timer ss shows armed. */
function armedTimers(port: number, which: 'sport' | 'dport'): number {
  const text = execFileSync('ss', ['-tnoiH', 'state', 'established', `( ${which} = :${port} )`], {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  })
  return text.split('\n').filter((line) => line.includes('timer:(keepalive,')).length
}

describe('many sockets', () => {
  it.skipIf(!canRun(`ss, and a hard fd limit of ${FDS} (ulimit -Hn)`, hasCommand('ss') && hardLimitAllows()))(
    `${CONNECTIONS} connections: both ends configured and read back, every keepalive timer armed`,
    { timeout: 120_000 },
    async () => {
      const server = side(['server', String(CONNECTIONS)])
      const { port } = (await server.next()).value
      const client = side(['client', String(port), String(CONNECTIONS)])
      const [clients, servers] = await Promise.all([client.next(), server.next()])
      console.log(
        `${CONNECTIONS} connections: connected in ${clients.value.connectMs} ms; client side configured in ` +
          `${clients.value.configureMs.toFixed(1)} ms, read back in ${clients.value.readMs.toFixed(1)} ms; ` +
          `server side (inherited) read back in ${servers.value.readMs.toFixed(1)} ms`,
      )
      expect(clients.value).toMatchObject({ connected: CONNECTIONS, held: CONNECTIONS })
      expect(servers.value).toMatchObject({ accepted: CONNECTIONS, held: CONNECTIONS })
      expect(armedTimers(port, 'sport')).toBe(CONNECTIONS)
      expect(armedTimers(port, 'dport')).toBe(CONNECTIONS)
      for (const started of running) {
        started.kill()
        await once(started, 'exit')
      }
    },
  )
})
