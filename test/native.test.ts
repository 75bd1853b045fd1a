// The native layer's contract: one call per operation, nothing half-applied,
// and an independent oracle (ss) that agrees with what getsockopt says.
import nodeGypBuild from 'node-gyp-build'
import path from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { configureKeepalive, readKeepalive } from '../lib/index.js'
import type { Binding } from '../lib/native.js'
import { parseSsDuration, ssKeepaliveTimer } from '../lib/cli/ss.js'
import { canRun, fdOf, closeAll, hasCommand, tcpPair } from './helpers.js'

afterEach(() => {
  vi.restoreAllMocks()
  closeAll()
})

// The same module object the library loaded: require() caches it by path.
const binding = nodeGypBuild(path.join(__dirname, '..')) as Binding

describe('binding', () => {
  it('makes one native call per configure and one per read, whatever the number of fields', async () => {
    const { client } = await tcpPair()
    const apply = vi.spyOn(binding, 'apply')
    const read = vi.spyOn(binding, 'read')
    configureKeepalive(client, { idle: 30_000, interval: 5_000, count: 3, userTimeout: 10_000 })
    readKeepalive(client)
    expect(apply).toHaveBeenCalledTimes(1)
    expect(read).toHaveBeenCalledTimes(1)
  })

  it('when a later write fails, leaves in the shared values exactly the fields it applied', async () => {
    const { client } = await tcpPair()
    configureKeepalive(client, { idle: 30_000, interval: 5_000, count: 3 })
    // Bypass validation: idle 60 s is fine, interval 40 000 s is beyond Linux's 32 767 s.
    binding.values.set([1, 60, 40_000, 7, -1])
    expect(binding.apply(fdOf(client), false)).toBe(-22) // -EINVAL
    expect([...binding.values]).toEqual([-1, 60, -1, -1, -1]) // idle written; interval failed; count and enable not tried
    expect(readKeepalive(client)).toMatchObject({ idle: 60_000, interval: 5_000, count: 3 })
  })

  it('rejects malformed arguments from a caller other than the library', () => {
    expect(() => binding.apply(1, 1 as unknown as boolean)).toThrow(TypeError)
    expect(() => binding.read('1' as unknown as number, true)).toThrow(TypeError)
    expect(() => binding.readTcpInfo(1, undefined as unknown as boolean)).toThrow(TypeError)
  })
})

describe.skipIf(!canRun('the ss command (iproute2)', hasCommand('ss')))('kernel oracle: ss -tnoi', () => {
  it('parses ss durations', () => {
    expect(parseSsDuration('29sec')).toBe(29_000)
    expect(parseSsDuration('1min58sec')).toBe(118_000)
    expect(parseSsDuration('119min')).toBe(7_140_000)
    expect(parseSsDuration('9.500ms')).toBe(9_500)
    expect(parseSsDuration('500ms')).toBe(500)
  })

  it('after idle: 30000 the keepalive timer is armed at <= 30 s; with the default idle it is at ~2 h', async () => {
    const { client, accepted } = await tcpPair()
    expect(ssKeepaliveTimer(client.localPort!)).toBeNull()

    configureKeepalive(client, { idle: 30_000 })
    const timer = ssKeepaliveTimer(client.localPort!)
    expect(timer).not.toBeNull()
    expect(timer).toBeLessThanOrEqual(30_000)
    expect(timer).toBeGreaterThan(20_000)

    configureKeepalive(accepted, { enable: true }) // the kernel default idle, 7200 s unless the sysctl differs
    const defaultIdle = readKeepalive(accepted).idle!
    const defaultTimer = ssKeepaliveTimer(accepted.localPort!)
    // From 10 min up, ss prints whole minutes only (iproute2's print_ms_timer), so allow one minute of flooring.
    expect(defaultTimer).toBeLessThanOrEqual(defaultIdle)
    expect(defaultTimer).toBeGreaterThanOrEqual(defaultIdle - 60_000)
  })
})
