// Run by fault.test.ts with the shim preloaded and TCP_KEEPALIVE_MPTCP=1: every
// TCP socket of this process is Multipath TCP, which takes every keepalive
// option but TCP_USER_TIMEOUT. Each integration is given a userTimeout (the
// README's preload example has one): the connections must stay up with the
// other fields, no server or socket has an 'error' listener, and one warning
// says so. One JSON line: per integration, both ends as the kernel holds them
// and whether a byte made the round trip.
'use strict'
const { once } = require('node:events')
const http = require('node:http')
const net = require('node:net')
const path = require('node:path')
const { Agent, request } = require('undici')
const tk = require(path.join(__dirname, '..', '..'))

const options = { idle: 30_000, interval: 5_000, count: 3, userTimeout: 40_000 }
const warnings = []
process.on('warning', (warning) => warnings.push(warning.code))

/** An echo server (no 'error' listener anywhere) with `setup` applied; one connection to it. */
async function echo(setup, clientSetup = () => {}) {
  const server = net.createServer((socket) => socket.pipe(socket))
  setup(server)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const accepted = once(server, 'connection')
  const client = net.connect(server.address().port, '127.0.0.1')
  clientSetup(client)
  await once(client, 'connect')
  const [socket] = await accepted
  client.write('x')
  const [data] = await once(client, 'data')
  const result = { client: tk.readKeepalive(client), accepted: tk.readKeepalive(socket), echoed: data.toString() === 'x' }
  client.destroy()
  server.close()
  return result
}

async function main() {
  const result = {}
  const rule = tk.keepaliveProcess(options, { accepted: true })
  result.process = await echo(() => {})
  rule.stop()
  result.serverStatic = await echo((server) => tk.keepaliveServer(server, options))
  result.serverFunction = await echo((server) => tk.keepaliveServer(server, () => options))

  const web = http.createServer((_request, response) => response.end('ok')).listen(0, '127.0.0.1')
  await once(web, 'listening')
  const port = web.address().port
  const agent = tk.keepaliveAgent(new http.Agent({ keepAlive: true }), options)
  const [response] = await once(http.get({ host: '127.0.0.1', port, agent }), 'response')
  result.agent = { client: tk.readKeepalive(response.socket), ok: response.statusCode === 200 }
  response.resume()
  await once(response, 'end')
  agent.destroy()

  const dispatcher = new Agent({ connect: tk.keepaliveConnector(options) })
  let connectorSocket
  web.once('connection', (socket) => (connectorSocket = socket))
  const { body, statusCode } = await request(`http://127.0.0.1:${port}/`, { dispatcher })
  await body.text()
  result.connector = { ok: statusCode === 200, served: connectorSocket !== undefined }
  await dispatcher.close()
  web.close()
  result.warnings = warnings
  process.stdout.write(`${JSON.stringify(result)}\n`)
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`)
  process.exit(1)
})
