// Memory kept per call: each contender runs in its own process for N and 4N
// calls after a warm-up; the RSS growth between the two, per call, is the
// leak (a fixed heap growth cancels out). Then the growth over 1 000 000
// configure + read pairs, which must stay under 2 MB.
import { execFileSync } from 'node:child_process'
import { once } from 'node:events'
import net from 'node:net'
import { fileURLToPath } from 'node:url'
import { connectedSocket, listening, loadNetKeepalive, printTable } from './shared.mjs'

const CALLS = [100_000, 400_000]
const PAIRS = 1_000_000

function contenders(keepalive, netKeepalive) {
  const delay = (i) => 1000 + (i & 1) * 1000
  return {
    'configureKeepalive({ idle, interval, count })': (s, i) =>
      keepalive.configureKeepalive(s, { idle: delay(i), interval: delay(i), count: 3 }),
    'readKeepalive()': (s) => keepalive.readKeepalive(s),
    'configureKeepalive + readKeepalive (pair)': (s, i) => {
      keepalive.configureKeepalive(s, { idle: delay(i), interval: 5_000, count: 3 })
      keepalive.readKeepalive(s)
    },
    "Node's socket.setKeepAlive(true, delay)": (s, i) => net.Socket.prototype.setKeepAlive.call(s, true, delay(i)),
    ...(netKeepalive && {
      'net-keepalive: 3 setters': (s, i) => {
        netKeepalive.setKeepAliveInterval(s, delay(i))
        netKeepalive.setKeepAliveProbes(s, 3)
        netKeepalive.setUserTimeout(s, 10_000)
      },
      'net-keepalive: 3 getters': (s) => {
        netKeepalive.getKeepAliveInterval(s)
        netKeepalive.getKeepAliveProbes(s)
        netKeepalive.getUserTimeout(s)
      },
    }),
  }
}

/** Child: RSS growth over `calls` calls of one contender, after warm-up and GC. */
async function child(calls, name) {
  const keepalive = await import('../dist/index.mjs')
  const fn = contenders(keepalive, loadNetKeepalive())[name]
  const server = await listening(net.createServer())
  const socket = await connectedSocket(server)
  for (let i = 0; i < 20_000; i++) fn(socket, i)
  global.gc()
  const before = process.memoryUsage.rss()
  for (let i = 0; i < calls; i++) fn(socket, i)
  global.gc()
  process.stdout.write(String(process.memoryUsage.rss() - before))
  socket.destroy()
  server.close()
  await once(server, 'close')
}

const growth = (calls, name) =>
  Number(
    execFileSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--child', String(calls), name], { encoding: 'utf8' }),
  )

export async function report() {
  const names = Object.keys(contenders({}, loadNetKeepalive()))
  const [few, many] = CALLS
  console.log(`Memory kept per call: RSS growth after ${many} calls minus after ${few}, divided by ${many - few}`)
  printTable([['', 'B/call'], ...names.map((name) => [name, ((growth(many, name) - growth(few, name)) / (many - few)).toFixed(1)])])
  const pairs = growth(PAIRS, 'configureKeepalive + readKeepalive (pair)')
  console.log(`RSS growth over ${PAIRS} configureKeepalive + readKeepalive pairs: ${(pairs / 2 ** 20).toFixed(2)} MB\n`)
}

if (process.argv[2] === '--child') await child(Number(process.argv[3]), process.argv[4])
