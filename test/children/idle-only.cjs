// The idle-only warning, in a fresh process (it is said once per process).
// argv[2] 'configure': configureKeepalive on connected sockets, complete
// settings first, then idle alone twice (also run with TCP_KEEPALIVE_FORCE_FALLBACK=1).
// 'connecting': idle alone on a socket still connecting. 'server': keepaliveServer
// with idle alone, one connection. Prints the warnings and what the kernel holds, as JSON.
'use strict'
const { once } = require('node:events')
const net = require('node:net')
const path = require('node:path')
const tk = require(path.join(__dirname, '..', '..'))

const warnings = []
process.on('warning', (warning) => warnings.push({ type: warning.name, code: warning.code, message: warning.message }))

async function main() {
  const server = net.createServer()
  if (process.argv[2] === 'server') tk.keepaliveServer(server, { idle: 20_000 })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const connect = async () => {
    const socket = net.connect(server.address().port, '127.0.0.1')
    await once(socket, 'connect')
    return socket
  }
  let held
  if (process.argv[2] === 'server') {
    const [accepted] = await Promise.all([once(server, 'connection'), connect()])
    held = tk.readKeepalive(accepted[0])
  } else if (process.argv[2] === 'connecting') {
    const socket = tk.configureKeepalive(net.connect(server.address().port, '127.0.0.1'), { idle: 30_000 })
    await once(socket, 'connect')
    held = tk.readKeepalive(socket)
  } else {
    tk.configureKeepalive(await connect(), { idle: 30_000, interval: 5_000, count: 3 })
    tk.configureKeepalive(await connect(), { idle: 30_000, userTimeout: 40_000 })
    tk.configureKeepalive(await connect(), { count: 4 })
    const first = await connect()
    tk.configureKeepalive(first, { idle: 30_000 })
    tk.configureKeepalive(await connect(), { idle: 20_000 })
    held = tk.readKeepalive(first)
  }
  await new Promise((resolve) => setImmediate(resolve)) // warnings are emitted on the next tick
  console.log(JSON.stringify({ warnings, held }))
  process.exit(0)
}
main()
