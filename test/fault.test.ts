// "A rejected call changes nothing", without snapshot reads: proven with a
// preloaded shim (test/fault/shim.c) that fails the n-th keepalive
// setsockopt. A failure on the first write leaves the socket as it was; a
// later one (only a value the kernel documents as valid can fail there)
// names exactly the fields applied. The kernel, read back, is the oracle.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { constants } from 'node:os'
import path from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import type { KeepaliveState } from '../lib/index.js'
import { canRun, hasCommand, tempDir } from './helpers.js'

const WRITE_ORDER: readonly string[] = ['userTimeout', 'idle', 'interval', 'count', 'enable']
const FIELD_ORDER = ['enable', 'idle', 'interval', 'count', 'userTimeout'] as const
const requested: KeepaliveState = { enabled: true, idle: 11_000, interval: 3_000, count: 4, userTimeout: 6_000 }

interface Failure {
  target: 'socket' | 'fd'
  nth: number
  before: KeepaliveState
  error: { code: string; errno: number; syscall: string; message: string; applied?: string[] } | null
  after: KeepaliveState
  afterSetKeepAlive: KeepaliveState
}
interface Report {
  failures: Failure[]
  tcpInfo: Record<string, Record<string, unknown>>
}

describe.skipIf(!canRun('a C compiler (cc) for the fault-injection shim', hasCommand('cc')))('fault injection', () => {
  let shim: string
  let report: Report
  beforeAll(() => {
    shim = path.join(tempDir('fault'), 'shim.so')
    execFileSync('cc', ['-shared', '-fPIC', '-O2', '-o', shim, path.join(__dirname, 'fault', 'shim.c'), '-ldl'])
    report = runChild('fault.cjs') as Report
  })

  function runChild(name: string, env: Record<string, string> = {}): unknown {
    const script = path.join(__dirname, 'children', name)
    return JSON.parse(execFileSync(process.execPath, [script], { env: { ...process.env, ...env, LD_PRELOAD: shim }, encoding: 'utf8' }))
  }

  for (const target of ['socket', 'fd'] as const) {
    it(`${target}: the n-th write failing gives the system error, and exactly the writes before it are held`, () => {
      const failures = report.failures.filter((failure) => failure.target === target)
      expect(failures).toHaveLength(5)
      for (const { nth, before, error, after } of failures) {
        const written = WRITE_ORDER.slice(0, nth - 1)
        const applied = FIELD_ORDER.filter((field) => written.includes(field)) // reported in the options' order
        expect(error, `write ${nth}`).toMatchObject({ code: 'ENOMEM', errno: -constants.errno.ENOMEM, syscall: 'setsockopt' })
        if (nth === 1) {
          expect(error!.message).toBe('setsockopt ENOMEM')
          expect(error!.applied).toBeUndefined()
        } else {
          expect(error!.message).toBe(`setsockopt ENOMEM; ${applied.join(', ')} applied before it failed`)
          expect(error!.applied).toEqual(applied)
        }
        const expected = { ...before }
        for (const field of applied) {
          const key = field === 'enable' ? 'enabled' : field
          expected[key] = requested[key] as never
        }
        expect(after, `write ${nth}`).toEqual(expected)
      }
    })
  }

  it('a failed call is not remembered: setKeepAlive afterwards gets no configured values re-applied', () => {
    for (const { target, nth, afterSetKeepAlive } of report.failures) {
      // Node's own values: idle from the call, interval 1 s and count 10 from libuv.
      expect(afterSetKeepAlive, `${target} write ${nth}`).toMatchObject({ enabled: true, idle: 60_000 })
      if (target === 'socket') expect(afterSetKeepAlive.interval).not.toBe(requested.interval)
    }
  })

  it('readTcpInfo reports null for what a short TCP_INFO did not fill, never a made-up zero', () => {
    const { full, 8: short, 0: empty } = report.tcpInfo
    expect(full.state).toBe('ESTABLISHED')
    expect(Object.values(full).every((value) => value !== null)).toBe(true)
    // The first 8 bytes hold state, retransmits, probes and backoff (struct tcp_info in linux/tcp.h).
    expect(short).toMatchObject({ state: 'ESTABLISHED', probes: 0, backoff: 0, retransmits: 0 })
    expect(short).toMatchObject({
      totalRetransmits: null,
      rtt: null,
      rttVariance: null,
      lastDataSent: null,
      lastDataReceived: null,
      lastAckReceived: null,
    })
    expect(Object.values(empty).every((value) => value === null)).toBe(true)
  })

  it.skipIf(!canRun('Multipath TCP (sysctl net.mptcp.enabled=1) and ss', mptcpEnabled() && hasCommand('ss')))(
    'MPTCP sockets (as under mptcpize) are configured and read like TCP; the user timeout they lack fails first, changing nothing',
    () => {
      const out = runChild('mptcp.cjs', { TCP_KEEPALIVE_MPTCP: '1' }) as Record<
        string,
        { result?: unknown; error?: unknown } & Record<string, unknown>
      >
      expect(out.ssMptcp).toMatch(new RegExp(`:${out.localPort}\\s`)) // the oracle lists this connection among MPTCP sockets
      expect(out.socket).toEqual({ result: { enabled: true, idle: 12_000, interval: 4_000, count: 5, userTimeout: null } })
      expect(out.fd).toEqual({ result: { enabled: true, idle: 13_000, interval: 3_000, count: 6, userTimeout: null } })
      expect(out.userTimeout).toEqual({ error: { code: 'ENOPROTOOPT', message: 'setsockopt ENOPROTOOPT' } })
      expect(out.after).toEqual(out.before)
    },
  )

  it.skipIf(!canRun('Multipath TCP (sysctl net.mptcp.enabled=1) and ss', mptcpEnabled() && hasCommand('ss')))(
    'MPTCP under every integration: a userTimeout is left out with one warning, the other fields hold, no connection is lost',
    () => {
      const out = runChild('mptcp-integrations.cjs', { TCP_KEEPALIVE_MPTCP: '1' }) as Record<string, Record<string, unknown>> & {
        warnings: string[]
      }
      const held = { enabled: true, idle: 30_000, interval: 5_000, count: 3, userTimeout: null }
      for (const integration of ['process', 'serverStatic', 'serverFunction']) {
        expect(out[integration], integration).toEqual({
          client: integration === 'process' ? held : expect.anything(),
          accepted: held,
          echoed: true,
        })
      }
      expect(out.agent).toEqual({ client: held, ok: true })
      expect(out.connector).toEqual({ ok: true, served: true })
      expect(out.warnings.filter((code) => code === 'TCP_KEEPALIVE_NO_USER_TIMEOUT')).toHaveLength(1)
    },
  )
})

function mptcpEnabled(): boolean {
  try {
    return readFileSync('/proc/sys/net/mptcp/enabled', 'utf8').trim() === '1'
  } catch {
    return false
  }
}
