// Configured settings survive socket.setKeepAlive(true, ...), which Node's
// http.Agent, undici, pg and mysql2 call and which makes libuv rewrite
// idle, interval (1 s) and count (10).
import { once } from 'node:events'
import http from 'node:http'
import net from 'node:net'
import tls from 'node:tls'
import { afterEach, describe, expect, it } from 'vitest'
import { configureKeepalive, readKeepalive } from '../lib/index.js'
import { closeAll, fdOf, listen, tcpPair, tlsOptions } from './helpers.js'

afterEach(closeAll)

const configured = { idle: 30_000, interval: 5_000, count: 3, userTimeout: 20_000 }

describe('setKeepAlive after configureKeepalive', () => {
  it('control: without the library, setKeepAlive rewrites idle, interval and count', async () => {
    const { client } = await tcpPair()
    client.setKeepAlive(true, 5_000)
    expect(readKeepalive(client)).toMatchObject({ enabled: true, idle: 5_000, interval: 1_000, count: 10 })
  })

  it('setKeepAlive(true, delay) leaves every configured field as configured', async () => {
    const { client } = await tcpPair()
    configureKeepalive(client, configured)
    client.setKeepAlive(true, 5_000)
    client.setKeepAlive(true, 60_000)
    expect(readKeepalive(client)).toEqual({ enabled: true, ...configured })
  })

  it('setKeepAlive(false) still turns keepalive off; setKeepAlive(true) brings the configured values back', async () => {
    const { client } = await tcpPair()
    configureKeepalive(client, configured)
    client.setKeepAlive(false)
    expect(readKeepalive(client).enabled).toBe(false)
    client.setKeepAlive(true, 1_000)
    expect(readKeepalive(client)).toEqual({ enabled: true, ...configured })
  })

  it('fields never configured follow setKeepAlive as usual', async () => {
    const { client } = await tcpPair()
    configureKeepalive(client, { count: 3 })
    client.setKeepAlive(true, 8_000)
    expect(readKeepalive(client)).toMatchObject({ enabled: true, idle: 8_000, interval: 1_000, count: 3 })
  })

  it('a later configure writes only the fields it is given; setKeepAlive brings back every configured one', async () => {
    const { client } = await tcpPair()
    configureKeepalive(client, { idle: 30_000 })
    configureKeepalive(fdOf(client), { idle: 60_000 }) // changed behind the socket's back
    configureKeepalive(client, { count: 5 })
    expect(readKeepalive(client)).toMatchObject({ idle: 60_000, count: 5 })
    client.setKeepAlive(true, 1_000)
    expect(readKeepalive(client)).toMatchObject({ idle: 30_000, count: 5 })
  })

  it('a socket that takes no new property (Object.preventExtensions) is configured, and configured again', async () => {
    // (Node 24+'s own setKeepAlive adds a property and throws on such a socket, so stickiness is not exercised here.)
    const { client } = await tcpPair()
    Object.preventExtensions(client)
    configureKeepalive(client, configured)
    expect(readKeepalive(client)).toEqual({ enabled: true, ...configured })
    configureKeepalive(client, { count: 7 })
    expect(readKeepalive(client)).toEqual({ enabled: true, ...configured, count: 7 })
  })

  it('a configured enable: false wins over a later setKeepAlive(true)', async () => {
    const { client } = await tcpPair()
    configureKeepalive(client, { enable: false })
    client.setKeepAlive(true, 1_000)
    expect(readKeepalive(client).enabled).toBe(false)
  })

  it('setKeepAlive returns the socket, as Node does', async () => {
    const { client } = await tcpPair()
    configureKeepalive(client, configured)
    expect(client.setKeepAlive(true, 1_000)).toBe(client)
  })

  it('a setKeepAlive made in a user connect listener (as pg does) does not undo options set while connecting', async () => {
    const server = await listen(net.createServer())
    const client = net.connect({ host: 'localhost', port: server.port, family: 4 })
    configureKeepalive(client, configured)
    client.setKeepAlive(true, 2_000) // while pending: Node stores it and applies it when the handle opens
    client.on('connect', () => client.setKeepAlive(true, 9_000))
    await once(client, 'connect')
    expect(readKeepalive(client)).toEqual({ enabled: true, ...configured })
    client.destroy()
  })
})

describe('setKeepAlive while connecting, and through a TLS wrapper', () => {
  async function connectingClient(): Promise<net.Socket> {
    const server = await listen(net.createServer())
    const client = net.connect({ host: 'localhost', port: server.port, family: 4 }) // DNS first: still connecting
    configureKeepalive(client, configured)
    return client
  }

  it('setKeepAlive(false) while connecting: keepalive is off after connect', async () => {
    const client = await connectingClient()
    client.setKeepAlive(false)
    await once(client, 'connect')
    expect(readKeepalive(client).enabled).toBe(false)
    client.setKeepAlive(true, 1_000) // and back on: everything configured
    expect(readKeepalive(client)).toEqual({ enabled: true, ...configured })
    client.destroy()
  })

  it('the last word wins: setKeepAlive(false), then true, or a configure, while connecting', async () => {
    const onAgain = await connectingClient()
    onAgain.setKeepAlive(false)
    onAgain.setKeepAlive(true, 1_000)
    const reconfigured = await connectingClient()
    reconfigured.setKeepAlive(false)
    configureKeepalive(reconfigured, { count: 4 })
    await Promise.all([once(onAgain, 'connect'), once(reconfigured, 'connect')])
    expect(readKeepalive(onAgain)).toEqual({ enabled: true, ...configured })
    expect(readKeepalive(reconfigured)).toEqual({ enabled: true, ...configured, count: 4 })
    onAgain.destroy()
    reconfigured.destroy()
  })

  it('a TLSSocket over a configured socket: its setKeepAlive keeps the configured fields', async () => {
    const server = await listen(tls.createServer(tlsOptions))
    const raw = net.connect(server.port, '127.0.0.1')
    configureKeepalive(raw, configured)
    await once(raw, 'connect')
    const secure = tls.connect({ socket: raw, ca: tlsOptions.cert, servername: 'localhost' })
    await once(secure, 'secureConnect')
    secure.setKeepAlive(true, 1_000)
    expect(readKeepalive(raw)).toEqual({ enabled: true, ...configured })
    expect(readKeepalive(secure)).toEqual({ enabled: true, ...configured })
    secure.setKeepAlive(false)
    expect(readKeepalive(raw).enabled).toBe(false)
    secure.destroy()
  })
})

describe('http.Agent reuse', () => {
  // The agent calls socket.setKeepAlive(true, keepAliveMsecs) each time it reuses a pooled socket.
  async function twoRequestsOnOnePooledSocket(configure: boolean) {
    const server = await listen(http.createServer((_request, response) => response.end('ok')))
    const agent = new http.Agent({ keepAlive: true, keepAliveMsecs: 1_000, maxSockets: 1 })
    const sockets: net.Socket[] = []
    for (let i = 0; i < 2; i++) {
      const request = http.get({ host: '127.0.0.1', port: server.port, agent })
      request.on('socket', (socket: net.Socket) => {
        sockets.push(socket)
        if (configure && i === 0) configureKeepalive(socket, configured)
      })
      const [response] = (await once(request, 'response')) as [http.IncomingMessage]
      response.resume()
      await once(response, 'end')
    }
    expect(sockets[1]).toBe(sockets[0])
    const state = readKeepalive(sockets[1])
    agent.destroy()
    return state
  }

  it('control: reuse resets the socket to idle 1 s, interval 1 s, count 10', async () => {
    expect(await twoRequestsOnOnePooledSocket(false)).toMatchObject({ idle: 1_000, interval: 1_000, count: 10 })
  })

  it('configured settings survive reuse', async () => {
    expect(await twoRequestsOnOnePooledSocket(true)).toEqual({ enabled: true, ...configured })
  })
})
