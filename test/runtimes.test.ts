// The package under Bun and Deno (binaries from npm, found with
// scripts/tools.sh), and under this Node as the control. What the kernel
// holds is read from outside the child (`tcp-keepalive inspect <pid> --json`:
// pidfd_getfd + getsockopt, and `ss -tnoi` keepalive timers), so the oracle
// does not depend on the runtime under test nor on the lookup that found
// each socket's fd inside it.
import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import readline from 'node:readline'
import { afterEach, describe, expect, it } from 'vitest'
import { hasSs, ssKeepaliveTimer } from '../lib/cli/ss.js'
import { canRun, toolPath } from './helpers.js'

const children = path.join(__dirname, 'children')
const cli = path.join(__dirname, '..', 'dist', 'cli', 'main.js')
const preload = path.join(__dirname, '..', 'dist', 'register.js')

type Settings = { enabled: boolean; idle: number; interval: number; count: number; userTimeout: number }
interface Outcome {
  local: number
  remote: number
  destroyed: boolean
  read?: Record<string, number | boolean | null>
}
interface Result {
  runtime: string
  support: { native: boolean; reason: string | null; interval: boolean; fdSource: string | null; read: boolean }
  client: Outcome
  netAccepted: Outcome
  httpAccepted: Outcome
  netServerPort: number
  httpServerPort: number
  httpBody: string
  errors: string[]
  warnings: string[]
}

const running: Array<() => void> = []
afterEach(() => {
  for (const stop of running.splice(0)) stop()
})

/** What `tcp-keepalive inspect <pid> --json` reports for each of the process's TCP sockets. */
function inspect(pid: number): Array<{ state: string; local: string; remote: string; keepalive: Settings }> {
  return JSON.parse(execFileSync(process.execPath, [cli, 'inspect', String(pid), '--json'], { encoding: 'utf8' })).sockets
}

/** Runs `script` under `command`; returns its report and, per socket, what the kernel holds. */
async function run<R>(command: string[], script: string, env: Record<string, string> = {}) {
  const proc = spawn(command[0], [...command.slice(1), path.join(children, script)], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  })
  running.push(() => proc.stdin.end())
  let stderr = ''
  proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk))
  const line = readline.createInterface({ input: proc.stdout })
  const [first] = (await Promise.race([
    once(line, 'line'),
    once(proc, 'exit').then(() => Promise.reject(new Error(`child exited: ${stderr}`))),
  ])) as [string]
  const result = JSON.parse(first) as R
  const sockets = inspect(proc.pid!)
  /** The kernel's settings of each socket local -> remote ('127.0.0.1:port' each; a listener's remote is '0.0.0.0:0'). */
  const all = (local: string, remote: string) => sockets.filter((s) => s.local === local && s.remote === remote).map((s) => s.keepalive)
  /** The same, for the one socket there is. */
  const at = (local: string, remote: string) => {
    const found = all(local, remote)
    if (found.length !== 1) throw new Error(`${found.length} sockets ${local} -> ${remote} in the child`)
    return found[0]
  }
  const kernel = (outcome: { local: number; remote: number }) => at(`127.0.0.1:${outcome.local}`, `127.0.0.1:${outcome.remote}`)
  const listener = (port: number) => at(`127.0.0.1:${port}`, '0.0.0.0:0')
  return { result, kernel, listener, at, all }
}

/** The kernel's keepalive timer for the connection, seen by ss: armed, and no longer than the idle time. */
function expectTimerArmed(outcome: { local: number; remote: number }, idle: number): void {
  const timer = ssKeepaliveTimer(outcome.local, outcome.remote)
  expect(timer).toBeGreaterThan(0)
  expect(timer).toBeLessThanOrEqual(idle)
}

const CLIENT = { enabled: true, idle: 7_000, interval: 3_000, count: 4, userTimeout: 5_000 }
const NET_SERVER = { enabled: true, idle: 11_000, interval: 2_000, count: 3, userTimeout: 0 }
const HTTP_SERVER = { enabled: true, idle: 13_000, interval: 4_000, count: 5, userTimeout: 0 }

const bun = toolPath('bun')
const deno = toolPath('deno')
const runtimes = [
  {
    name: 'Bun',
    command: [bun],
    preloaded: [bun, '--preload', preload],
    available: bun !== '',
    install: 'Bun (scripts/tools.sh install bun)',
  },
  {
    name: 'Deno',
    command: [deno, 'run', '--allow-all'],
    preloaded: [deno, 'run', '--allow-all', '--preload', preload],
    available: deno !== '',
    install: 'Deno (scripts/tools.sh install deno)',
  },
]

describe('runtimes', () => {
  it('Node (the control): every socket holds exactly what was configured, fds from the handles', async () => {
    const { result, kernel, listener } = await run<Result>([process.execPath], 'runtime.cjs')
    expect(result.support).toMatchObject({ native: true, fdSource: 'handle' })
    expect(kernel(result.client)).toEqual(CLIENT)
    expect(kernel(result.netAccepted)).toEqual(NET_SERVER)
    expect(kernel(result.httpAccepted)).toEqual(HTTP_SERVER)
    expect(listener(result.httpServerPort)).toEqual(HTTP_SERVER)
    expect(result.warnings).toEqual([])
  })

  it.skipIf(!canRun(runtimes[0].install, runtimes[0].available) || !canRun('ss (iproute2)', hasSs()))(
    "Bun: native for net sockets; its http.Server's listening socket, found by its address, configured so that connections inherit, and read back by their 4-tuple",
    async () => {
      const { result, kernel, listener } = await run<Result>([bun], 'runtime.cjs')
      expect(result.support).toMatchObject({ native: true, reason: null, fdSource: 'handle-or-lookup', read: true })
      expect(kernel(result.client)).toEqual(CLIENT)
      expect(result.client.read).toEqual(CLIENT)
      expect(kernel(result.netAccepted)).toEqual(NET_SERVER)
      // The http.Server's connection has no handle: its listener was found by address and configured.
      expect(listener(result.httpServerPort)).toEqual(HTTP_SERVER)
      expect(kernel(result.httpAccepted)).toEqual(HTTP_SERVER)
      expect(result.httpAccepted).toMatchObject({ destroyed: false, read: HTTP_SERVER })
      expectTimerArmed(result.httpAccepted, HTTP_SERVER.idle)
      // Its other end, the client's socket in the same process with the reversed 4-tuple, was not written.
      expect(kernel({ local: result.httpAccepted.remote, remote: result.httpAccepted.local }).idle).not.toBe(HTTP_SERVER.idle)
      expect(result.httpBody).toBe('ok')
      expect(result.warnings).toEqual([])
      expect(result.errors).toEqual([])
    },
  )

  it.skipIf(!canRun(runtimes[1].install, runtimes[1].available) || !canRun('ss (iproute2)', hasSs()))(
    'Deno: no fd anywhere, so every socket is found by its addresses; client, net and http server sockets hold all five fields, read back from the kernel',
    async () => {
      const { result, kernel, listener } = await run<Result>([deno, 'run', '--allow-all'], 'runtime.cjs')
      expect(result.support).toMatchObject({ native: true, reason: null, fdSource: 'lookup', interval: true, read: true })
      for (const [outcome, settings] of [
        [result.client, CLIENT],
        [result.netAccepted, NET_SERVER],
        [result.httpAccepted, HTTP_SERVER],
      ] as const) {
        expect(kernel(outcome)).toEqual(settings)
        expect(outcome).toMatchObject({ destroyed: false, read: settings })
        expectTimerArmed(outcome, settings.idle)
      }
      // The servers' listening sockets, found by address, hold the settings their connections inherit.
      expect(listener(result.netServerPort)).toEqual(NET_SERVER)
      expect(listener(result.httpServerPort)).toEqual(HTTP_SERVER)
      // The http client's socket, in the same process with the reversed 4-tuple, was not written.
      expect(kernel({ local: result.httpAccepted.remote, remote: result.httpAccepted.local }).idle).not.toBe(HTTP_SERVER.idle)
      expect(result.httpBody).toBe('ok')
      expect(result.warnings).toEqual([])
      expect(result.errors).toEqual([])
    },
  )

  it.skipIf(!canRun(runtimes[1].install, runtimes[1].available))(
    "Deno without --allow-ffi: the binding cannot load, so Deno's own setKeepAlive sets enable and idle, and every warning says why",
    async () => {
      const { result, kernel } = await run<Result>(
        [deno, 'run', '--allow-read', '--allow-env', '--allow-net', '--allow-sys'],
        'runtime.cjs',
      )
      const why = "Deno's permissions do not allow native addons: add --allow-ffi (or --allow-all) to deno run"
      expect(result.support).toMatchObject({ native: false, reason: why, fdSource: null, read: false })
      expect(kernel(result.client)).toMatchObject({ enabled: true, idle: CLIENT.idle })
      expect(result.warnings[0]).toContain(`the native binding is not in use (${why})`)
      expect(result.errors).toEqual([])
    },
  )

  for (const { name, command, available, install } of runtimes) {
    it.skipIf(!canRun(install, available))(
      `${name}: a connection whose addresses match no socket of the process gets the runtime's setKeepAlive, with warnings that say so, and no fd is written`,
      async () => {
        const { result, kernel } = await run<{ accepted: Outcome; warnings: string[] }>(command, 'runtime-miss.cjs')
        const { accepted } = result
        const system = {
          idle: Number(readFileSync('/proc/sys/net/ipv4/tcp_keepalive_time', 'utf8')) * 1000,
          interval: Number(readFileSync('/proc/sys/net/ipv4/tcp_keepalive_intvl', 'utf8')) * 1000,
          count: Number(readFileSync('/proc/sys/net/ipv4/tcp_keepalive_probes', 'utf8')),
        }
        // Deno's setKeepAlive sets enable and idle; Bun's does nothing on an http.Server connection.
        const held = name === 'Deno' ? { enabled: true, idle: 17_000 } : { enabled: false, idle: system.idle }
        expect(kernel(accepted)).toEqual({ ...held, interval: system.interval, count: system.count, userTimeout: 0 })
        expect(accepted.read).toEqual({ enabled: null, idle: null, interval: null, count: null, userTimeout: null })
        // Nor the client's end, the socket with the reversed 4-tuple.
        expect(kernel({ local: accepted.remote, remote: accepted.local }).idle).not.toBe(17_000)
        const why = `on a socket that exposes no file descriptor \\(no fd of this process is a TCP socket with its addresses\\): ${name} `
        expect(result.warnings).toEqual([
          expect.stringMatching(new RegExp(`^tcp-keepalive cannot set interval ${why}`)),
          expect.stringMatching(new RegExp(`^tcp-keepalive cannot set count ${why}`)),
        ])
      },
    )
  }

  interface Close {
    sharedLocalPort: number
    /** Sockets that read back another socket's settings in the rounds of reconfiguring. */
    misread: unknown[]
    sockets: Array<{ local: string; remote: string; given: Omit<Settings, 'enabled'>; read: Settings | null; twins?: number }>
    warnings: string[]
  }
  for (const { name, command, available, install } of runtimes) {
    it.skipIf(!canRun(install, available))(
      `${name}: among sockets with close addresses the lookup finds each one's own fd, every time (5 rounds of rewriting all)`,
      async () => {
        const { result, all } = await run<Close>(command, 'runtime-close.cjs')
        // 2 listeners, 5 accepted + 5 clients, 3 http connections (and Deno's SO_REUSEPORT twins): close addresses.
        expect(result.sockets).toHaveLength(name === 'Deno' ? 16 : 15)
        const locals = result.sockets.map(({ local }) => local)
        expect(locals.filter((local) => local === `127.0.0.1:${result.sharedLocalPort}`)).toHaveLength(2)
        const listenerPort = result.sockets.find(({ local }) => local.startsWith('127.0.0.2:'))!.local.split(':')[1]
        expect(locals.filter((local) => local === `127.0.0.1:${listenerPort}`)).toHaveLength(5) // a listener and its 4 accepted
        for (const { local, remote, given, read, twins = 1 } of result.sockets) {
          expect(all(local, remote), `${local} -> ${remote}`).toEqual(Array(twins).fill({ enabled: true, ...given }))
          if (read !== null) expect(read, `${local} -> ${remote}, read in the child`).toEqual({ enabled: true, ...given })
        }
        expect(result.misread).toEqual([])
        expect(result.warnings).toEqual([])
      },
    )
  }

  interface ProcessResult {
    client: { local: number; remote: number }
    netAccepted: { local: number; remote: number }
    httpAccepted: { local: number; remote: number }
    httpBody: string
    warnings: string[]
  }
  const PRELOAD = { enabled: true, idle: 8_000, interval: 3_000, count: 5, userTimeout: 30_000 }
  const RULE = { enabled: true, idle: 9_000, interval: 2_000, count: 4, userTimeout: 20_000 } // test/children/runtime-process.cjs
  for (const { name, command, preloaded, available, install } of runtimes) {
    for (const [how, run_, settings] of [
      [
        `${preloaded.slice(1).join(' ').replace(preload, 'tcp-keepalive/register')}`,
        () => run<ProcessResult>(preloaded, 'runtime-process.cjs', { TCP_KEEPALIVE: 'idle=8s interval=3s count=5 user-timeout=30s' }),
        PRELOAD,
      ],
      [
        'keepaliveProcess({ ... }, { accepted: true })',
        () => run<ProcessResult>(command, 'runtime-process.cjs', { RULE: 'api', TCP_KEEPALIVE: '' }),
        RULE,
      ],
    ] as const) {
      it.skipIf(!canRun(install, available) || !canRun('ss (iproute2)', hasSs()))(
        `${name}, ${how}: an app that configures no socket itself gets every field on its net and http client and server sockets`,
        async () => {
          const { result, kernel } = await run_()
          const { client, netAccepted, httpAccepted } = result
          const httpClient = { local: httpAccepted.remote, remote: httpAccepted.local }
          for (const outcome of [client, netAccepted, httpAccepted, httpClient]) {
            expect(kernel(outcome), `${outcome.local} -> ${outcome.remote}`).toEqual(settings)
            expectTimerArmed(outcome, settings.idle)
          }
          expect(result.httpBody).toBe('ok')
          expect(result.warnings).toEqual([])
        },
      )
    }
  }
})
