// keepaliveProcess: what it adds to opening a connection. Loopback connects
// (connect() through the 'connect' event, the server accepting) timed with no
// rule, with a rule for another port (only the port check runs), and with a
// rule that applies; runs alternate and the median is kept. A server accepting
// with `accepted: true` is measured the same way. Ratios against no rule.
import net from 'node:net'
import { keepaliveProcess } from '../dist/index.mjs'
import { listening, median, printTable } from './shared.mjs'

const CONNECTIONS = 2_000
const RUNS = 7
const OPTIONS = { idle: 30_000, interval: 5_000, count: 3 }

/** µs per connection: CONNECTIONS sequential connects to `server`, each closed once connected. */
async function timeConnects(server) {
  const { port } = server.address()
  const started = process.hrtime.bigint()
  for (let i = 0; i < CONNECTIONS; i++) {
    await new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.destroy()
        resolve()
      })
      socket.once('error', reject)
    })
  }
  return Number(process.hrtime.bigint() - started) / 1e3 / CONNECTIONS
}

export async function report() {
  const modes = {
    'no rule': () => null,
    'a rule for another port (port check only)': () => keepaliveProcess(OPTIONS, { ports: [1] }),
    'a rule that applies (one configure per connection)': () => keepaliveProcess(OPTIONS),
    'accepted: true as well (both ends configured)': () => keepaliveProcess(OPTIONS, { accepted: true }),
  }
  const samples = Object.fromEntries(Object.keys(modes).map((mode) => [mode, []]))
  const server = () => listening(net.createServer((socket) => socket.destroy()))
  const warmUp = await server()
  await timeConnects(warmUp)
  warmUp.close()
  for (let run = 0; run < RUNS; run++) {
    for (const [mode, install] of Object.entries(modes)) {
      const rule = install()
      const listener = await server() // listening after the rule, as under the preload
      samples[mode].push(await timeConnects(listener))
      listener.close()
      rule?.stop()
    }
  }
  const base = median(samples['no rule'])
  console.log(`keepaliveProcess: ${CONNECTIONS} loopback connections per run, median of ${RUNS} alternating runs`)
  printTable([
    ['', 'µs/connection', 'vs no rule'],
    ...Object.keys(modes).map((mode) => {
      const us = median(samples[mode])
      return [mode, us.toFixed(2), `${((us / base - 1) * 100).toFixed(1)} %`]
    }),
  ])
}
