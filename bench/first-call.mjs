// The first call on freshly accepted sockets, where a server pays it: the
// 4 writes in C on cold sockets (the floor), configureKeepalive, and Node's
// setKeepAlive, each on its own batch of new connections, batches alternating.
import { once } from 'node:events'
import net from 'node:net'
import { configureKeepalive } from '../dist/index.mjs'
import { nodeSetKeepAlive } from './shared.mjs'
import { listening, median, printTable, ratio } from './shared.mjs'

const ROUNDS = 9
const BATCH = 200

/** `count` newly accepted server-side sockets. */
async function acceptBatch(server, count) {
  const accepted = []
  const done = new Promise((resolve) => {
    const onConnection = (socket) => {
      accepted.push(socket)
      if (accepted.length === count) {
        server.off('connection', onConnection)
        resolve()
      }
    }
    server.on('connection', onConnection)
  })
  const clients = []
  for (let i = 0; i < count; i++) clients.push(net.connect(server.address().port, '127.0.0.1'))
  await Promise.all([done, ...clients.map((client) => once(client, 'connect'))])
  return { accepted, close: () => [...accepted, ...clients].forEach((socket) => socket.destroy()) }
}

function timePerSocket(sockets, fn) {
  const start = process.hrtime.bigint()
  for (const socket of sockets) fn(socket)
  return Number(process.hrtime.bigint() - start) / sockets.length
}

export async function report(floor) {
  const server = await listening(net.createServer()) // its own: no connection left over from another section
  const contenders = [
    { name: 'floor: 4 setsockopt in C on each cold socket', run: (s) => floor.writeEachOnce(Int32Array.from(s, (x) => x._handle.fd)) },
    {
      name: 'configureKeepalive({ idle, interval, count })',
      run: (s) => timePerSocket(s, (x) => configureKeepalive(x, { idle: 30_000, interval: 5_000, count: 3 })),
    },
    { name: "Node's socket.setKeepAlive(true, 30_000)", run: (s) => timePerSocket(s, (x) => nodeSetKeepAlive.call(x, true, 30_000)) },
  ]
  const samples = contenders.map(() => [])
  for (let round = 0; round <= ROUNDS; round++) {
    for (const [k, contender] of contenders.entries()) {
      const batch = await acceptBatch(server, BATCH)
      const ns = contender.run(batch.accepted)
      if (round > 0) samples[k].push(ns)
      batch.close()
    }
  }
  server.close()
  const [base] = samples.map(median)
  console.log(`First call on freshly accepted sockets (median of ${ROUNDS} batches x ${BATCH} sockets)`)
  printTable([
    ['', 'ns/socket', 'vs floor'],
    ...contenders.map((contender, k) => [contender.name, median(samples[k]).toFixed(0), ratio(median(samples[k]), base)]),
  ])
}
