// Run by other-node.test.ts under a second Node version: the built package
// in native mode, round-tripping every field. Prints one JSON line.
'use strict'
const { once } = require('node:events')
const net = require('node:net')
const path = require('node:path')
const { configureKeepalive, readKeepalive, keepaliveSupport } = require(path.join(__dirname, '..', '..'))

async function main() {
  const server = net.createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const socket = net.connect(server.address().port, '127.0.0.1')
  await once(socket, 'connect')
  configureKeepalive(socket, { idle: 1_500, interval: 5_000, count: 4, userTimeout: 5_000 })
  socket.setKeepAlive(true, 9_000)
  const result = { node: process.version, native: keepaliveSupport.native, afterSetKeepAlive: readKeepalive(socket) }
  socket.destroy()
  server.close()
  process.stdout.write(`${JSON.stringify(result)}\n`)
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`)
  process.exit(1)
})
