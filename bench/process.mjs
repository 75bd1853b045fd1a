// keepaliveProcess: what it adds to opening a connection. Loopback connects
// (connect() through the 'connect' event, the server accepting) timed with no
// rule, with a rule for another port (only the port check runs), and with a
// rule that applies; runs alternate and the median is kept. A server accepting
// with `accepted: true` is measured the same way. Ratios against no rule; the
// floor row writes the same 4 options in C from the 'connect' callback, so
// what a rule adds can be set against what its writes cost.
import net from 'node:net'
import { keepaliveProcess } from '../dist/index.mjs'
import { loadFloor } from './floor/index.mjs'
import { listening, median, printTable } from './shared.mjs'

const CONNECTIONS = 2_000
const RUNS = 7
const OPTIONS = { idle: 30_000, interval: 5_000, count: 3 }

/** µs per connection: CONNECTIONS sequential connects to `server`, each closed once connected (after `onConnect`). */
async function timeConnects(server, onConnect) {
  const { port } = server.address()
  const started = process.hrtime.bigint()
  for (let i = 0; i < CONNECTIONS; i++) {
    await new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        onConnect?.(socket)
        socket.destroy()
        resolve()
      })
      socket.once('error', reject)
    })
  }
  return Number(process.hrtime.bigint() - started) / 1e3 / CONNECTIONS
}

export async function report() {
  const floor = loadFloor()
  const fds = new Int32Array(1)
  const floorWrites = (socket) => {
    fds[0] = socket._handle.fd
    floor.writeEachOnce(fds)
  }
  const modes = {
    'no rule': () => null,
    'floor: the same 4 writes in C, in the connect callback': () => ({ onConnect: floorWrites, stop() {} }),
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
      samples[mode].push(await timeConnects(listener, rule?.onConnect))
      listener.close()
      rule?.stop()
    }
  }
  const base = median(samples['no rule'])
  console.log(`keepaliveProcess: ${CONNECTIONS} loopback connections per run, median of ${RUNS} alternating runs`)
  const floorAdds = median(samples['floor: the same 4 writes in C, in the connect callback']) - base
  printTable([
    ['', 'µs/connection', 'vs no rule', 'µs added', 'vs the floor'],
    ...Object.keys(modes).map((mode) => {
      const us = median(samples[mode])
      const added = us - base
      return [
        mode,
        us.toFixed(2),
        `${((us / base - 1) * 100).toFixed(1)} %`,
        added.toFixed(2),
        mode === 'no rule' ? '' : `${(added / floorAdds).toFixed(2)} x`,
      ]
    }),
  ])
}
