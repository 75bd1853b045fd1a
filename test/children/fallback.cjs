// Run by fallback.test.ts in a child process with TCP_KEEPALIVE_FORCE_FALLBACK=1,
// under each Node version to test. Drives the built package through Node's
// setKeepAlive and reads the truth with the native binding (getsockopt),
// which the library itself is not using in this mode. Prints one JSON line.
'use strict'
const { once } = require('node:events')
const net = require('node:net')
const path = require('node:path')
const root = path.join(__dirname, '..', '..')
const { configureKeepalive, readKeepalive, readTcpInfo, keepaliveSupport } = require(root)
const oracle = require('node-gyp-build')(root)

const warnings = []
process.on('warning', (warning) => warnings.push({ code: warning.code, message: warning.message }))

function kernel(socket) {
  if (oracle.read(socket._handle.fd, true) !== 0) throw new Error('oracle read failed')
  const [enabled, idle, interval, count, userTimeout] = oracle.values
  return { enabled: enabled === 1, idle: idle * 1000, interval: interval * 1000, count, userTimeout }
}

function errorOf(call) {
  try {
    call()
    return null
  } catch (error) {
    return { code: error.code, message: error.message }
  }
}

async function main() {
  const server = net.createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const connect = async () => {
    const socket = net.connect(server.address().port, '127.0.0.1')
    await once(socket, 'connect')
    return socket
  }
  const result = { node: process.version, support: keepaliveSupport }

  const a = await connect()
  configureKeepalive(a, { idle: 1_500, interval: 5_000, count: 4, userTimeout: 5_000 })
  result.configured = kernel(a)
  result.read = readKeepalive(a)
  a.setKeepAlive(true, 9_000)
  result.afterSetKeepAlive = kernel(a)
  a.setKeepAlive(false)
  result.afterDisable = kernel(a)

  const b = await connect()
  const before = kernel(b)
  result.strictError = errorOf(() => configureKeepalive(b, { idle: 3_000, userTimeout: 5_000, strict: true }))
  result.unchangedAfterStrict = JSON.stringify(kernel(b)) === JSON.stringify(before)
  result.fdError = errorOf(() => configureKeepalive(b._handle.fd, { idle: 3_000 }))
  result.tcpInfoError = errorOf(() => readTcpInfo(b))

  const c = await connect()
  configureKeepalive(c, { idle: 4_000, interval: 2_000, count: 5 })
  configureKeepalive(c, { count: 6 }) // alone Node cannot set it; with the remembered idle it can
  result.merged = kernel(c)

  result.warnings = warnings
  for (const socket of [a, b, c]) socket.destroy()
  server.close()
  process.stdout.write(`${JSON.stringify(result)}\n`)
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`)
  process.exit(1)
})
