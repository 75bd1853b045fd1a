// Run by fault.test.ts with test/fault/shim.c preloaded: makes the n-th
// keepalive setsockopt of a configure call fail, and shortens TCP_INFO, then
// reports what the library said and what the kernel holds. One JSON line.
'use strict'
const { once } = require('node:events')
const net = require('node:net')
const { constants } = require('node:os')
const path = require('node:path')
const { configureKeepalive, readKeepalive, readTcpInfo } = require(path.join(__dirname, '..', '..'))

const options = { idle: 11_000, interval: 3_000, count: 4, userTimeout: 6_000 } // written userTimeout first, enable last

async function main() {
  const server = net.createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const connect = async () => {
    const socket = net.connect(server.address().port, '127.0.0.1')
    await once(socket, 'connect')
    return socket
  }
  const failures = []
  for (const target of ['socket', 'fd']) {
    for (let nth = 1; nth <= 5; nth++) {
      const socket = await connect()
      const before = readKeepalive(socket)
      process.env.TCP_KEEPALIVE_FAIL_SETSOCKOPT = `${nth}:${constants.errno.ENOMEM}`
      let error = null
      try {
        configureKeepalive(target === 'fd' ? socket._handle.fd : socket, options)
      } catch (caught) {
        error = { code: caught.code, errno: caught.errno, syscall: caught.syscall, message: caught.message, applied: caught.applied }
      }
      process.env.TCP_KEEPALIVE_FAIL_SETSOCKOPT = ''
      const after = readKeepalive(socket)
      socket.setKeepAlive(true, 60_000) // the failed call must not have been recorded as configured
      failures.push({ target, nth, before, error, after, afterSetKeepAlive: readKeepalive(socket) })
      socket.destroy()
    }
  }

  const socket = await connect()
  const tcpInfo = {}
  for (const length of ['', '8', '0']) {
    process.env.TCP_KEEPALIVE_TCP_INFO_LENGTH = length
    tcpInfo[length || 'full'] = readTcpInfo(socket)
  }
  socket.destroy()
  server.close()
  process.stdout.write(`${JSON.stringify({ failures, tcpInfo })}\n`)
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`)
  process.exit(1)
})
