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

  let httpAccepted
  const httpServer = http.createServer((request, response) => response.end('ok'))
  httpServer.on('connection', (socket) => (httpAccepted = socket))
  httpServer.listen(0, '127.0.0.1')
  await once(httpServer, 'listening')
  const agent = new http.Agent({ keepAlive: true })
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
    client: ends(client),
    netAccepted: ends(accepted),
    httpAccepted: ends(httpAccepted),
    httpPort: httpServer.address().port,
    httpBody: body,
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
