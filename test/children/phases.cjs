// The phases shared-process.cjs and .mjs go through: connections before a rule,
// with it and after stop(), each counted three ways (made, seen by the
// neighbour, configured in the kernel). Prints one JSON line.
'use strict'
const { once } = require('node:events')

async function connections(net, keepalive, server, n, settings) {
  let configured = 0
  for (let i = 0; i < n; i++) {
    const socket = net.connect(server.address().port, '127.0.0.1')
    await once(socket, 'connect')
    socket.setKeepAlive(true, 1_000) // as http.Agent does on reuse: a neighbour wrapping setKeepAlive sees it
    const held = keepalive.readKeepalive(socket)
    if (held.idle === settings.idle && held.interval === settings.interval && held.count === settings.count) configured++
    socket.destroy()
  }
  return configured
}

/** Until the neighbour has seen `count` connections, or 2 s have passed (then the count is what it is). */
async function seenBy(seen, count) {
  for (let waited = 0; seen.connects < count && waited < 2_000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10))
}

async function phase(net, keepalive, seen, server, settings) {
  const before = { ...seen, connects: seen.connects }
  const configured = await connections(net, keepalive, server, 3, settings)
  await seenBy(seen, before.connects + 3) // a span is exported when it ends, which may come a little later
  return { made: 3, seen: seen.connects - before.connects, setKeepAlives: seen.setKeepAlives - before.setKeepAlives, configured }
}

exports.run = async function run(net, keepalive, seen, mode, settings) {
  const server = net.createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const result = {}
  if (mode === 'code') {
    result.before = await phase(net, keepalive, seen, server, settings)
    const rule = keepalive.keepaliveProcess(settings)
    result.rule = await phase(net, keepalive, seen, server, settings)
    rule.stop()
    result.stopped = await phase(net, keepalive, seen, server, settings)
    const again = keepalive.keepaliveProcess(settings)
    result.again = await phase(net, keepalive, seen, server, settings)
    again.stop()
  } else {
    result.rule = await phase(net, keepalive, seen, server, settings)
  }
  server.close()
  process.stdout.write(`${JSON.stringify(result)}\n`)
  // The tracers keep timers: leave once the result is out.
  process.exit(0)
}
