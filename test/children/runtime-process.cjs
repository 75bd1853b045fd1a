// Run by runtimes.test.ts under Bun and Deno: an app that knows nothing of
// tcp-keepalive (configured by the preload), or that calls keepaliveProcess
// once at start (RULE=api). Opens a net server and an http server, a client
// connection to each, and prints one JSON line with every connection's
// ports; then keeps them open until stdin closes, for the test to read the
// kernel from outside (inspect, ss).
'use strict'
const { once } = require('node:events')
const http = require('node:http')
const net = require('node:net')
const path = require('node:path')
const { getThroughAgent, reportAndHold } = require('./runtime-child.cjs')

const warnings = []
process.on('warning', (warning) => warnings.push(warning.message))
if (process.env.RULE === 'api') {
  const { keepaliveProcess } = require(path.join(__dirname, '..', '..'))
  keepaliveProcess({ idle: 9_000, interval: 2_000, count: 4, userTimeout: 20_000 }, { accepted: true })
}

const ends = (socket) => ({ local: socket.localPort, remote: socket.remotePort })

async function main() {
  const netServer = net.createServer().listen(0, '127.0.0.1')
  await once(netServer, 'listening')
  const netAccepted = once(netServer, 'connection')
  const client = net.connect(netServer.address().port, '127.0.0.1')
  await once(client, 'connect')
  const [accepted] = await netAccepted

  const httpServer = http.createServer((request, response) => response.end('ok'))
  const { body, accepted: httpAccepted } = await getThroughAgent(httpServer)
  const result = {
    client: ends(client),
    netAccepted: ends(accepted),
    httpAccepted: ends(httpAccepted),
    httpPort: httpServer.address().port,
    httpBody: body,
    warnings,
  }
  return result
}

reportAndHold(main)
