// Run by runtimes.test.ts under Bun and Deno: a connection whose addresses,
// as the runtime reports them, match none of the process's sockets (its
// remotePort is overridden before keepaliveServer's function configures it),
// so the lookup finds nothing: the runtime's own setKeepAlive is used, with
// warnings saying why, and no fd is written. Prints one JSON line, then keeps
// the connection open until stdin closes.
'use strict'
const { once } = require('node:events')
const http = require('node:http')
const path = require('node:path')
const { keepaliveServer, readKeepalive } = require(path.join(__dirname, '..', '..'))

const warnings = []
process.on('warning', (warning) => warnings.push(warning.message))

async function main() {
  let accepted
  const server = keepaliveServer(
    http.createServer((request, response) => response.end('ok')),
    (socket) => {
      accepted = { socket, ends: { local: socket.localPort, remote: socket.remotePort } }
      Object.defineProperty(socket, 'remotePort', { value: 1, configurable: true })
      return { idle: 17_000, interval: 3_000, count: 3 }
    },
  )
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const agent = new http.Agent({ keepAlive: true })
  await new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: server.address().port, agent }, (response) => response.resume().on('end', resolve))
      .on('error', reject)
  })
  await new Promise((resolve) => setTimeout(resolve, 50)) // let warnings be delivered
  process.stdout.write(`${JSON.stringify({ accepted: { ...accepted.ends, read: readKeepalive(accepted.socket) }, warnings })}\n`)
  process.stdin.resume()
  process.stdin.on('end', () => process.exit(0))
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`)
  process.exit(1)
})
