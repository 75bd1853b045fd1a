// A keepaliveServer (static options) whose listening socket came from elsewhere:
//   fd      listen({ fd: 3 }): an fd inherited at exec, as systemd socket activation passes it
//   handle  listen(otherServer): another server's handle, in this process
//   ipc     a listening server sent by the parent over IPC (child_process.fork, send)
// Prints its port, then answers each connection with one JSON line: what the kernel holds for it.
'use strict'
const net = require('node:net')
const path = require('node:path')
const { keepaliveServer, readKeepalive } = require(path.join(__dirname, '..', '..'))

const [mode, options] = [process.argv[2], JSON.parse(process.argv[3])]
const answer = (socket) => socket.end(`${JSON.stringify(readKeepalive(socket))}\n`)
const ready = (server) => process.stdout.write(`${server.address().port}\n`)

if (mode === 'fd') {
  const server = keepaliveServer(net.createServer(answer), options)
  server.listen({ fd: 3 }, () => ready(server))
} else if (mode === 'handle') {
  const other = net.createServer().listen(0, '127.0.0.1', () => {
    const server = keepaliveServer(net.createServer(answer), options)
    server.listen(other, () => ready(server))
  })
} else if (mode === 'ipc') {
  process.on('message', (message, received) => {
    if (message !== 'server') return
    const server = keepaliveServer(received, options) // already listening
    server.on('connection', answer)
    ready(server)
  })
} else {
  throw new Error(`unknown mode ${mode}`)
}
