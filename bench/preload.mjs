// The preload on a real shape of service: an HTTP server that calls a backend
// for each request, under `Connection: close` churn (a new accepted and a new
// outgoing TCP connection per request). Three servers, each a child process:
// - plain: no keepalive;
// - floor: the same settings written by hand from C, at no cost the library
//   could save: once on the listening socket (accepted sockets inherit it) and
//   4 writes on each outgoing socket from a first 'connect' listener;
// - the preload: `--require tcp-keepalive/register` with TCP_KEEPALIVE set.
// The backend is a fourth process, plain. Runs alternate; each server's CPU
// per request comes from process.cpuUsage() in its own process. The change
// against plain is taken per round (the servers ran side by side in it) and
// the median of the rounds kept. Loopback only.
import { fork } from 'node:child_process'
import { once } from 'node:events'
import http from 'node:http'
import { fileURLToPath } from 'node:url'
import { median, printTable } from './shared.mjs'

const MODES = ['plain', 'floor: the same writes in C (listener once, 4 per outgoing socket)', 'the preload']
const RUNS = 7
const REQUESTS = 2000
const CONCURRENCY = 8
const SETTINGS = 'idle=30s interval=5s count=3'
const here = fileURLToPath(import.meta.url)
const register = fileURLToPath(new URL('../dist/register.js', import.meta.url))

/** Child: a plain backend answering 'ok'. */
function backend() {
  const server = http.createServer((_request, response) => response.end('ok'))
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }))
  process.on('message', (message) => message === 'exit' && process.exit(0))
}

/** Child: the server. Messages: 'start' resets the CPU clock, 'stop' answers with CPU µs since. */
async function serve(mode, backendPort) {
  const { readKeepalive } = await import('../dist/index.mjs')
  let floorWrites = null
  if (mode === MODES[1]) {
    const { loadFloor } = await import('./floor/index.mjs')
    const floor = loadFloor()
    const fds = new Int32Array(1)
    floorWrites = (socket) => {
      fds[0] = socket._handle.fd
      floor.writeEachOnce(fds)
    }
  }
  let held = null // what the first request's two sockets held: the benchmark says what it measured
  const server = http.createServer((request, response) => {
    const outgoing = http.get({ host: '127.0.0.1', port: backendPort, agent: false, headers: { connection: 'close' } }, (answer) => {
      held ??= { accepted: readKeepalive(request.socket), outgoing: readKeepalive(answer.socket) }
      answer.resume()
      answer.on('end', () => response.end('ok'))
    })
    if (floorWrites) outgoing.once('socket', (socket) => socket.prependOnceListener('connect', () => floorWrites(socket)))
  })
  server.listen(0, '127.0.0.1', () => {
    if (floorWrites) floorWrites(server) // the listening socket: accepted sockets inherit it
    process.send({ port: server.address().port })
  })
  let start
  process.on('message', (message) => {
    if (message === 'start') start = process.cpuUsage()
    if (message === 'stop') {
      const { user, system } = process.cpuUsage(start)
      process.send({ cpuMicros: user + system, held })
    }
    if (message === 'exit') process.exit(0)
  })
}

function request(port) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, agent: false, headers: { connection: 'close' } }, (response) => {
      response.resume()
      response.on('end', resolve)
    })
    req.on('error', reject)
  })
}

/** CPU µs per request of `child` over REQUESTS requests. */
async function run(child, port) {
  child.send('start')
  let next = 0
  const worker = async () => {
    while (next++ < REQUESTS) await request(port)
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  child.send('stop')
  const [{ cpuMicros, held }] = await once(child, 'message')
  return { cpu: cpuMicros / REQUESTS, held }
}

const describeHeld = ({ enabled, idle, interval, count }) => (enabled ? `${idle / 1000} s / ${interval / 1000} s / ${count}` : 'off')

export async function report() {
  const back = fork(here, ['--backend'])
  const [{ port: backendPort }] = await once(back, 'message')
  const servers = []
  for (const mode of MODES) {
    const preload = mode === 'the preload'
    const child = fork(here, ['--serve', mode, String(backendPort)], {
      execArgv: preload ? ['--require', register] : [],
      env: { ...process.env, TCP_KEEPALIVE: preload ? SETTINGS : '' },
    })
    const [{ port }] = await once(child, 'message')
    servers.push({ mode, child, port, cpu: [] })
  }
  for (const server of servers) server.held = (await run(server.child, server.port)).held // warm-up
  const changes = servers.map(() => [])
  for (let round = 0; round < RUNS; round++) {
    const order = round % 2 === 0 ? servers : [...servers].reverse()
    for (const server of order) server.cpu.push((await run(server.child, server.port)).cpu)
    servers.forEach((server, i) => changes[i].push(server.cpu[round] / servers[0].cpu[round] - 1))
  }
  for (const { child } of [...servers, { child: back }]) child.send('exit')
  const percent = (value) => `${value < 0 ? '' : '+'}${(value * 100).toFixed(1)} %`
  console.log(
    `The preload on an HTTP server calling a backend per request: ${REQUESTS} Connection: close requests x ${RUNS} alternating runs, ${CONCURRENCY} at a time (medians)`,
  )
  printTable([
    ['', 'server CPU us/req', 'vs plain (per round)', 'accepted socket holds', 'outgoing socket holds'],
    ...servers.map(({ mode, cpu, held }, i) => [
      mode,
      median(cpu).toFixed(1),
      i === 0 ? '' : percent(median(changes[i])),
      describeHeld(held.accepted),
      describeHeld(held.outgoing),
    ]),
  ])
}

if (process.argv[2] === '--backend') backend()
if (process.argv[2] === '--serve') await serve(process.argv[3], Number(process.argv[4]))
