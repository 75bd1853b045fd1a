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
const { getThroughAgent, reportAndHold } = require('./runtime-child.cjs')
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

  const httpServer = keepaliveServer(
    http.createServer((request, response) => response.end('ok')),
    HTTP_SERVER,
  )
  const { body, accepted: httpAccepted } = await getThroughAgent(httpServer)

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
  return result
}

reportAndHold(main)
