// A platform whose accepted sockets do not inherit keepalive from the listener
// (macOS, the BSDs), as the binding would report it there: node-gyp-build's
// result, with acceptedSocketsInherit false. keepaliveServer with static
// options and a process-wide rule for accepted connections must then leave the
// listening socket alone and configure each accepted one. One JSON line.
'use strict'
const Module = require('node:module')
const { once } = require('node:events')
const net = require('node:net')
const path = require('node:path')

const load = Module._load
Module._load = function (request, ...rest) {
  const loaded = load.call(this, request, ...rest)
  if (request !== 'node-gyp-build') return loaded
  const faked = (root) => ({ ...loaded(root), acceptedSocketsInherit: false })
  faked.resolve = loaded.resolve
  return faked
}
const tk = require(path.join(__dirname, '..', '..'))

async function serve(setup) {
  const server = net.createServer()
  setup(server)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const accepted = once(server, 'connection')
  const client = net.connect(server.address().port, '127.0.0.1')
  await once(client, 'connect')
  const [socket] = await accepted
  await new Promise((resolve) => setImmediate(resolve))
  const result = { listener: tk.readKeepalive(server._handle.fd), accepted: tk.readKeepalive(socket) }
  client.destroy()
  server.close()
  return result
}

async function main() {
  const options = { idle: 33_000, interval: 3_000, count: 4 }
  const result = { keepaliveServer: await serve((server) => tk.keepaliveServer(server, options)) }
  const rule = tk.keepaliveProcess(options, { accepted: true, outgoing: false })
  result.keepaliveProcess = await serve(() => {})
  rule.stop()
  process.stdout.write(`${JSON.stringify(result)}\n`)
}
main()
