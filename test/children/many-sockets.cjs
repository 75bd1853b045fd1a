// One side of the many-sockets test, in its own process so each side needs
// only its own ~10 000 fds (ulimit -n is raised by the test's shell).
//   server <n>         keepaliveServer with static options; once n connections
//                      are accepted, reads each back; prints {port} first, then the result
//   client <port> <n>  opens n connections, configures each with its own
//                      settings, reads each back; prints the result
// Results are one JSON line each; the process then holds its sockets until killed.
'use strict'
const net = require('node:net')
const path = require('node:path')
const { configureKeepalive, keepaliveServer, readKeepalive } = require(path.join(__dirname, '..', '..'))

const SERVER_SETTINGS = { idle: 40_000, interval: 4_000, count: 4, userTimeout: 30_000 }
/** Connection i's own settings: every field varies, so a mix-up between sockets shows. */
const settingsFor = (i) => ({
  idle: 1_000 * (1 + (i % 3_600)),
  interval: 1_000 * (1 + (i % 60)),
  count: 1 + (i % 127),
  userTimeout: i,
})
const print = (value) => process.stdout.write(`${JSON.stringify(value)}\n`)
const sameAs = (state, settings) => Object.entries(settings).every(([field, value]) => state[field] === value) && state.enabled

const [mode, ...args] = process.argv.slice(2)
if (mode === 'server') {
  const n = Number(args[0])
  const sockets = []
  const server = keepaliveServer(
    net.createServer((socket) => {
      sockets.push(socket)
      if (sockets.length < n) return
      const started = process.hrtime.bigint()
      const held = sockets.filter((accepted) => sameAs(readKeepalive(accepted), SERVER_SETTINGS)).length
      print({ accepted: sockets.length, held, readMs: Number(process.hrtime.bigint() - started) / 1e6 })
    }),
    SERVER_SETTINGS,
  )
  server.maxConnections = n + 10
  server.listen(0, '127.0.0.1', 1_024, () => print({ port: server.address().port }))
} else if (mode === 'client') {
  const [port, n] = args.map(Number)
  const sockets = []
  let configureNs = 0n
  const connect = (i) =>
    new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        const started = process.hrtime.bigint()
        configureKeepalive(socket, settingsFor(i))
        configureNs += process.hrtime.bigint() - started
        resolve()
      })
      socket.once('error', reject)
      sockets.push(socket)
    })
  ;(async () => {
    const connectStarted = Date.now()
    for (let i = 0; i < n; i += 500) {
      await Promise.all(Array.from({ length: Math.min(500, n - i) }, (_, j) => connect(i + j)))
    }
    const connectMs = Date.now() - connectStarted
    const started = process.hrtime.bigint()
    const held = sockets.filter((socket, i) => sameAs(readKeepalive(socket), settingsFor(i))).length
    const readMs = Number(process.hrtime.bigint() - started) / 1e6
    print({ connected: sockets.length, held, connectMs, configureMs: Number(configureNs) / 1e6, readMs })
  })().catch((error) => {
    console.error(error)
    process.exit(1)
  })
}
