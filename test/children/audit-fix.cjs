// A server for the audit's fix lines: one listener configured as nginx's
// `listen ... so_keepalive=10s:3s:4` (its accepted connections inherit that:
// found within 22 s), one plain. Prints its ports as one JSON line, then idles until killed.
'use strict'
const { once } = require('node:events')
const net = require('node:net')
const path = require('node:path')
const { configureKeepalive } = require(path.join(__dirname, '..', '..'))

async function main() {
  const configured = net.createServer().listen(0, '127.0.0.1')
  const plain = net.createServer().listen(0, '127.0.0.1')
  await Promise.all([once(configured, 'listening'), once(plain, 'listening')])
  configureKeepalive(configured._handle.fd, { idle: 10_000, interval: 3_000, count: 4 })
  process.stdout.write(`${JSON.stringify({ configured: configured.address().port, plain: plain.address().port })}\n`)
  setInterval(() => {}, 60_000)
}

main()
