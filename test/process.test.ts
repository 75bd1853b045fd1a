// keepaliveProcess: every entry point Node offers for opening (and accepting) a
// TCP connection, configured by one process-wide call and nothing else, read
// back from the kernel.
import { once } from 'node:events'
import http from 'node:http'
import http2 from 'node:http2'
import https from 'node:https'
import net from 'node:net'
import path from 'node:path'
import tls from 'node:tls'
import { Agent, fetch, request } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket, { WebSocketServer } from 'ws'
import {
  type ConnectionInfo,
  IDLE_TIMEOUT_PRESETS,
  keepaliveProcess,
  type ProcessKeepalive,
  planKeepalive,
  type PlanRequest,
  readKeepalive,
} from '../lib/index.js'
import { clientSideOf, closeAll, fdOf, listen, queueConnections, tempDir, tlsOptions } from './helpers.js'

const settings = { idle: 31_000, interval: 4_000, count: 5, userTimeout: 41_000 }
const expected = { enabled: true, ...settings }
const untouched = expect.objectContaining({ enabled: false, idle: 7_200_000 })

const nodeConnect = net.Socket.prototype.connect
const rules: ProcessKeepalive[] = []
afterEach(() => {
  for (const rule of rules.splice(0)) rule.stop()
  closeAll()
})
function processWide(...args: Parameters<typeof keepaliveProcess>): ProcessKeepalive {
  const rule = keepaliveProcess(...args)
  rules.push(rule)
  return rule
}

/** The socket a server accepts next, as its first 'connection' listener (after ours) sees it. */
function nextAccepted(server: net.Server): Promise<{ socket: net.Socket; seen: unknown }> {
  return new Promise((resolve) => server.once('connection', (socket: net.Socket) => resolve({ socket, seen: readKeepalive(socket) })))
}

describe('keepaliveProcess: outgoing connections, each entry point', () => {
  it('net.connect and new net.Socket().connect(): the settings before the first user connect listener', async () => {
    const server = await listen(net.createServer())
    processWide(settings)
    const viaConnect = net.connect(server.port, '127.0.0.1')
    const viaSocket = new net.Socket().connect({ port: server.port, host: 'localhost', family: 4 }) // DNS first
    for (const client of [viaConnect, viaSocket]) {
      const seen = await new Promise((resolve) => client.once('connect', () => resolve(readKeepalive(client))))
      expect(seen).toEqual(expected)
      client.destroy()
    }
  })

  it('tls.connect and an https.Agent', async () => {
    const server = await listen(https.createServer(tlsOptions, (_request, response) => response.end('ok')))
    processWide(settings)
    const secure = tls.connect({ port: server.port, host: '127.0.0.1', ca: tlsOptions.cert, servername: 'localhost' })
    await once(secure, 'secureConnect')
    expect(readKeepalive(secure)).toEqual(expected)
    secure.destroy()
    const agent = new https.Agent({ keepAlive: true, ca: tlsOptions.cert, servername: 'localhost' })
    const [response] = (await once(https.get({ host: '127.0.0.1', port: server.port, agent }), 'response')) as [http.IncomingMessage]
    response.resume()
    expect(readKeepalive(response.socket)).toEqual(expected)
    agent.destroy()
  })

  it('http.Agent: the settings survive the reuse of a pooled socket', async () => {
    const server = await listen(http.createServer((_request, response) => response.end('ok')))
    processWide(settings)
    const agent = new http.Agent({ keepAlive: true, keepAliveMsecs: 1_000, maxSockets: 1 })
    const sockets: net.Socket[] = []
    for (let i = 0; i < 2; i++) {
      const [response] = (await once(http.get({ host: '127.0.0.1', port: server.port, agent }), 'response')) as [http.IncomingMessage]
      sockets.push(response.socket)
      response.resume()
      await once(response, 'end')
    }
    expect(sockets[1]).toBe(sockets[0]) // reused: the agent called setKeepAlive(true, 1000) on it again
    expect(readKeepalive(sockets[1])).toEqual(expected)
    agent.destroy()
  })

  it("undici's request and fetch, with undici's own connector (which sets idle 60 s, interval 1 s, count 10)", async () => {
    const server = await listen(http.createServer((_request, response) => response.end('ok')))
    processWide(settings)
    const sockets: net.Socket[] = []
    server.on('connection', (socket: net.Socket) => sockets.push(socket))
    const dispatcher = new Agent()
    const { body } = await request(`http://127.0.0.1:${server.port}/`, { dispatcher })
    expect(await body.text()).toBe('ok')
    const response = await fetch(`http://127.0.0.1:${server.port}/`, { dispatcher: new Agent() })
    expect(await response.text()).toBe('ok')
    expect(sockets).toHaveLength(2)
    // The client ends, read from outside: our accepted end shares the 4-tuple.
    for (const accepted of sockets) expect(clientSideOf(accepted)).toEqual(expected)
    await dispatcher.close()
  })

  it('ws (over http.request) and http2.connect', async () => {
    const wsServer = new WebSocketServer({ port: 0, host: '127.0.0.1' })
    await once(wsServer, 'listening')
    const h2 = await listen(http2.createServer())
    processWide(settings)
    const ws = new WebSocket(`ws://127.0.0.1:${(wsServer.address() as net.AddressInfo).port}`)
    await once(ws, 'open')
    expect(readKeepalive((ws as unknown as { _socket: net.Socket })._socket)).toEqual(expected)
    ws.close()
    wsServer.close()
    const session = http2.connect(`http://127.0.0.1:${h2.port}`)
    await once(session, 'connect')
    expect(readKeepalive(session.socket as net.Socket)).toEqual(expected)
    session.destroy()
  })
})

describe('keepaliveProcess: accepted connections, rules and scope', () => {
  it("accepted: true configures before the server's own connection listeners; servers listening before the call too", async () => {
    const before = await listen(net.createServer())
    processWide(settings, { accepted: true, outgoing: false })
    const after = await listen(http.createServer())
    for (const server of [after, before]) {
      const accepted = nextAccepted(server)
      const client = net.connect(server.port, '127.0.0.1')
      const connected = once(client, 'connect')
      const { socket, seen } = await accepted
      if (server === after) expect(seen).toEqual(expected) // before any listener of the server's own
      await new Promise((resolve) => setImmediate(resolve)) // the channel publishes just after 'connection'
      expect(readKeepalive(socket)).toEqual(expected)
      await connected
      expect(readKeepalive(client)).toEqual(untouched) // outgoing: false
      client.destroy()
    }
  })

  it("accepted sockets that inherited the listener's settings keep them across setKeepAlive, the first and the later ones", async () => {
    processWide(settings, { accepted: true, outgoing: false })
    const server = await listen(net.createServer()) // after the rule: the listening socket holds it
    for (let i = 0; i < 3; i++) {
      const accepted = nextAccepted(server)
      const client = net.connect(server.port, '127.0.0.1')
      const { socket } = await accepted
      expect(readKeepalive(socket)).toEqual(expected)
      socket.setKeepAlive(true, 1_000) // what http.Agent, pg and others call: libuv writes idle 1 s, interval 1 s, count 10
      expect(readKeepalive(socket)).toEqual(expected)
      socket.setKeepAlive(false)
      expect(readKeepalive(socket).enabled).toBe(false)
      client.destroy()
    }
  })

  it("a server's own setKeepAlive in its 'connection' listener, or Node's keepAlive option, leaves the rules' settings in place", async () => {
    processWide(settings, { accepted: true, outgoing: false })
    // The first connection inherits as it is (read back: every later one is known to inherit), the later ones get Node's write.
    let accepted = 0
    const ownCall = await listen(
      net.createServer().on('connection', (socket: net.Socket) => accepted++ && socket.setKeepAlive(true, 1_000)),
    )
    const keepAliveOption = await listen(http.createServer({ keepAlive: true, keepAliveInitialDelay: 1_000 }))
    for (const server of [ownCall, keepAliveOption]) {
      for (let i = 0; i < 3; i++) {
        const accepted = once(server, 'connection')
        const client = net.connect(server.port, '127.0.0.1')
        const [socket] = (await accepted) as [net.Socket]
        await new Promise((resolve) => setImmediate(resolve)) // the channel publishes just after 'connection'
        expect(readKeepalive(socket)).toEqual(expected)
        socket.setKeepAlive(true, 2_000) // and they stick, as ever
        expect(readKeepalive(socket)).toEqual(expected)
        client.destroy()
      }
    }
  })

  it('a server listening before the rule gets it on its listening socket at its first connection; those queued before are configured', async () => {
    const server = await listen(net.createServer({ allowHalfOpen: true })) // the queued ones' clients are gone when they are accepted
    const fd = fdOf(server)
    const before = readKeepalive(fd)
    const queued: net.Socket[] = []
    server.on('connection', (socket: net.Socket) => queued.length < 3 && queued.push(socket))
    queueConnections(server.port, 3)
    const rule = processWide(settings, { accepted: true, outgoing: false })
    while (queued.length < 3) await once(server, 'connection')
    await new Promise((resolve) => setImmediate(resolve)) // the channel publishes just after 'connection'
    expect(readKeepalive(fd)).toEqual(expected)
    for (const socket of queued) expect(readKeepalive(socket)).toEqual(expected)
    for (let i = 0; i < 2; i++) {
      const accepted = nextAccepted(server)
      const client = net.connect(server.port, '127.0.0.1')
      expect((await accepted).seen).toEqual(expected) // watched now: before the server's own listeners
      client.destroy()
    }
    rule.stop()
    expect(readKeepalive(fd)).toEqual(before)
    for (const socket of queued) socket.destroy()
  })

  it('connections queued when a rule changes keep none of the old settings; later ones inherit the new', async () => {
    processWide(settings, { accepted: true, outgoing: false })
    const server = await listen(net.createServer({ allowHalfOpen: true }))
    const queued: net.Socket[] = []
    server.on('connection', (socket: net.Socket) => queued.length < 3 && queued.push(socket))
    queueConnections(server.port, 3) // they inherit the first rule's settings at their handshake
    processWide({ idle: 32_000 }, { accepted: true, outgoing: false })
    while (queued.length < 3) await once(server, 'connection')
    const changed = { ...expected, idle: 32_000 }
    for (const socket of queued) expect(readKeepalive(socket)).toEqual(changed)
    const accepted = nextAccepted(server)
    const client = net.connect(server.port, '127.0.0.1')
    expect((await accepted).seen).toEqual(changed)
    client.destroy()
    for (const socket of queued) socket.destroy()
  })

  it('ports: only connections to (or accepted on) those ports', async () => {
    const chosen = await listen(net.createServer())
    const other = await listen(net.createServer())
    processWide(settings, { ports: [chosen.port], accepted: true })
    const acceptedChosen = nextAccepted(chosen)
    const acceptedOther = nextAccepted(other)
    const [toChosen, toOther] = [net.connect(chosen.port, '127.0.0.1'), net.connect(other.port, '127.0.0.1')]
    await Promise.all([once(toChosen, 'connect'), once(toOther, 'connect')])
    expect(readKeepalive(toChosen)).toEqual(expected)
    expect(readKeepalive(toOther)).toEqual(untouched)
    // Both servers listened before the rule: their sockets are configured just after 'connection'.
    await new Promise((resolve) => setImmediate(resolve))
    expect(readKeepalive((await acceptedChosen).socket)).toEqual(expected)
    expect(readKeepalive((await acceptedOther).socket)).toEqual(untouched)
    toChosen.destroy()
    toOther.destroy()
  })

  it('static rules with and without ports, overlapping: each port gets its rules, later winning, as rules come and go', async () => {
    const chosen = await listen(net.createServer())
    const other = await listen(net.createServer())
    const read = async () => {
      const [toChosen, toOther] = [net.connect(chosen.port, '127.0.0.1'), net.connect(other.port, '127.0.0.1')]
      await Promise.all([once(toChosen, 'connect'), once(toOther, 'connect')])
      const held = [readKeepalive(toChosen), readKeepalive(toOther)].map(({ idle, count }) => ({ idle, count }))
      toChosen.destroy()
      toOther.destroy()
      return held
    }
    const [untouchedFields] = await read() // what a socket holds with no rule (the sysctls)
    const defaultCount = untouchedFields.count
    const everyPort = processWide({ idle: 11_000 })
    const forChosen = processWide({ idle: 22_000, count: 4 }, { ports: [chosen.port] })
    expect(await read()).toEqual([
      { idle: 22_000, count: 4 },
      { idle: 11_000, count: defaultCount },
    ])
    const later = processWide({ count: 6 }) // later: wins over the port's rule where both set a field
    expect(await read()).toEqual([
      { idle: 22_000, count: 6 },
      { idle: 11_000, count: 6 },
    ])
    const decided: number[] = []
    const fn = processWide((_socket, info) => (decided.push(info.remotePort!), { idle: 33_000 }), { ports: [other.port] })
    expect(await read()).toEqual([
      { idle: 22_000, count: 6 },
      { idle: 33_000, count: 6 },
    ])
    expect(decided).toEqual([other.port])
    fn.stop()
    later.stop()
    everyPort.stop()
    expect(await read()).toEqual([{ idle: 22_000, count: 4 }, untouchedFields])
    forChosen.stop()
    expect(await read()).toEqual([untouchedFields, untouchedFields])
  })

  it('a function sees each connection established, with its addresses; undefined leaves it alone', async () => {
    const server = await listen(net.createServer())
    const seen: ConnectionInfo[] = []
    processWide((_socket, info) => {
      seen.push(info)
      return info.host === 'localhost' ? settings : undefined
    })
    const named = net.connect({ port: server.port, host: 'localhost', family: 4 })
    const numeric = net.connect(server.port, '127.0.0.1')
    await Promise.all([once(named, 'connect'), once(numeric, 'connect')])
    expect(readKeepalive(named)).toEqual(expected)
    expect(readKeepalive(numeric)).toEqual(untouched)
    expect(seen).toContainEqual({
      direction: 'outgoing',
      remoteAddress: '127.0.0.1',
      remotePort: server.port,
      localPort: named.localPort,
      host: 'localhost',
      servername: undefined,
    })
    named.destroy()
    numeric.destroy()
  })

  it("stop(): connections opened later are left alone, and the prototypes are Node's again", async () => {
    const server = await listen(net.createServer())
    const [connect, listenFn] = [net.Socket.prototype.connect, net.Server.prototype.listen]
    const rule = keepaliveProcess(settings)
    expect(net.Socket.prototype.connect).not.toBe(connect)
    rule.stop()
    rule.stop() // twice is harmless
    expect([net.Socket.prototype.connect, net.Server.prototype.listen]).toEqual([connect, listenFn])
    const client = net.connect(server.port, '127.0.0.1')
    await once(client, 'connect')
    expect(readKeepalive(client)).toEqual(untouched)
    client.destroy()
  })

  it('a Unix socket connection passes untouched', async () => {
    const server = await listen(net.createServer(), path.join(tempDir('process-unix'), 'socket'))
    processWide(settings, { accepted: true })
    const accepted = once(server, 'connection')
    const client = net.connect(server.address() as string)
    await once(client, 'connect')
    await accepted
    client.destroy()
  })

  it('rejects bad options and scope at once', () => {
    expect(() => keepaliveProcess({ idle: -1 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }))
    expect(() => keepaliveProcess(settings, { ports: [0] })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }))
    expect(() => keepaliveProcess(settings, { accepted: 'yes' as never })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }),
    )
    expect(net.Socket.prototype.connect).toBe(nodeConnect) // nothing installed by a rejected call
  })
})

describe('planKeepalive', () => {
  it.each<[PlanRequest, object]>([
    [
      { idleTimeout: 350_000, detectWithin: 60_000 },
      { idle: 30_000, interval: 10_000, count: 3, userTimeout: 60_000 },
    ],
    [{ idleTimeout: IDLE_TIMEOUT_PRESETS['aws-nlb'].idleTimeout }, { idle: 175_000, interval: 87_000, count: 3, userTimeout: 436_000 }],
    [
      { detectWithin: 20_000, count: 5 },
      { idle: 10_000, interval: 2_000, count: 5, userTimeout: 20_000 },
    ],
  ])('%o -> %o, and the kernel holds exactly that', async (request, planned) => {
    const plan = planKeepalive(request)
    expect(plan).toMatchObject(planned)
    expect(plan.idle + plan.interval * plan.count).toBeLessThanOrEqual(request.detectWithin ?? Infinity)
    if (request.idleTimeout) expect(plan.idle + plan.interval * (plan.count - 1)).toBeLessThan(request.idleTimeout)
    const server = await listen(net.createServer())
    const { idle, interval, count, userTimeout } = plan
    processWide({ idle, interval, count, userTimeout })
    const client = net.connect(server.port, '127.0.0.1')
    await once(client, 'connect')
    expect(readKeepalive(client)).toEqual({ enabled: true, idle, interval, count, userTimeout })
    client.destroy()
  })

  it('every preset plans settings every platform accepts', () => {
    for (const { idleTimeout } of Object.values(IDLE_TIMEOUT_PRESETS)) {
      const { idle, interval } = planKeepalive({ idleTimeout })
      expect(idle).toBeLessThanOrEqual(32_767_000)
      expect(interval).toBeLessThanOrEqual(32_767_000)
    }
  })

  it('refuses what cannot be met, with the reason', () => {
    expect(() => planKeepalive({ detectWithin: 3_000, count: 5 })).toThrow(expect.objectContaining({ code: 'ERR_KEEPALIVE_PLAN' }))
    expect(() => planKeepalive({ idleTimeout: 3_000, count: 5 })).toThrow(expect.objectContaining({ code: 'ERR_KEEPALIVE_PLAN' }))
    expect(() => planKeepalive({})).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }))
    expect(() => planKeepalive({ detectWithin: 60_000, loss: 1 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }))
    expect(() => planKeepalive({ detectWithin: 60_000, loss: 0.99, connections: 1000 })).toThrow(
      expect.objectContaining({ code: 'ERR_KEEPALIVE_PLAN', message: expect.stringContaining('no count up to 127') }),
    )
  })

  it('with a loss rate: count from the false-drop model (q = 1 - (1 - p)^2, q^count per round, 86 400 / idle rounds a day)', () => {
    const plan = planKeepalive({ detectWithin: 60_000, loss: 0.01, connections: 1000 })
    const q = 1 - 0.99 ** 2
    const perYear = (count: number) => 1000 * 365 * (86_400 / 30) * q ** count
    expect(perYear(plan.count)).toBeLessThanOrEqual(1)
    expect(perYear(plan.count - 1)).toBeGreaterThan(1)
    expect(plan).toMatchObject({ idle: 30_000, count: 6, interval: 5_000 })
    expect(plan.falseDrops!.perYear).toBeCloseTo(perYear(6), 10)
    // An explicit count is kept, and the reasoning says what it costs.
    const forced = planKeepalive({ detectWithin: 60_000, loss: 0.01, connections: 1000, count: 2 })
    expect(forced.falseDrops).toMatchObject({ withinBudget: false })
    expect(forced.reasoning.join(' ')).toContain('above the budget of 1 a year: count 6 would keep it within')
  })
})
