// Round trips: what configureKeepalive writes, readKeepalive reads back from
// the kernel, on every kind of socket users hold.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import type net from 'node:net'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { configureKeepalive, keepaliveSupport, readKeepalive } from '../lib/index.js'
import { closeAll, fdOf, http2Pair, tcpPair, tlsPair } from './helpers.js'

afterEach(closeAll)

const kernelDefaults = {
  idle: Number(readFileSync('/proc/sys/net/ipv4/tcp_keepalive_time', 'utf8')) * 1000,
  interval: Number(readFileSync('/proc/sys/net/ipv4/tcp_keepalive_intvl', 'utf8')) * 1000,
  count: Number(readFileSync('/proc/sys/net/ipv4/tcp_keepalive_probes', 'utf8')),
}

const kinds: Array<[string, () => Promise<{ client: net.Socket; accepted: net.Socket }>]> = [
  ['net', tcpPair],
  ['tls', tlsPair],
  ['http2 cleartext', () => http2Pair(false)],
  ['http2 secure', () => http2Pair(true)],
]

it('native binding is in use on Linux, with every field', () => {
  expect(keepaliveSupport).toMatchObject({
    native: true,
    reason: null,
    idle: true,
    interval: true,
    count: true,
    userTimeout: true,
    read: true,
  })
  expect(keepaliveSupport.ranges.idle).toEqual({ min: 1, max: 32_767_000, unitMs: 1000 })
  expect(keepaliveSupport.ranges.count).toEqual({ min: 1, max: 127, unitMs: 1 })
})

describe.each(kinds)('%s sockets', (_kind, makePair) => {
  it.each(['client', 'accepted'] as const)('%s: a fresh socket reads the kernel defaults', async (side) => {
    const socket = (await makePair())[side]
    expect(readKeepalive(socket)).toEqual({ enabled: false, ...kernelDefaults, userTimeout: 0 })
  })

  it.each(['client', 'accepted'] as const)('%s: every field round-trips', async (side) => {
    const socket = (await makePair())[side]
    expect(configureKeepalive(socket, { idle: 30_000, interval: 7_000, count: 4, userTimeout: 45_000 })).toBe(socket)
    expect(readKeepalive(socket)).toEqual({ enabled: true, idle: 30_000, interval: 7_000, count: 4, userTimeout: 45_000 })
  })
})

describe('fields', () => {
  it('writes only the fields given, plus enable', async () => {
    const { client } = await tcpPair()
    configureKeepalive(client, { count: 5 })
    expect(readKeepalive(client)).toEqual({ enabled: true, ...kernelDefaults, count: 5, userTimeout: 0 })
    configureKeepalive(client, { interval: 2_000 })
    expect(readKeepalive(client)).toEqual({ enabled: true, ...kernelDefaults, interval: 2_000, count: 5, userTimeout: 0 })
  })

  it('enable: false turns keepalive off and keeps the timings', async () => {
    const { client } = await tcpPair()
    configureKeepalive(client, { idle: 10_000 })
    configureKeepalive(client, { enable: false })
    expect(readKeepalive(client)).toMatchObject({ enabled: false, idle: 10_000 })
  })

  it('enable: false can still set the user timeout', async () => {
    const { client } = await tcpPair()
    configureKeepalive(client, { enable: false, userTimeout: 5_000 })
    expect(readKeepalive(client)).toMatchObject({ enabled: false, userTimeout: 5_000 })
  })

  it('userTimeout: 0 restores the kernel default', async () => {
    const { client } = await tcpPair()
    configureKeepalive(client, { userTimeout: 5_000 })
    configureKeepalive(client, { userTimeout: 0 })
    expect(readKeepalive(client).userTimeout).toBe(0)
  })

  it.each([
    [{ idle: 1_500 }, { idle: 2_000 }],
    [{ idle: 1 }, { idle: 1_000 }],
    [{ interval: 1 }, { interval: 1_000 }],
    [{ interval: 2_000.5 }, { interval: 3_000 }],
    [{ idle: 32_767_000 }, { idle: 32_767_000 }],
    [{ idle: 32_766_001 }, { idle: 32_767_000 }],
    [{ userTimeout: 1_234.2 }, { userTimeout: 1_235 }],
    [{ count: 127 }, { count: 127 }],
  ])('rounds %o up to %o', async (options, expected) => {
    const { client } = await tcpPair()
    configureKeepalive(client, options)
    expect(readKeepalive(client)).toMatchObject(expected)
  })
})

describe('file descriptors', () => {
  it('configures and reads a raw fd', async () => {
    const { client } = await tcpPair()
    const fd = fdOf(client)
    expect(configureKeepalive(fd, { idle: 12_000, count: 2 })).toBe(fd)
    expect(readKeepalive(fd)).toMatchObject({ enabled: true, idle: 12_000, count: 2 })
    expect(readKeepalive(client)).toEqual(readKeepalive(fd))
  })

  it("configures a listening socket's fd", async () => {
    const { server } = await tcpPair()
    const fd = fdOf(server)
    configureKeepalive(fd, { idle: 9_000 })
    expect(readKeepalive(fd)).toMatchObject({ enabled: true, idle: 9_000 })
  })
})

describe('idle alone, the likeliest mistake: one warning per process, with the detection time the socket has', () => {
  /** The warnings and the kernel's values from a fresh process (test/children/idle-only.cjs). */
  const run = (mode: 'configure' | 'connecting' | 'server', env: Record<string, string> = {}) =>
    JSON.parse(
      execFileSync(process.execPath, [path.join(__dirname, 'children', 'idle-only.cjs'), mode], {
        encoding: 'utf8',
        env: { ...process.env, ...env },
      }),
    ) as {
      warnings: Array<{ type: string; code: string; message: string }>
      held: { idle: number; interval: number; count: number }
    }
  /** The minutes and seconds from idle (s) to the error with the kernel's interval and count (from /proc, not from the library). */
  const found = (idleS: number) => {
    const total = idleS + (kernelDefaults.interval / 1000) * kernelDefaults.count
    return total < 120 ? `${total} s` : `${Math.floor(total / 60)} min${total % 60 ? ` ${total % 60} s` : ''}`
  }
  const expected = (idleS: number) =>
    `tcp-keepalive: only idle was given (${idleS} s): interval and count stay as the socket has them ` +
    `(${kernelDefaults.interval / 1000} s and ${kernelDefaults.count} probes), so a dead peer is found ${found(idleS)} after the last packet. ` +
    `Give all three, e.g. { idle: ${idleS * 1000}, interval: 5000, count: 3 } finds it ${idleS + 15} s after the last packet`

  it('configureKeepalive: not for complete settings, idle with userTimeout or count alone; once for idle alone', () => {
    const { warnings, held } = run('configure')
    expect(held).toMatchObject({ idle: 30_000, interval: kernelDefaults.interval, count: kernelDefaults.count })
    expect(warnings).toEqual([{ type: 'TcpKeepaliveWarning', code: 'TCP_KEEPALIVE_IDLE_ONLY', message: expected(30) }])
  })

  it('a socket still connecting: said with the kernel defaults, as nothing can be read yet', () => {
    const { warnings, held } = run('connecting')
    expect(held).toMatchObject({ idle: 30_000, interval: kernelDefaults.interval, count: kernelDefaults.count })
    expect(warnings).toEqual([
      {
        type: 'TcpKeepaliveWarning',
        code: 'TCP_KEEPALIVE_IDLE_ONLY',
        message:
          'tcp-keepalive: only idle was given (30 s): interval and count stay as the socket has them (Linux defaults: 75 s and 9 probes, ' +
          'a dead peer found 11 min 15 s after idle). Give all three, e.g. { idle: 30000, interval: 5000, count: 3 } finds it 45 s after the last packet',
      },
    ])
  })

  it("not in fallback mode: Node's setKeepAlive writes its own interval and count with idle", () => {
    const { warnings } = run('configure', { TCP_KEEPALIVE_FORCE_FALLBACK: '1' })
    expect(warnings.map(({ code }) => code)).not.toContain('TCP_KEEPALIVE_IDLE_ONLY')
  })

  it('keepaliveServer: said when it configures the listening socket its connections inherit from', () => {
    const { warnings, held } = run('server')
    expect(held).toMatchObject({ idle: 20_000, interval: kernelDefaults.interval, count: kernelDefaults.count })
    expect(warnings).toEqual([{ type: 'TcpKeepaliveWarning', code: 'TCP_KEEPALIVE_IDLE_ONLY', message: expected(20) }])
  })
})
