// The preload on a real shape of service: an HTTP server that calls a backend
// for each request, under `Connection: close` churn (a new accepted and a new
// outgoing TCP connection per request). Three servers, each a child process:
// - plain: no keepalive;
// - floor: the same settings written by hand from C, at no cost the library
//   could save: once on the listening socket (accepted sockets inherit it) and
//   4 writes on each outgoing socket from a first 'connect' listener;
// - the preload: `--require tcp-keepalive/register` with TCP_KEEPALIVE set.
// The backend is one more process, plain. Each server runs as 4 processes
// (two processes of the same plain server differ by up to 5 % in CPU, by
// their own layout), warmed up (a server under the preload reaches its steady
// state later: its hooks make V8 optimize Node's connect path anew), then all
// run in turn, alternating; each one's CPU per request comes from
// process.cpuUsage() in its own process. A mode's figure is the mean of its
// processes' medians. That is still good to a per cent or two here, so each
// server also times, in process, the listeners that do the keepalive work
// (ours: the 'connection' listener the preload puts first on the server and
// the 'connect' listener it puts first on each outgoing socket; the floor's:
// its 'connect' listener): the cost added, measured directly, as a share of
// the plain server's CPU per request. Loopback only.
import { fork } from 'node:child_process'
import { once } from 'node:events'
import http from 'node:http'
import { fileURLToPath } from 'node:url'
import { clockedRun, median, printTable, serverClock } from './shared.mjs'

const MODES = ['plain', 'floor: the same writes in C (listener once, 4 per outgoing socket)', 'the preload']
const PROCESSES = 4
const RUNS = 7
const WARM_UP_RUNS = 3
const REQUESTS = 1500
const CONCURRENCY = 8
const SETTINGS = process.env.BENCH_PRELOAD_SETTINGS ?? 'idle=30s interval=5s count=3'
const here = fileURLToPath(import.meta.url)
const register = fileURLToPath(new URL('../dist/register.js', import.meta.url))

/** Child: a plain backend answering 'ok'. */
function backend() {
  const server = http.createServer((_request, response) => response.end('ok'))
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }))
  process.on('message', (message) => message === 'exit' && process.exit(0))
}

/** Child: the server, answering the parent as serverClock does. */
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
  const { timed, timeFirst } = serverClock({ extra: () => ({ held }) })
  const server = http.createServer((request, response) => {
    const outgoing = http.get({ host: '127.0.0.1', port: backendPort, agent: false, headers: { connection: 'close' } }, (answer) => {
      held ??= { accepted: readKeepalive(request.socket), outgoing: readKeepalive(answer.socket) }
      answer.resume()
      answer.on('end', () => response.end('ok'))
    })
    if (floorWrites)
      outgoing.once('socket', (socket) =>
        socket.prependOnceListener(
          'connect',
          timed(() => floorWrites(socket)),
        ),
      )
    if (mode === 'the preload') outgoing.once('socket', (socket) => timeFirst(socket, 'connect', true)) // the preload's, put first
  })
  server.listen(0, '127.0.0.1', () => {
    if (floorWrites) floorWrites(server) // the listening socket: accepted sockets inherit it
    process.send({ port: server.address().port })
  })
  if (mode === 'the preload') timeFirst(server, 'connection') // the preload's, put first by listen()
}

/** CPU µs per request of `child` over REQUESTS requests. */
async function run(child, port) {
  const { cpuMicros, listenerMicros, held } = await clockedRun(child, port, REQUESTS, CONCURRENCY)
  return { cpu: cpuMicros / REQUESTS, listener: listenerMicros / REQUESTS, held }
}

/** PROCESSES servers of each mode, warmed up. */
async function startServers(backendPort) {
  const servers = []
  for (let copy = 0; copy < PROCESSES; copy++) {
    for (const [m, mode] of MODES.entries()) {
      const preload = mode === 'the preload'
      const child = fork(here, ['--serve', mode, String(backendPort)], {
        execArgv: preload ? ['--require', register] : [],
        env: { ...process.env, TCP_KEEPALIVE: preload ? SETTINGS : '' },
      })
      const [{ port }] = await once(child, 'message')
      const { held } = await run(child, port)
      for (let i = 0; i < WARM_UP_RUNS; i++) await run(child, port)
      servers.push({ m, child, port, held, cpu: [], listener: [] })
    }
  }
  return servers
}

const describeHeld = ({ enabled, idle, interval, count }) => (enabled ? `${idle / 1000} s / ${interval / 1000} s / ${count}` : 'off')
const mean = (values) => values.reduce((sum, value) => sum + value, 0) / values.length

export async function report() {
  const back = fork(here, ['--backend'])
  const [{ port: backendPort }] = await once(back, 'message')
  const servers = await startServers(backendPort)
  for (let round = 0; round < RUNS; round++) {
    for (const server of round % 2 === 0 ? servers : [...servers].reverse()) {
      const { cpu, listener } = await run(server.child, server.port)
      server.cpu.push(cpu)
      server.listener.push(listener)
    }
  }
  for (const { child } of [...servers, { child: back }]) child.send('exit')
  // Per mode: the mean of its processes' medians (a process's own layout moves its CPU by a few per cent).
  const byMode = MODES.map((_, m) => servers.filter((server) => server.m === m))
  const cpu = byMode.map((list) => mean(list.map((server) => median(server.cpu))))
  const processRange = byMode.map((list) => list.map((server) => median(server.cpu)).sort((a, b) => a - b))
  const listener = byMode.map((list) => mean(list.map((server) => median(server.listener))))
  const percent = (value) => `${value < 0 ? '' : '+'}${(value * 100).toFixed(1)} %`
  console.log(
    `The preload on an HTTP server calling a backend per request: ${PROCESSES} processes per server, ${REQUESTS} Connection: close requests x ${RUNS} alternating runs each, ${CONCURRENCY} at a time`,
  )
  printTable([
    [
      '',
      'server CPU us/req',
      'vs plain',
      'its processes',
      'keepalive listeners us/req',
      'of plain CPU',
      'accepted holds',
      'outgoing holds',
    ],
    ...MODES.map((mode, m) => {
      const { held } = byMode[m][0]
      return [
        mode,
        cpu[m].toFixed(1),
        m === 0 ? '' : percent(cpu[m] / cpu[0] - 1),
        processRange[m].map((value) => value.toFixed(0)).join(' '),
        m === 0 ? '' : listener[m].toFixed(2),
        m === 0 ? '' : `${((listener[m] / cpu[0]) * 100).toFixed(2)} %`,
        describeHeld(held.accepted),
        describeHeld(held.outgoing),
      ]
    }),
  ])
}

if (process.argv[2] === '--backend') backend()
if (process.argv[2] === '--serve') await serve(process.argv[3], Number(process.argv[4]))
