// Helpers shared by the benchmark sections.
import { once } from 'node:events'
import http from 'node:http'
import { createRequire } from 'node:module'
import net from 'node:net'

export const require = createRequire(import.meta.url)

/** net-keepalive, or null when it is not installed (it is then left out). */
export function loadNetKeepalive() {
  try {
    return require('net-keepalive')
  } catch {
    return null
  }
}

export async function listening(server) {
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return server
}

export async function connectedSocket(server) {
  const socket = net.connect(server.address().port, '127.0.0.1')
  await once(socket, 'connect')
  return socket
}

/**
 * Connections (or requests) a server or a loop sees before it is measured.
 * Node 26's V8 keeps a function called once per connection in its middle
 * tier (Maglev) until ~16 000 calls, and only then optimizes it fully:
 * measured earlier, the figure is that tier's, not a running server's.
 */
export const STEADY_STATE = 20_000

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}

/** Node's own setKeepAlive, taken before tcp-keepalive's first configure wraps it for sticky settings. */
export const nodeSetKeepAlive = net.Socket.prototype.setKeepAlive

/** Node 24.19+ and 26.4+ take setKeepAlive(enable, initialDelay, interval, count). */
export const nodeTakesIntervalAndCount = nodeSetKeepAlive.length >= 4

/** Prints rows of cells, each column padded to its widest cell (first column left-aligned). */
export function printTable(rows) {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => String(row[column]).length)))
  for (const row of rows) {
    console.log(
      `  ${row.map((cell, column) => (column === 0 ? String(cell).padEnd(widths[column]) : String(cell).padStart(widths[column]))).join('   ')}`,
    )
  }
  console.log()
}

export const ratio = (value, base) => (base ? `x${(value / base).toFixed(2)}` : '')

/** A GET on a new connection (`Connection: close`) to a loopback server, resolved once the answer is read. */
export function requestOnce(port) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, agent: false, headers: { connection: 'close' } }, (response) => {
      response.resume()
      response.on('end', resolve)
    })
    req.on('error', reject)
  })
}

/**
 * In a server's child process: `timed(listener)` wraps a listener whose time
 * is counted, `timeFirst(emitter, event)` puts the first listener of `event`
 * back timed (`once`: for one call, as a listener that removes itself would
 * not find itself wrapped), and the parent's messages are answered: 'start'
 * resets the CPU clock and that count, 'stop' answers with both in µs (and
 * what `extra()` gives), 'exit' ends the process (after `beforeExit` calls back).
 */
export function serverClock({ extra = () => ({}), beforeExit = (done) => done() } = {}) {
  let start = process.cpuUsage()
  let listenerNs = 0
  process.on('message', (message) => {
    if (message === 'start') {
      start = process.cpuUsage()
      listenerNs = 0
    }
    if (message === 'stop') {
      const { user, system } = process.cpuUsage(start)
      process.send({ cpuMicros: user + system, listenerMicros: listenerNs / 1000, ...extra() })
    }
    if (message === 'exit') beforeExit(() => process.exit(0))
  })
  const timed = (listener) =>
    function (...args) {
      const started = process.hrtime.bigint()
      try {
        return listener.apply(this, args)
      } finally {
        listenerNs += Number(process.hrtime.bigint() - started)
      }
    }
  const timeFirst = (emitter, event, once = false) => {
    const [first] = emitter.listeners(event)
    if (first === undefined) return
    emitter.removeListener(event, first)
    if (once) emitter.prependOnceListener(event, timed(first))
    else emitter.prependListener(event, timed(first))
  }
  return { timed, timeFirst }
}

/**
 * Parent side of serverClock: `requests` requests to the child's server at
 * `port`, `concurrency` at a time, between 'start' and 'stop'. Returns the
 * seconds they took and the child's answer.
 */
export async function clockedRun(child, port, requests, concurrency) {
  child.send('start')
  const started = process.hrtime.bigint()
  let next = 0
  const worker = async () => {
    while (next++ < requests) await requestOnce(port)
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  child.send('stop')
  const [answer] = await once(child, 'message')
  return { seconds, ...answer }
}
