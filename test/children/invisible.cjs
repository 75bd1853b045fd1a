// Run by invisible.test.ts plainly and under the preload: what a program can
// see of its own servers and sockets. Each case prints one JSON line, the same
// with and without the preload when the package is invisible; anything the
// package prints goes to stderr.
'use strict'
const { once } = require('node:events')
const http = require('node:http')
const net = require('node:net')
const path = require('node:path')
const tls = require('node:tls')
const util = require('node:util')
const { readFileSync } = require('node:fs')

const fixtures = path.join(__dirname, '..', 'fixtures')
const tlsOptions = { key: readFileSync(path.join(fixtures, 'key.pem')), cert: readFileSync(path.join(fixtures, 'cert.pem')) }

/** Every event's listener count, in the server's event order. */
function counts(server) {
  return Object.fromEntries(server.eventNames().map((name) => [String(name), server.listenerCount(name)]))
}

const cases = {
  // Listener counts before listen(), while listening (before and after a connection) and after close(),
  // for a server with 9 'connection' and 9 'close' listeners too (with once()'s, one more would make a MaxListenersExceededWarning).
  async listeners() {
    const result = {}
    const servers = {
      net: net.createServer(),
      http: http.createServer(),
      tls: tls.createServer(tlsOptions),
      crowded: net.createServer(),
    }
    for (let i = 0; i < 9; i++) servers.crowded.on('connection', () => {}).on('close', () => {})
    for (const [name, server] of Object.entries(servers)) {
      const seen = [counts(server)]
      server.listen(0, '127.0.0.1')
      seen.push(counts(server))
      await once(server, 'listening')
      seen.push(counts(server))
      const accepted = once(server, 'connection')
      const client = net.connect(server.address().port, '127.0.0.1')
      const [socket] = await accepted
      await new Promise((resolve) => setImmediate(resolve))
      seen.push(counts(server), socket.listenerCount('connect'))
      client.destroy()
      socket.destroy()
      server.close()
      await once(server, 'close')
      seen.push(counts(server))
      result[name] = seen
    }
    return result
  },

  // Node's test-handle-wrap-hasref.js: the listening handle closed under the server, which still emits 'listening'.
  async hasref() {
    const server = net.createServer(() => {}).listen(0)
    const listening = once(server, 'listening')
    await new Promise((resolve) => server._handle.close(resolve))
    await listening
    return { closed: true, listening: server.listening }
  },

  // Node's test-tls-connect-abort-controller.js, made deterministic: a TLS socket whose TLS handle is gone
  // (its fd reads -22) when its TCP connection comes up, as one aborted while it connects.
  async torndown() {
    const server = net.createServer((socket) => socket.destroy()).listen(0, '127.0.0.1')
    await once(server, 'listening')
    const events = []
    const socket = tls.connect({ port: server.address().port, host: '127.0.0.1', rejectUnauthorized: false })
    socket._handle.destroySSL()
    socket.on('connect', () => events.push(`connect, fd ${socket._handle.fd}`))
    socket.on('error', (error) => events.push(error.code))
    await new Promise((resolve) => socket.on('close', resolve))
    server.close()
    return events
  },

  // What util.inspect (console.log) shows of a server and a connection's sockets and handles, at both ends.
  async inspect() {
    const server = net.createServer().listen(0, '127.0.0.1')
    await once(server, 'listening')
    const accepted = once(server, 'connection')
    const client = net.connect(server.address().port, '127.0.0.1')
    await once(client, 'connect')
    const [socket] = await accepted
    await new Promise((resolve) => setImmediate(resolve))
    socket.setKeepAlive(true, 1000) // sticky: the socket's state is in use
    client.setKeepAlive(true, 1000)
    const shown = [server, socket, socket._handle, client, client._handle].map((each) => util.inspect(each)) // what console.log prints
    client.destroy()
    socket.destroy()
    server.close()
    return shown.map((text) => (text.match(/tcp-keepalive[^\]]*/g) ?? []).join(','))
  },
}

cases[process.argv[2]]().then((result) => console.log(JSON.stringify(result)))
