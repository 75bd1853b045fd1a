// Run by runtimes.test.ts under Bun, Deno (and Node): the built package on a
// client socket configured before it connects, a net server and an http
// server given keepaliveServer. Prints one JSON line, then keeps every
// connection open until stdin closes, so the test can read what the kernel
// holds from outside this process (inspect, pidfd_getfd).
'use strict'
const { once } = require('node:events')
const http = require('node:http')
const net = require('node:net')
const path = require('node:path')
const { configureKeepalive, keepaliveServer, keepaliveSupport, readKeepalive } = require(path.join(__dirname, '..', '..'))

const warnings = []
process.on('warning', (warning) => warnings.push(warning.message))

const CLIENT = { idle: 7_000, interval: 3_000, count: 4, userTimeout: 5_000 }
const NET_SERVER = { idle: 11_000, interval: 2_000, count: 3 }
const HTTP_SERVER = { idle: 13_000, interval: 4_000, count: 5 }

function outcome(socket) {
  const ends = { local: socket.localPort, remote: socket.remotePort, destroyed: socket.destroyed }
  try {
    return { ...ends, read: readKeepalive(socket) }
  } catch (error) {
    return { ...ends, readError: error.code }
  }
}

async function main() {
  const netServer = keepaliveServer(net.createServer(), NET_SERVER).listen(0, '127.0.0.1')
  await once(netServer, 'listening')
  const accepted = once(netServer, 'connection')
  const client = net.connect(netServer.address().port, '127.0.0.1')
  const errors = []
  client.on('error', (error) => errors.push(error.code))
  configureKeepalive(client, CLIENT) // still connecting: applied on connect
  await once(client, 'connect')
  const [netAccepted] = await accepted

  let httpAccepted
  const httpServer = keepaliveServer(
    http.createServer((request, response) => response.end('ok')),
    HTTP_SERVER,
  )
  httpServer.on('connection', (socket) => (httpAccepted = socket))
  httpServer.listen(0, '127.0.0.1')
  await once(httpServer, 'listening')
  const agent = new http.Agent({ keepAlive: true }) // keeps the connection open for the check
  const body = await new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: httpServer.address().port, agent }, (response) => {
        let text = ''
        response.on('data', (chunk) => (text += chunk)).on('end', () => resolve(text))
      })
      .on('error', reject)
  })
  await new Promise((resolve) => setTimeout(resolve, 50)) // let warnings be delivered

  const result = {
    runtime: process.versions.bun ? 'bun' : process.versions.deno ? 'deno' : 'node',
    support: keepaliveSupport,
    client: outcome(client),
    netAccepted: outcome(netAccepted),
    httpAccepted: httpAccepted ? outcome(httpAccepted) : null,
    netServerPort: netServer.address().port,
    httpServerPort: httpServer.address().port,
    httpBody: body,
    errors,
    warnings,
  }
  process.stdout.write(`${JSON.stringify(result)}\n`)
  process.stdin.resume()
  process.stdin.on('end', () => process.exit(0))
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`)
  process.exit(1)
})
