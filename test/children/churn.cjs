// A process for the `inspect` race test: it opens and closes TCP connections
// (six lanes living 0-20 ms each, four 200-500 ms so some rows survive a
// whole inspect run), UDP sockets and files as fast as it can, so fd numbers
// are reused while inspect reads them. Every connection gets an idle time
// derived from its client port, so a row's values can be checked against its
// addresses. Prints the server's port, then churns until killed.
'use strict'
const dgram = require('node:dgram')
const fs = require('node:fs')
const net = require('node:net')
const path = require('node:path')
const { configureKeepalive } = require(path.join(__dirname, '..', '..'))

/** The idle time (ms) every socket of the connection from client port `port` gets. */
const idleFor = (port) => ((port % 1000) + 1) * 1000

const server = net.createServer((socket) => {
  socket.on('error', () => {})
  configureKeepalive(socket, { idle: idleFor(socket.remotePort) })
})
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${server.address().port}\n`)
  for (let lane = 0; lane < 10; lane++) churn(lane < 6 ? 0 : 200, lane < 6 ? 20 : 500)
})

function churn(shortest, longest) {
  const client = net.connect(server.address().port, '127.0.0.1')
  client.on('error', () => {})
  client.on('connect', () => {
    configureKeepalive(client, { idle: idleFor(client.localPort) })
    // Something that is not a TCP socket may take a freed fd number next.
    const udp = dgram.createSocket('udp4')
    const file = fs.openSync(__filename, 'r')
    setTimeout(
      () => {
        client.destroy()
        udp.close()
        fs.closeSync(file)
        churn(shortest, longest)
      },
      shortest + Math.floor(Math.random() * (longest - shortest + 1)),
    )
  })
}
