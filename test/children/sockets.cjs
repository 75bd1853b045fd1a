// A process for `tcp-keepalive inspect` to look into: a listener, a client
// connection with known keepalive settings, one without, and an IPv6
// listener. Prints its ports as one JSON line, then idles until killed.
'use strict'
const { once } = require('node:events')
const net = require('node:net')
const path = require('node:path')
const { configureKeepalive } = require(path.join(__dirname, '..', '..'))

async function main() {
  const server = net.createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = server.address().port
  const configured = net.connect(port, '127.0.0.1')
  await once(configured, 'connect')
  configureKeepalive(configured, { idle: 45_000, interval: 5_000, count: 4, userTimeout: 30_000 })
  const plain = net.connect(port, '127.0.0.1')
  await once(plain, 'connect')
  const v6 = net.createServer().listen(0, '::1')
  await once(v6, 'listening')
  process.stdout.write(`${JSON.stringify({ port, configured: configured.localPort, plain: plain.localPort, v6: v6.address().port })}\n`)
  setInterval(() => {}, 60_000)
}

main()
