// Run by runtimes.test.ts under Bun and Deno, where the lookup finds each
// socket's fd by its addresses: many sockets with close addresses, each
// configured with its own settings. Two listeners on the same port (127.0.0.1
// and 127.0.0.2), their accepted sockets (same local address and port,
// different peers), clients sharing one local port towards both, and http
// server connections configured one by one; under Deno, SO_REUSEPORT twins. Prints one JSON line: every
// socket's addresses, what it was given and what readKeepalive read back;
// then keeps them open until stdin closes.
'use strict'
const { once } = require('node:events')
const http = require('node:http')
const net = require('node:net')
const path = require('node:path')
const { configureKeepalive, keepaliveServer, keepaliveSupport, readKeepalive } = require(path.join(__dirname, '..', '..'))

const warnings = []
process.on('warning', (warning) => warnings.push(warning.message))

const sockets = []
let next = 0
/** Distinct settings for each socket, in the order they are given out. */
function own() {
  next++
  return { idle: (20 + next) * 1000, interval: next * 1000, count: 1 + (next % 100), userTimeout: next * 1000 }
}
function record(socket, given) {
  sockets.push({
    socket,
    given,
    local: `${socket.localAddress}:${socket.localPort}`,
    remote: `${socket.remoteAddress}:${socket.remotePort}`,
  })
}
const v4 = (address) => address.replace(/^::ffff:/, '')

async function listener(host, port, settings) {
  const server = keepaliveServer(net.createServer(), settings).listen(port, host)
  await once(server, 'listening')
  return server
}

async function connectFrom(localPort, server) {
  const accepted = once(server, 'connection')
  const client = net.connect({ port: server.address().port, host: server.address().address, localAddress: '127.0.0.1', localPort })
  await once(client, 'connect')
  const [socket] = await accepted
  return { client, accepted: socket }
}

async function main() {
  const first = await listener('127.0.0.1', 0, { idle: 50_000, interval: 5_000, count: 5, userTimeout: 0 })
  const port = first.address().port
  const second = await listener('127.0.0.2', port, { idle: 51_000, interval: 6_000, count: 6, userTimeout: 0 })
  const listeners = [
    { server: first, given: { idle: 50_000, interval: 5_000, count: 5, userTimeout: 0 } },
    { server: second, given: { idle: 51_000, interval: 6_000, count: 6, userTimeout: 0 } },
  ]

  // Where every listener is found by address (Deno): two SO_REUSEPORT twins on one port, found together,
  // both configured by keepaliveServer on one of them.
  if (keepaliveSupport.fdSource === 'lookup') {
    const twinGiven = { idle: 52_000, interval: 7_000, count: 7, userTimeout: 0 }
    const other = net.createServer().listen({ port: 0, host: '127.0.0.1', reusePort: true })
    await once(other, 'listening')
    const twin = keepaliveServer(net.createServer(), twinGiven).listen({ port: other.address().port, host: '127.0.0.1', reusePort: true })
    await once(twin, 'listening')
    listeners.push({ server: twin, given: twinGiven, twins: 2 })
  }

  // Two clients bound to one local port, one to each listener: the first binds a port of the kernel's choosing.
  const pairs = [await connectFrom(0, first)]
  const shared = pairs[0].client.localPort
  pairs.push(await connectFrom(shared, second))
  for (let i = 0; i < 3; i++) pairs.push(await connectFrom(0, first))
  // Configured in an order that is not the order of the fds.
  for (const { accepted } of [...pairs].reverse()) {
    const given = own()
    configureKeepalive(accepted, given)
    record(accepted, given)
  }
  for (const { client } of pairs) {
    const given = own()
    configureKeepalive(client, given)
    record(client, given)
  }

  // An http server whose connections are configured one by one.
  const httpGiven = new Map()
  const httpServer = keepaliveServer(
    http.createServer((request, response) => response.end('ok')),
    (socket) => {
      const given = own()
      httpGiven.set(socket, given)
      return given
    },
  )
  httpServer.listen(0, '127.0.0.1')
  await once(httpServer, 'listening')
  for (let i = 0; i < 3; i++) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    await new Promise((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: httpServer.address().port, agent }, (response) => response.resume().on('end', resolve))
        .on('error', reject)
    })
  }
  for (const [socket, given] of httpGiven) record(socket, given)

  // Again and again, each round in another order with new settings for every socket, each read back
  // after all were written: the fds kept on the sockets must go on naming the right ones.
  const misread = []
  for (let round = 1; round <= 5; round++) {
    const order = sockets.map((_, i) => sockets[(i * 7 + round) % sockets.length])
    for (const entry of order) {
      entry.given = own()
      configureKeepalive(entry.socket, entry.given)
    }
    for (const { socket, given, local, remote } of sockets) {
      const read = readKeepalive(socket)
      if (read.idle !== given.idle || read.count !== given.count) misread.push({ round, local, remote, given, read })
    }
  }
  await new Promise((resolve) => setTimeout(resolve, 50)) // let warnings be delivered

  const report = sockets.map(({ socket, given, local, remote }) => ({
    local: v4(local),
    remote: v4(remote),
    given,
    read: readKeepalive(socket),
  }))
  for (const { server, given, twins = 1 } of listeners) {
    report.push({ local: `${server.address().address}:${server.address().port}`, remote: '0.0.0.0:0', given, read: null, twins })
  }
  process.stdout.write(`${JSON.stringify({ sharedLocalPort: shared, sockets: report, misread, warnings })}\n`)
  process.stdin.resume()
  process.stdin.on('end', () => process.exit(0))
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`)
  process.exit(1)
})
