// keepaliveServer under connection churn: an HTTP server in a child process
// answers `Connection: close` requests (a new TCP connection each) plain,
// with static options, with a function, and under a process-wide rule for
// accepted connections (what the preload installs). Runs alternate; the server's
// CPU per request comes from process.cpuUsage() in the child. On a shared
// 2-core machine that varies by ~10 % from run to run, so the child also
// times keepaliveServer's own 'connection' listener: the cost it adds,
// measured directly, as a share of the plain server's CPU per request. The
// floor row is what a function's per-connection configure cannot save: the
// same 4 writes made in C from a 'connection' listener, timed the same way
// (amid the server's own work, where the kernel's paths are cold, unlike a
// loop of writes). Loopback only.
import { fork } from 'node:child_process'
import { once } from 'node:events'
import http from 'node:http'
import { fileURLToPath } from 'node:url'
import { clockedRun, median, printTable, serverClock, STEADY_STATE } from './shared.mjs'

const FLOOR_MODE = 'floor: 4 writes in C per connection'
const MODES = ['plain', 'static options', 'function', FLOOR_MODE, 'keepaliveProcess (as the preload)']
const PROCESS_MODE = MODES[4]
const RUNS = 5
const REQUESTS = 3000
const CONCURRENCY = 8
const OPTIONS = { idle: 30_000, interval: 5_000, count: 3 }

/** Child: the server, answering the parent as serverClock does. */
async function serve(mode) {
  const { keepaliveProcess, keepaliveServer } = await import('../dist/index.mjs')
  if (mode === PROCESS_MODE) keepaliveProcess(OPTIONS, { outgoing: true, accepted: true })
  const server = http.createServer((_request, response) => response.end('ok'))
  if (mode === 'static options') keepaliveServer(server, OPTIONS)
  if (mode === 'function') keepaliveServer(server, () => OPTIONS)
  if (mode === FLOOR_MODE) {
    const { loadFloor, writesOn } = await import('./floor/index.mjs')
    server.prependListener('connection', writesOn(loadFloor()))
  }
  const { timeFirst } = serverClock({ beforeExit: (done) => server.close(done) })
  if (mode !== 'plain' && mode !== PROCESS_MODE) timeFirst(server, 'connection') // keepaliveServer prepends its listener (the floor too)
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }))
}

async function run(child, port) {
  const { seconds, cpuMicros, listenerMicros } = await clockedRun(child, port, REQUESTS, CONCURRENCY)
  return {
    requestsPerSecond: REQUESTS / seconds,
    cpuMicrosPerRequest: cpuMicros / REQUESTS,
    listenerMicrosPerRequest: listenerMicros / REQUESTS,
  }
}

export async function report() {
  const servers = []
  for (const mode of MODES) {
    const child = fork(fileURLToPath(import.meta.url), ['--serve', mode])
    const [{ port }] = await once(child, 'message')
    servers.push({ mode, child, port, results: [] })
  }
  for (let i = 0; i < Math.ceil(STEADY_STATE / REQUESTS); i++) for (const server of servers) await run(server.child, server.port) // warm-up
  for (let round = 0; round < RUNS; round++) {
    for (const server of servers) server.results.push(await run(server.child, server.port))
  }
  for (const { child } of servers) child.send('exit')
  const base = median(servers[0].results.map((r) => r.cpuMicrosPerRequest))
  console.log(
    `keepaliveServer under churn: ${REQUESTS} Connection: close requests x ${RUNS} alternating runs, ${CONCURRENCY} at a time (medians)`,
  )
  printTable([
    ['', 'req/s', 'server CPU us/req', 'vs plain', 'the keepalive listener us/req', 'of plain CPU'],
    // (The process-wide rule's listener is put on by listen(): its cost shows in the CPU column only.)
    ...servers.map(({ mode, results }) => {
      const cpu = median(results.map((r) => r.cpuMicrosPerRequest))
      const listener = median(results.map((r) => r.listenerMicrosPerRequest))
      const change = ((cpu / base - 1) * 100).toFixed(1)
      const plain = mode === 'plain'
      const timed = !plain && mode !== PROCESS_MODE
      return [
        mode,
        median(results.map((r) => r.requestsPerSecond)).toFixed(0),
        cpu.toFixed(1),
        plain ? '' : `${change.startsWith('-') ? '' : '+'}${change} %`,
        timed ? listener.toFixed(2) : '',
        timed ? `${((listener / base) * 100).toFixed(2)} %` : '',
      ]
    }),
  ])
}

if (process.argv[2] === '--serve') await serve(process.argv[3])
