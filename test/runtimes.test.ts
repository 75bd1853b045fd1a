// The package under Bun and Deno (binaries from npm, found with
// scripts/tools.sh), and under this Node as the control. What the kernel
// holds is read from outside the child (inspect: pidfd_getfd + getsockopt),
// so the oracle does not depend on the runtime under test.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import readline from 'node:readline'
import { afterEach, describe, expect, it } from 'vitest'
import { inspectProcess } from '../lib/cli/inspect.js'
import { canRun, toolPath } from './helpers.js'

const child = path.join(__dirname, 'children', 'runtime.cjs')

interface Outcome {
  local: number
  remote: number
  destroyed: boolean
  read?: Record<string, number | boolean | null>
}
interface Result {
  runtime: string
  support: { native: boolean; reason: string | null; interval: boolean }
  client: Outcome
  netAccepted: Outcome
  httpAccepted: Outcome
  httpBody: string
  errors: string[]
  warnings: string[]
}

const running: Array<() => void> = []
afterEach(() => {
  for (const stop of running.splice(0)) stop()
})

/** Runs the child under `command`; returns its report and, per socket, what the kernel holds. */
async function run(command: string[]) {
  const proc = spawn(command[0], [...command.slice(1), child], { stdio: ['pipe', 'pipe', 'pipe'] })
  running.push(() => proc.stdin.end())
  let stderr = ''
  proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk))
  const line = readline.createInterface({ input: proc.stdout })
  const [first] = (await Promise.race([
    once(line, 'line'),
    once(proc, 'exit').then(() => Promise.reject(new Error(`child exited: ${stderr}`))),
  ])) as [string]
  const result = JSON.parse(first) as Result
  const sockets = inspectProcess(proc.pid!)
  const kernel = (outcome: Outcome) => {
    const found = sockets.find((s) => s.local === `127.0.0.1:${outcome.local}` && s.remote === `127.0.0.1:${outcome.remote}`)
    if (!found) throw new Error(`no socket 127.0.0.1:${outcome.local} in the child`)
    return found.keepalive
  }
  return { result, kernel }
}

const CLIENT = { enabled: true, idle: 7_000, interval: 3_000, count: 4, userTimeout: 5_000 }
const NET_SERVER = { enabled: true, idle: 11_000, interval: 2_000, count: 3, userTimeout: 0 }
const HTTP_SERVER = { enabled: true, idle: 13_000, interval: 4_000, count: 5, userTimeout: 0 }
const UNKNOWN = { enabled: null, idle: null, interval: null, count: null, userTimeout: null }

describe('runtimes', () => {
  it('Node (the control): every socket holds exactly what was configured', async () => {
    const { result, kernel } = await run([process.execPath])
    expect(result.support.native).toBe(true)
    expect(kernel(result.client)).toEqual(CLIENT)
    expect(kernel(result.netAccepted)).toEqual(NET_SERVER)
    expect(kernel(result.httpAccepted)).toEqual(HTTP_SERVER)
    expect(result.warnings).toEqual([])
  })

  const bun = toolPath('bun')
  it.skipIf(!canRun('Bun (scripts/tools.sh install bun)', bun !== ''))(
    'Bun: native for net sockets; its http.Server sockets have no fd, so only their setKeepAlive is called, which Bun ignores',
    async () => {
      const { result, kernel } = await run([bun!])
      expect(result.support).toMatchObject({ native: true, reason: null })
      expect(kernel(result.client)).toEqual(CLIENT)
      expect(result.client.read).toEqual(CLIENT)
      expect(kernel(result.netAccepted)).toEqual(NET_SERVER)
      // No fd: nothing is claimed, the connection is not failed, and the kernel shows Bun applied nothing.
      expect(result.httpBody).toBe('ok')
      expect(result.httpAccepted).toMatchObject({ destroyed: false, read: UNKNOWN })
      expect(kernel(result.httpAccepted).enabled).toBe(false)
      expect(result.warnings).toEqual([
        expect.stringMatching(/^tcp-keepalive cannot set interval on a socket that exposes no file descriptor: Bun /),
        expect.stringMatching(/^tcp-keepalive cannot set count on a socket that exposes no file descriptor: Bun /),
      ])
      expect(result.errors).toEqual([])
    },
  )

  const deno = toolPath('deno')
  it.skipIf(!canRun('Deno (scripts/tools.sh install deno)', deno !== ''))(
    "Deno: no fd anywhere, so Deno's setKeepAlive sets enable and idle; interval and count stay the system's, with a warning each",
    async () => {
      const { result, kernel } = await run([deno!, 'run', '--allow-all'])
      expect(result.support).toMatchObject({ native: false, reason: expect.stringMatching(/^Deno .*: sockets expose no file descriptor$/) })
      const system = {
        interval: Number(readFileSync('/proc/sys/net/ipv4/tcp_keepalive_intvl', 'utf8')) * 1000,
        count: Number(readFileSync('/proc/sys/net/ipv4/tcp_keepalive_probes', 'utf8')),
      }
      for (const [outcome, idle] of [
        [result.client, 7_000],
        [result.netAccepted, 11_000],
        [result.httpAccepted, 13_000],
      ] as const) {
        expect(outcome).toMatchObject({ destroyed: false, read: UNKNOWN })
        expect(kernel(outcome)).toEqual({ enabled: true, idle, ...system, userTimeout: 0 })
      }
      expect(result.httpBody).toBe('ok')
      expect(result.warnings).toEqual([
        // The cause first: Deno's sockets have no fd for the binding.
        expect.stringMatching(
          /^tcp-keepalive cannot set interval: the native binding is not in use \(Deno .*: sockets expose no file descriptor\), and Deno .*'s setKeepAlive sets only the idle time$/,
        ),
        expect.stringMatching(/^tcp-keepalive cannot set count: the native binding is not in use/),
        expect.stringMatching(
          /^tcp-keepalive cannot set userTimeout: the native binding is not in use .*, and Deno's setKeepAlive has no user timeout$/,
        ),
      ])
      expect(result.errors).toEqual([])
    },
  )
})
