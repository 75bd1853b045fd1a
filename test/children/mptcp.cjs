// Run by fault.test.ts with the shim preloaded and TCP_KEEPALIVE_MPTCP=1:
// every TCP socket of this process is Multipath TCP. Configures and reads a
// connected socket (Node's TCP handle) and its fd. One JSON line.
'use strict'
const { execFileSync } = require('node:child_process')
const { once } = require('node:events')
const net = require('node:net')
const path = require('node:path')
const { configureKeepalive, readKeepalive } = require(path.join(__dirname, '..', '..'))

function attempt(call) {
  try {
    return { result: call() }
  } catch (error) {
    return { error: { code: error.code, message: error.message, applied: error.applied } }
  }
}

async function main() {
  const server = net.createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const socket = net.connect(server.address().port, '127.0.0.1')
  await once(socket, 'connect')
  const fd = socket._handle.fd
  const result = {
    localPort: socket.localPort,
    // The independent oracle: ss lists MPTCP sockets with -M.
    ssMptcp: execFileSync('ss', ['-Mn', 'state', 'established', `sport = :${socket.localPort}`], { encoding: 'utf8' }),
    socket: attempt(() => readKeepalive(configureKeepalive(socket, { idle: 12_000, interval: 4_000, count: 5 }))),
    fd: attempt(() => readKeepalive(configureKeepalive(fd, { idle: 13_000, interval: 3_000, count: 6 }))),
    before: readKeepalive(socket),
    userTimeout: attempt(() => configureKeepalive(socket, { idle: 20_000, userTimeout: 5_000 })),
    after: readKeepalive(socket),
  }
  socket.destroy()
  server.close()
  process.stdout.write(`${JSON.stringify(result)}\n`)
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`)
  process.exit(1)
})
