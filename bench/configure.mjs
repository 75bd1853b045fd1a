// Cost per call of setting and reading keepalive options, measured side by
// side in one run: tcp-keepalive (one native call), net-keepalive (FFI, one
// call per option) and Node's own setKeepAlive (idle only). Rounds alternate
// between contenders so machine noise hits all of them alike; the report is
// each contender's median ns/op and its ratio to tcp-keepalive.
// Then memory: each contender runs in its own process for N and 4N calls;
// the growth between the two, per call, is the leak (a fixed heap growth
// cancels out).
//
//   npm run bench
//   node --expose-gc bench/configure.mjs --memory <calls> <contender>   (used internally)
import { execFileSync } from 'node:child_process'
import { once } from 'node:events'
import { createRequire } from 'node:module'
import net from 'node:net'
import { fileURLToPath } from 'node:url'
import { configureKeepalive, readKeepalive } from '../dist/index.mjs'

const require = createRequire(import.meta.url)
let netKeepalive = null
try {
  netKeepalive = require('net-keepalive')
} catch {
  console.log('net-keepalive is not installed: it is left out of the comparison\n')
}

const ROUNDS = 15
const CALLS_PER_ROUND = 20_000
const MEMORY_CALLS = [100_000, 400_000]

/** Each contender gets its own socket: configureKeepalive makes a socket's settings survive setKeepAlive. */
const writers = {
  'tcp-keepalive configureKeepalive({ interval, count, userTimeout })': (socket, i) =>
    configureKeepalive(socket, { interval: 1000 + (i & 1) * 1000, count: 3, userTimeout: 10_000 }),
  'net-keepalive setKeepAliveInterval + setKeepAliveProbes + setUserTimeout':
    netKeepalive &&
    ((socket, i) => {
      netKeepalive.setKeepAliveInterval(socket, 1000 + (i & 1) * 1000)
      netKeepalive.setKeepAliveProbes(socket, 3)
      netKeepalive.setUserTimeout(socket, 10_000)
    }),
  // Alternating delays, or Node skips the call as unchanged.
  'node socket.setKeepAlive(true, delay) (idle only)': (socket, i) => socket.setKeepAlive(true, 1000 + (i & 1) * 1000),
}
const readers = {
  'tcp-keepalive readKeepalive() (all five fields)': (socket) => readKeepalive(socket),
  'net-keepalive getKeepAliveInterval + getKeepAliveProbes + getUserTimeout':
    netKeepalive &&
    ((socket) => {
      netKeepalive.getKeepAliveInterval(socket)
      netKeepalive.getKeepAliveProbes(socket)
      netKeepalive.getUserTimeout(socket)
    }),
}

async function connectedSocket(server) {
  const socket = net.connect(server.address().port, '127.0.0.1')
  await once(socket, 'connect')
  return socket
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}

async function compare(title, contenders, server) {
  const entries = Object.entries(contenders).filter(([, fn]) => fn)
  const sockets = await Promise.all(entries.map(() => connectedSocket(server)))
  const samples = entries.map(() => [])
  for (let round = 0; round < ROUNDS; round++) {
    entries.forEach(([, fn], k) => {
      const socket = sockets[k]
      const start = process.hrtime.bigint()
      for (let i = 0; i < CALLS_PER_ROUND; i++) fn(socket, i)
      if (round > 0) samples[k].push(Number(process.hrtime.bigint() - start) / CALLS_PER_ROUND) // round 0 warms up
    })
  }
  const base = median(samples[0])
  console.log(`${title} (median of ${ROUNDS - 1} rounds x ${CALLS_PER_ROUND} calls)`)
  entries.forEach(([name], k) => {
    const ns = median(samples[k])
    console.log(`  ${name.padEnd(78)} ${(ns / 1000).toFixed(2).padStart(6)} us/op   x${(ns / base).toFixed(2)}`)
  })
  console.log()
  for (const socket of sockets) socket.destroy()
}

/** Child process: RSS growth over `calls` calls of one contender, after warm-up and GC. */
async function memoryChild(calls, name) {
  const server = net.createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const socket = await connectedSocket(server)
  const fn = { ...writers, ...readers }[name]
  for (let i = 0; i < 20_000; i++) fn(socket, i)
  global.gc()
  const before = process.memoryUsage.rss()
  for (let i = 0; i < calls; i++) fn(socket, i)
  global.gc()
  const after = process.memoryUsage.rss()
  process.stdout.write(String(after - before))
  socket.destroy()
  server.close()
}

async function main() {
  const server = net.createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  console.log(`node ${process.version}, ${process.platform}-${process.arch}\n`)
  await compare('Set options', writers, server)
  await compare('Read options', readers, server)
  server.close()

  const [few, many] = MEMORY_CALLS
  console.log(`Memory kept per call: RSS growth after ${many} calls minus after ${few}, divided by ${many - few}`)
  for (const [name, fn] of Object.entries({ ...writers, ...readers })) {
    if (!fn) continue
    const growth = (calls) =>
      Number(
        execFileSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--memory', String(calls), name], {
          encoding: 'utf8',
        }),
      )
    const perCall = (growth(many) - growth(few)) / (many - few)
    console.log(`  ${name.padEnd(78)} ${perCall.toFixed(1).padStart(7)} B/call`)
  }
}

if (process.argv[2] === '--memory') await memoryChild(Number(process.argv[3]), process.argv[4])
else await main()
