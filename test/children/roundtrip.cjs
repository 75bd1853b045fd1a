// Run by prebuilds.test.ts on each prebuild's own runtime (with
// PREBUILDS_ONLY=1, and LIBC=musl for musl): loads the package, configures a
// real socket, reads it back. Prints one JSON line.
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
  configureKeepalive(socket, { idle: 9_000, interval: 4_000, count: 6, userTimeout: 12_000 })
  const result = {
    runtime: process.versions.bun ? `bun ${process.versions.bun}` : `node ${process.version}`,
    arch: process.arch,
    native: keepaliveSupport.native,
    reason: keepaliveSupport.reason,
    binding: path.relative(root, bindingPath()),
    read: readKeepalive(socket),
  }
  socket.destroy()
  server.close()
  process.stdout.write(`${JSON.stringify(result)}\n`)
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`)
  process.exit(1)
})
