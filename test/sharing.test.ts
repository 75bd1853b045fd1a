// Rules that share a process with the app's own settings, integrations and
// code that runs in any order: one precedence whatever the order, a rule's
// mistakes never break a connection, one listener per socket. The kernel is
// the oracle throughout.
import { execFileSync } from 'node:child_process'
import { once } from 'node:events'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import path from 'node:path'
import { Agent, request } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import {
  type ConnectionInfo,
  keepaliveAgent,
  keepaliveConnector,
  keepaliveProcess,
  type KeepaliveOptions,
  keepaliveServer,
  configureKeepalive,
  type ProcessKeepalive,
  readKeepalive,
} from '../lib/index.js'
import { clientSideOf, closeAll, listen, tlsOptions } from './helpers.js'

const rules: ProcessKeepalive[] = []
const warnings: Array<{ code?: string; message: string }> = []
const onWarning = (warning: Error & { code?: string }) => warnings.push({ code: warning.code, message: warning.message })
process.on('warning', onWarning)
afterEach(() => {
  for (const rule of rules.splice(0)) rule.stop()
  closeAll()
  warnings.length = 0
})
function processWide(...args: Parameters<typeof keepaliveProcess>): ProcessKeepalive {
  const rule = keepaliveProcess(...args)
  rules.push(rule)
  return rule
}

/** What a rule sets (static or as a function), and what the more specific setting sets over it. */
const RULE = { idle: 30_000, interval: 7_000 }
const SPECIFIC = { idle: 60_000 }
/** Each field from the most specific setting that gives it. */
const WON = { enabled: true, idle: 60_000, interval: 7_000 }
const ruleOf = (kind: 'static' | 'function') => (kind === 'static' ? RULE : () => RULE)

function permutations<T>(items: T[]): T[][] {
  if (items.length <= 1) return [items]
  return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]))
}

/** The next connection's accepted socket as the kernel holds it once every listener and the channel have run. */
async function acceptedOnce(server: net.Server & { port: number }): Promise<unknown> {
  const accepted = once(server, 'connection') as Promise<[net.Socket]>
  const client = net.connect(server.port, '127.0.0.1')
  await once(client, 'connect')
  const [socket] = await accepted
  await new Promise((resolve) => setImmediate(resolve)) // the net.server.socket channel publishes just after 'connection'
  const held = readKeepalive(socket)
  client.destroy()
  return held
}

describe('precedence: the most specific setting wins, whatever the order of calls', () => {
  const orders = permutations(['rule', 'keepaliveServer', 'listen'] as const)
  for (const ruleKind of ['static', 'function'] as const) {
    for (const serverKind of ['static', 'function'] as const) {
      it.each(orders.map((order) => [order.join(' → ')]))(
        `accepted: a ${ruleKind} rule and keepaliveServer with ${serverKind} options, %s`,
        async (order) => {
          const server = net.createServer()
          let listening: Promise<net.Server & { port: number }> | undefined
          for (const step of order.split(' → ')) {
            if (step === 'rule') processWide(ruleOf(ruleKind), { accepted: true, outgoing: false })
            if (step === 'keepaliveServer') keepaliveServer(server, serverKind === 'static' ? SPECIFIC : () => SPECIFIC)
            if (step === 'listen') await (listening = listen(server))
          }
          const listened = await listening!
          // Two connections: the first may be the one a static keepaliveServer verifies inheritance on.
          expect(await acceptedOnce(listened)).toMatchObject(WON)
          expect(await acceptedOnce(listened)).toMatchObject(WON)
        },
      )
    }
  }

  const whens = ['before connect()', 'after connect()', 'in a connect listener'] as const
  for (const ruleKind of ['static', 'function'] as const) {
    it.each(whens.map((when) => [when]))(`outgoing: the socket's own configureKeepalive %s over a ${ruleKind} rule`, async (when) => {
      const server = await listen(net.createServer())
      processWide(ruleOf(ruleKind))
      const socket = new net.Socket()
      if (when === 'before connect()') configureKeepalive(socket, SPECIFIC)
      socket.connect(server.port, '127.0.0.1')
      if (when === 'after connect()') configureKeepalive(socket, SPECIFIC)
      if (when === 'in a connect listener') socket.once('connect', () => configureKeepalive(socket, SPECIFIC))
      await once(socket, 'connect')
      expect(readKeepalive(socket)).toMatchObject(WON)
      socket.destroy()
    })

    for (const order of ['rule first', 'rule last'] as const) {
      it(`outgoing: keepaliveAgent and keepaliveConnector over a ${ruleKind} rule, ${order}`, async () => {
        const server = await listen(http.createServer((_request, response) => response.end('ok')))
        const accepted: net.Socket[] = []
        server.on('connection', (socket: net.Socket) => accepted.push(socket))
        if (order === 'rule first') processWide(ruleOf(ruleKind))
        const agent = keepaliveAgent(new http.Agent({ keepAlive: true }), SPECIFIC)
        const dispatcher = new Agent({ connect: keepaliveConnector(SPECIFIC) })
        if (order === 'rule last') processWide(ruleOf(ruleKind))
        const [response] = (await once(http.get({ host: '127.0.0.1', port: server.port, agent }), 'response')) as [http.IncomingMessage]
        expect(readKeepalive(response.socket)).toMatchObject(WON)
        response.resume()
        const { body } = await request(`http://127.0.0.1:${server.port}/`, { dispatcher })
        await body.text()
        // undici keeps its socket to itself: its end read from outside, found by the accepted end's ports.
        expect(clientSideOf(accepted[1])).toMatchObject(WON)
        agent.destroy()
        await dispatcher.close()
      })
    }
  }

  it.each([
    ['static', 'static'],
    ['static', 'function'],
    ['function', 'static'],
    ['function', 'function'],
  ] as const)('among rules the later call wins: %s then %s, outgoing and accepted', async (first, second) => {
    const [earlier, later] = [
      { idle: 20_000, count: 4 },
      { idle: 40_000, interval: 3_000 },
    ]
    processWide(first === 'static' ? earlier : () => earlier, { accepted: true })
    processWide(second === 'static' ? later : () => later, { accepted: true })
    const server = await listen(net.createServer())
    const accepted = once(server, 'connection') as Promise<[net.Socket]>
    const client = net.connect(server.port, '127.0.0.1')
    await once(client, 'connect')
    const expected = { enabled: true, idle: 40_000, interval: 3_000, count: 4 }
    expect(readKeepalive(client)).toMatchObject(expected)
    expect(readKeepalive((await accepted)[0])).toMatchObject(expected)
    client.destroy()
  })
})

describe("a rule's mistakes leave the connection as it was, and are named once", () => {
  const mistakes: Array<[string, () => unknown, RegExp]> = [
    [
      'throws',
      () => {
        throw new Error('boom')
      },
      /threw Error: boom/,
    ],
    ["returns { idle: 'x' }", () => ({ idle: 'x' }), /not valid: TypeError \[ERR_INVALID_ARG_TYPE\]/],
    ['returns null', () => null, /not valid: TypeError \[ERR_INVALID_ARG_TYPE\]/],
    ['returns {}', () => ({}), /not valid: TypeError \[ERR_INVALID_ARG_VALUE\]/],
    ['returns 5000', () => 5000, /not valid: TypeError \[ERR_INVALID_ARG_TYPE\]/],
    ['is async', async () => RULE, /returned a Promise/],
    [
      'is async and rejects',
      async () => {
        throw new Error('later')
      },
      /returned a Promise/,
    ],
  ]

  it.each(mistakes)('a rule that %s: both ends untouched and working, one warning for two connections', async (_name, mistake, said) => {
    // A server with no 'error' listener on its sockets: an 'error' there would stop the process.
    const server = await listen(net.createServer((socket) => socket.pipe(socket)))
    processWide(mistake as () => KeepaliveOptions, { accepted: true })
    for (let i = 0; i < 2; i++) {
      const accepted = once(server, 'connection') as Promise<[net.Socket]>
      const client = net.connect(server.port, '127.0.0.1')
      await once(client, 'connect')
      client.write('x')
      const [data] = (await once(client, 'data')) as [Buffer]
      expect(data.toString()).toBe('x')
      expect(readKeepalive(client).enabled).toBe(false)
      expect(readKeepalive((await accepted)[0]).enabled).toBe(false)
      client.destroy()
    }
    await new Promise((resolve) => setImmediate(resolve))
    const said_ = warnings.filter(({ code }) => code === 'TCP_KEEPALIVE_RULE_FAILED')
    expect(said_).toHaveLength(1) // one rule, once, though it ran for 4 sockets
    expect(said_[0].message).toMatch(said)
  })

  it('keepaliveServer with a function that throws: the connection is served, untouched, one warning', async () => {
    const server = await listen(
      keepaliveServer(
        net.createServer((socket) => socket.pipe(socket)),
        function pick() {
          throw new Error('no')
        },
      ),
    )
    const client = net.connect(server.port, '127.0.0.1')
    client.write('y')
    const [data] = (await once(client, 'data')) as [Buffer]
    expect(data.toString()).toBe('y')
    client.destroy()
    expect(warnings.filter(({ code }) => code === 'TCP_KEEPALIVE_RULE_FAILED').map(({ message }) => message)).toEqual([
      "tcp-keepalive: the keepaliveServer function 'pick' threw Error: no; its connections are left as they were",
    ])
  })
})

describe('one listener per socket, each rule once per connection', () => {
  it('a socket that reconnects 12 times: no listener piles up, a function rule runs once when it connects', async () => {
    const server = net.createServer()
    const refused = await listen(net.createServer())
    const port = refused.port
    await new Promise((resolve) => refused.close(resolve)) // nothing listens there now: each attempt is refused
    let calls = 0
    processWide(
      () => {
        calls++
        return RULE
      },
      { ports: [port] },
    )
    const socket = new net.Socket()
    socket.on('error', () => undefined)
    for (let attempt = 0; attempt < 11; attempt++) {
      socket.connect(port, '127.0.0.1')
      await new Promise((resolve) => socket.once('close', resolve)) // (once() would reject on the 'error' before it)
    }
    expect(socket.listenerCount('connect')).toBeLessThanOrEqual(1)
    server.listen(port, '127.0.0.1')
    await once(server, 'listening')
    socket.connect(port, '127.0.0.1')
    await once(socket, 'connect')
    expect(calls).toBe(1)
    expect(readKeepalive(socket)).toMatchObject({ enabled: true, ...RULE })
    expect(warnings.filter(({ message }) => message.includes('MaxListeners'))).toEqual([])
    socket.destroy()
    server.close()
  })

  it('ten function rules over 30 connections: no warning, each rule called 30 times, the last one wins', async () => {
    const server = await listen(net.createServer())
    const calls = Array.from({ length: 10 }, () => 0)
    for (let i = 0; i < 10; i++) {
      processWide(() => {
        calls[i]++
        return { idle: (i + 1) * 1_000 }
      })
    }
    const clients = Array.from({ length: 30 }, () => net.connect(server.port, '127.0.0.1'))
    await Promise.all(clients.map((client) => once(client, 'connect')))
    for (const client of clients) {
      expect(readKeepalive(client).idle).toBe(10_000)
      expect(client.listenerCount('connect')).toBe(0)
      client.destroy()
    }
    expect(calls).toEqual(Array.from({ length: 10 }, () => 30))
    expect(warnings).toEqual([])
  })
})

describe('rules at the edges', () => {
  it('a rule that stops itself in its function: the next rule still decides that connection (accepted)', async () => {
    const server = await listen(net.createServer())
    const first: ProcessKeepalive = processWide(
      () => {
        first.stop()
        return undefined
      },
      { accepted: true, outgoing: false },
    )
    processWide({ idle: 44_000 }, { accepted: true, outgoing: false })
    const accepted = once(server, 'connection') as Promise<[net.Socket]>
    const client = net.connect(server.port, '127.0.0.1')
    await once(client, 'connect')
    await new Promise((resolve) => setImmediate(resolve)) // listening before the rules: configured through the channel
    expect(readKeepalive((await accepted)[0]).idle).toBe(44_000)
    client.destroy()
  })

  it('a scope with an unknown key, no ports, or nothing to configure is refused', () => {
    for (const scope of [{ port: [5432] }, { ports: [] }, { outgoing: false, accepted: false }]) {
      expect(() => keepaliveProcess(RULE, scope as never), JSON.stringify(scope)).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }),
      )
    }
  })

  it('info.servername only for TLS connections', async () => {
    const plain = await listen(http.createServer((_request, response) => response.end('ok')))
    const secure = await listen(https.createServer(tlsOptions, (_request, response) => response.end('ok')))
    const seen: ConnectionInfo[] = []
    processWide((_socket, info) => {
      seen.push(info)
      return undefined
    })
    for (const [module, port] of [
      [http, plain.port],
      [https, secure.port],
    ] as const) {
      const [response] = (await once(
        module.get({ host: 'localhost', port, ca: tlsOptions.cert, agent: false, family: 4 } as https.RequestOptions),
        'response',
      )) as [http.IncomingMessage]
      response.resume()
    }
    expect(seen.map(({ remotePort, servername }) => ({ remotePort, servername }))).toEqual([
      { remotePort: plain.port, servername: undefined },
      { remotePort: secure.port, servername: 'localhost' },
    ])
  })

  it("a port given as a string Node reads as a number ('0x...') is a port, not a Unix path", async () => {
    const server = await listen(net.createServer())
    processWide(RULE, { ports: [server.port] })
    const client = new net.Socket().connect(`0x${server.port.toString(16)}` as never, '127.0.0.1')
    await once(client, 'connect')
    expect(readKeepalive(client)).toMatchObject({ enabled: true, ...RULE })
    client.destroy()
  })

  it("after server.removeAllListeners('connection') accepted connections are still configured", async () => {
    processWide(RULE, { accepted: true, outgoing: false })
    const server = await listen(net.createServer())
    server.removeAllListeners('connection')
    const accepted = new Promise<net.Socket>((resolve) => server.on('connection', resolve))
    const client = net.connect(server.port, '127.0.0.1')
    await once(client, 'connect')
    const socket = await accepted
    await new Promise((resolve) => setImmediate(resolve))
    expect(readKeepalive(socket)).toMatchObject({ enabled: true, ...RULE })
    client.destroy()
    socket.destroy()
  })
})

describe('a platform whose accepted sockets do not inherit (macOS), as the binding would report it', () => {
  it('keepaliveServer and an accepted rule leave the listening socket alone and configure each connection', () => {
    const out = JSON.parse(execFileSync(process.execPath, [path.join(__dirname, 'children', 'no-inherit.cjs')], { encoding: 'utf8' }))
    const untouched = { enabled: false, idle: 7_200_000 }
    const configured = { enabled: true, idle: 33_000, interval: 3_000, count: 4 }
    for (const integration of ['keepaliveServer', 'keepaliveProcess']) {
      expect(out[integration], integration).toMatchObject({ listener: untouched, accepted: configured })
    }
  })
})
