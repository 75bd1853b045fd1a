// keepaliveServer({ behind }): a server that knows the box in front of it.
// Its HTTP keep-alive timeouts are raised above the box's idle (never lowered,
// said once), and behind a TCP box its connections get TCP keepalive planned
// from the box's idle. Read back from the kernel on accepted connections, and
// the server's idle close timed on a real connection.
import { once } from 'node:events'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { keepaliveServer, planKeepalive, readKeepalive } from '../lib/index.js'
import { closeAll, listen, tlsOptions } from './helpers.js'

afterEach(() => {
  closeAll()
  vi.restoreAllMocks()
})

const RAISED = 'TCP_KEEPALIVE_HTTP_TIMEOUT_RAISED'

/** The warnings keepaliveServer emits from now on, by code. */
function warnings(): () => Array<{ code: string; message: string }> {
  const spy = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
  return () =>
    spy.mock.calls
      .map(([message, options]) => ({ message: String(message), code: (options as { code?: string } | undefined)?.code ?? '' }))
      .filter(({ code }) => code.startsWith('TCP_KEEPALIVE'))
}

/** What the kernel holds for a connection the server accepts. */
async function acceptedKeepalive(server: net.Server): Promise<ReturnType<typeof readKeepalive>> {
  const listening = await listen(server)
  const accepted = once(listening, 'connection') as Promise<[net.Socket]>
  const client = net.connect(listening.port, '127.0.0.1')
  const [socket] = await accepted
  const state = readKeepalive(socket)
  client.destroy()
  socket.destroy()
  return state
}

describe('keepaliveServer({ behind })', () => {
  it('behind an HTTP box: raises keepAliveTimeout and headersTimeout above its idle, says so once, and leaves TCP alone', async () => {
    const said = warnings()
    const server = keepaliveServer(http.createServer(), { behind: 'aws-alb' })
    expect([server.keepAliveTimeout, server.headersTimeout, server.requestTimeout]).toEqual([65_000, 66_000, 300_000])
    expect(said()).toEqual([
      {
        code: RAISED,
        message: expect.stringContaining(
          'raised keepAliveTimeout 5000 -> 65000 ms, headersTimeout 60000 -> 66000 ms: the box in front (aws-alb) closes connections idle 60000 ms',
        ),
      },
    ])
    expect(await acceptedKeepalive(server)).toMatchObject({ enabled: false }) // probes do not keep an HTTP box open
    expect(said()).toHaveLength(1)
  })

  it('never lowers a value, and counts 0 (no timeout) as above every idle', () => {
    const said = warnings()
    const server = http.createServer({ keepAliveTimeout: 120_000, headersTimeout: 0, requestTimeout: 0 })
    keepaliveServer(server, { behind: 'aws-alb' })
    expect([server.keepAliveTimeout, server.headersTimeout, server.requestTimeout]).toEqual([120_000, 0, 0])
    const above = http.createServer({ headersTimeout: 62_000 }) // above the box's 60 s already: kept
    keepaliveServer(above, { behind: 'aws-alb' })
    expect([above.keepAliveTimeout, above.headersTimeout]).toEqual([65_000, 62_000])
    expect(said().map(({ code }) => code)).toEqual([RAISED])
  })

  it('a value set after the call but before listen() is raised at listen, with still one warning', async () => {
    const said = warnings()
    const server = keepaliveServer(http.createServer(), { behind: { idleTimeout: 10_000, kind: 'http' } })
    server.keepAliveTimeout = 1_000
    await listen(server)
    expect(server.keepAliveTimeout).toBe(15_000)
    expect(said()).toHaveLength(1)
  })

  it('https servers too', () => {
    const server = keepaliveServer(https.createServer(tlsOptions), { behind: 'gcp-external-http-lb' })
    // GCP's backend keepalive is 600 s: headersTimeout 606 s needs requestTimeout 606 s (Node's rule).
    expect([server.keepAliveTimeout, server.headersTimeout, server.requestTimeout]).toEqual([605_000, 606_000, 606_000])
  })

  it(
    '{ idleTimeout: 3000, kind: "http" } on a real connection: the server now closes an idle connection after the box, not before',
    { timeout: 20_000 },
    async () => {
      const closesAfter = async (server: http.Server) => {
        const listening = await listen(server.on('request', (_request, response) => response.end('ok')))
        const client = net.connect(listening.port, '127.0.0.1')
        client.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n')
        await once(client, 'data')
        const answered = Date.now()
        await once(client, 'end')
        client.destroy()
        return Date.now() - answered
      }
      const control = await closesAfter(http.createServer({ keepAliveTimeout: 1_000 }))
      const behind = await closesAfter(
        keepaliveServer(http.createServer({ keepAliveTimeout: 1_000 }), { behind: { idleTimeout: 3_000, kind: 'http' } }),
      )
      console.log(
        `box idle 3 s: keepAliveTimeout 1 s closed an idle connection after ${control} ms; with behind (4.5 s) after ${behind} ms`,
      )
      expect(control).toBeLessThan(3_000) // before the box: the reuse race of a proxy in front
      expect(behind).toBeGreaterThan(3_000) // the box closes first
      expect(behind).toBeLessThanOrEqual(4_500 + 1_000 + 1_000) // Node 20.20 and later close 1 s after keepAliveTimeout
    },
  )

  it('behind a TCP box with no TCP options: keepalive planned from its idle, on a net.Server (no HTTP part) and an http one', async () => {
    const said = warnings()
    const { idle, interval, count, userTimeout } = planKeepalive({ idleTimeout: 350_000 })
    const plain = keepaliveServer(net.createServer(), { behind: 'aws-nlb' })
    expect(await acceptedKeepalive(plain)).toEqual({ enabled: true, idle, interval, count, userTimeout })
    expect('keepAliveTimeout' in plain).toBe(false)
    expect(said()).toEqual([])

    const server = keepaliveServer(http.createServer(), { behind: 'aws-nlb' })
    expect([server.keepAliveTimeout, server.headersTimeout, server.requestTimeout]).toEqual([355_000, 356_000, 356_000])
    expect(await acceptedKeepalive(server)).toEqual({ enabled: true, idle, interval, count, userTimeout })
  })

  it("behind a TCP box with the user's options: those, not the preset's plan", async () => {
    const server = keepaliveServer(net.createServer(), { idle: 10_000, interval: 2_000, count: 4, behind: 'azure-lb' })
    expect(await acceptedKeepalive(server)).toMatchObject({ enabled: true, idle: 10_000, interval: 2_000, count: 4 })
  })

  it('a bad behind throws with a code before the server is changed', () => {
    const server = http.createServer()
    const fails = (behind: unknown, code: string, message: string) =>
      expect(() => keepaliveServer(server, { behind: behind as never })).toThrow(
        expect.objectContaining({ code, message: expect.stringContaining(message) }),
      )
    fails('aws', 'ERR_INVALID_ARG_VALUE', 'The "options.behind" property is not a preset; presets are aws-nlb, aws-alb, ')
    fails(60_000, 'ERR_INVALID_ARG_TYPE', 'must be a preset name (string) or an object { idleTimeout, kind }')
    fails({ idleTimeout: '60s' }, 'ERR_INVALID_ARG_TYPE', '"options.behind.idleTimeout" property must be of type number')
    fails({ idleTimeout: Infinity }, 'ERR_OUT_OF_RANGE', '"options.behind.idleTimeout" is out of range')
    fails({ idleTimeout: 60_000, kind: 'l7' }, 'ERR_INVALID_ARG_VALUE', "must be 'tcp' or 'http'")
    expect(() => keepaliveServer(server, { behind: 'aws-alb', idle: -1 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }))
    expect([server.keepAliveTimeout, server.headersTimeout]).toEqual([5_000, 60_000])
  })
})
