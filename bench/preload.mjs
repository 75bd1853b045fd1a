// The preload on a real shape of service: an HTTP server that calls a backend
// for each request, under `Connection: close` churn (a new accepted and a new
// outgoing TCP connection per request). Three servers, each a child process:
// - plain: no keepalive;
// - floor: the same settings written by hand from C, at no cost the library
//   could save: once on the listening socket (accepted sockets inherit it) and
//   4 writes on each outgoing socket from a first 'connect' listener that
//   removes itself;
// - the preload: `--require tcp-keepalive/register` with TCP_KEEPALIVE set.
// The backend is one more process, plain. Every server opens its backend
// connection through http's createConnection option, so the servers differ
// only in what keepalive adds.
// Each server runs as 4 processes (two processes of the same plain server
// differ by up to 5 % in CPU, by their own layout), warmed up to a steady
// state (STEADY_STATE requests: a server under the preload reaches it later,
// its hooks make V8 optimize Node's connect path anew), then all run in
// turn, alternating; each one's CPU per request comes from process.cpuUsage()
// in its own process. A mode's figure is the mean of its processes' medians. That is still good to a few
// per cent here, so in separate timed runs each server also times, in
// process, the listeners that do the keepalive work (ours: the 'connection'
// listener the preload puts first on the server and the 'connect' listener
// it puts first on each outgoing socket; the floor's: its 'connect'
// listener): the cost added, measured directly, as a share of the plain
// server's CPU per request. The CPU figures come from the untimed runs only:
// timing a listener costs more than some listeners do. (The connect() hook's
// own work, ~0.3-0.6 µs, is in neither timed listener.) Loopback only.
import { fork } from 'node:child_process'
import { once } from 'node:events'
import http from 'node:http'
import { fileURLToPath } from 'node:url'
import { clockedRun, median, printTable, serverClock, STEADY_STATE } from './shared.mjs'

const MODES = ['plain', 'floor: the same writes in C (listener once, 4 per outgoing socket)', 'the preload']
const PROCESSES = 4
const RUNS = 7 // untimed: the CPU per request
const TIMED_RUNS = 3 // the keepalive listeners timed
const REQUESTS = 1500
const CONCURRENCY = 8
const WARM_UP_RUNS = Math.ceil(STEADY_STATE / REQUESTS)
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
  const net = await import('node:net')
  const { readKeepalive } = await import('../dist/index.mjs')
  // Every server opens its backend connection through createConnection, so they differ only in what
  // each mode adds to it: nothing (plain, the preload: its hook is on connect), or the floor's listener.
  let connectToBackend = (options) => net.createConnection(options)
  let floorWrite = null
  if (mode === MODES[1]) {
    const { loadFloor, writesOn } = await import('./floor/index.mjs')
    floorWrite = writesOn(loadFloor())
    const floorWriter = function () {
      this.removeListener('connect', floorWriter)
      floorWrite(this)
    }
    connectToBackend = (options) => net.createConnection(options).prependListener('connect', floorWriter)
  }
  let held = null // what the first request's two sockets held: the benchmark says what it measured
  const { timed, timeFirst } = serverClock({ extra: () => ({ held }) })
  // Timed runs time the keepalive listeners, which costs more than they do: their CPU is not the figure.
  // Untimed runs have none of it: the preload's 'connection' listener is swapped back, and nothing
  // wraps the outgoing sockets' listeners.
  let timing = false
  let acceptedListener = null // the preload's, put first by listen()
  process.on('message', (message) => {
    if (typeof message !== 'object' || message === null || !('timing' in message) || message.timing === timing) return
    timing = message.timing
    if (mode !== 'the preload') return
    const [first] = server.listeners('connection')
    acceptedListener ??= first
    server.removeListener('connection', first)
    server.prependListener('connection', timing ? timed(acceptedListener) : acceptedListener)
  })
  // No agent: with createConnection, http uses it for each request, with Connection: close.
  const backend = { host: '127.0.0.1', port: backendPort, headers: { connection: 'close' }, createConnection: connectToBackend }
  const server = http.createServer((request, response) => {
    const outgoing = http.get(backend, (answer) => {
      held ??= { accepted: readKeepalive(request.socket), outgoing: readKeepalive(answer.socket) }
      answer.resume()
      answer.on('end', () => response.end('ok'))
    })
    if (timing && mode !== 'plain') outgoing.once('socket', (socket) => timeFirst(socket, 'connect', true)) // the floor's, or the preload's: put first
  })
  server.listen(0, '127.0.0.1', () => {
    if (floorWrite) floorWrite(server) // the listening socket: accepted sockets inherit it
    process.send({ port: server.address().port })
  })
}

/** CPU µs per request of `child` over REQUESTS requests, and (when `timing`) its keepalive listeners' µs per request. */
async function run(child, port, timing) {
  child.send({ timing })
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
      const { held } = await run(child, port, false)
      for (let i = 0; i < WARM_UP_RUNS; i++) await run(child, port, i === 0)
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
  for (let round = 0; round < RUNS + TIMED_RUNS; round++) {
    const timing = round >= RUNS
    for (const server of round % 2 === 0 ? servers : [...servers].reverse()) {
      const { cpu, listener } = await run(server.child, server.port, timing)
      if (timing) server.listener.push(listener)
      else server.cpu.push(cpu)
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
    `The preload on an HTTP server calling a backend per request: ${PROCESSES} processes per server, ${REQUESTS} Connection: close requests x ${RUNS} alternating runs each (and ${TIMED_RUNS} timed), ${CONCURRENCY} at a time`,
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
