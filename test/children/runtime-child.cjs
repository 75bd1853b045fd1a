// What the runtime children (runtime.cjs, runtime-process.cjs) share, under
// Node, Bun and Deno alike: an http request through a keep-alive agent, and
// how they report (one JSON line, then every connection held open until stdin
// closes, for the test to read the kernel from outside).
'use strict'
const { once } = require('node:events')
const http = require('node:http')

/** Listens on loopback and makes one request through a keep-alive agent (the connection stays open): the body and the server's end. */
exports.getThroughAgent = async function getThroughAgent(httpServer) {
  let accepted
  httpServer.on('connection', (socket) => (accepted = socket))
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
  return { body, accepted }
}

/** Runs `main`, prints the result it resolves to as one JSON line, and keeps the process (and its sockets) until stdin ends. */
exports.reportAndHold = function reportAndHold(main) {
  main().then(
    (result) => {
      process.stdout.write(`${JSON.stringify(result)}\n`)
      process.stdin.resume()
      process.stdin.on('end', () => process.exit(0))
    },
    (error) => {
      process.stderr.write(`${error.stack}\n`)
      process.exit(1)
    },
  )
}
