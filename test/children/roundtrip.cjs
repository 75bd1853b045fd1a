// The native path on another runtime: run by prebuilds.test.ts on each
// prebuild's own runtime (with PREBUILDS_ONLY=1, and LIBC=musl for musl) and
// by other-node.test.ts on a second Node. Loads the package, configures a
// real socket, lets Node's setKeepAlive try to undo it, reads it back.
// Prints one JSON line.
'use strict'
const { once } = require('node:events')
const net = require('node:net')
const path = require('node:path')
const root = path.join(__dirname, '..', '..')
const { configureKeepalive, keepaliveSupport, readKeepalive } = require(root)
const { bindingPath } = require(path.join(root, 'dist', 'native.js'))

async function main() {
  const server = net.createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const socket = net.connect(server.address().port, '127.0.0.1')
  await once(socket, 'connect')
  configureKeepalive(socket, { idle: 1_500, interval: 5_000, count: 4, userTimeout: 5_000 })
  socket.setKeepAlive(true, 9_000)
  const result = {
    node: process.version,
    runtime: process.versions.bun ? `bun ${process.versions.bun}` : `node ${process.version}`,
    arch: process.arch,
    native: keepaliveSupport.native,
    reason: keepaliveSupport.reason,
    binding: path.relative(root, bindingPath()),
    afterSetKeepAlive: readKeepalive(socket),
  }
  socket.destroy()
  server.close()
  process.stdout.write(`${JSON.stringify(result)}\n`)
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`)
  process.exit(1)
})
