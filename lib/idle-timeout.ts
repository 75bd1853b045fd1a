// measureIdleTimeout: how long a network path, and separately the server at
// its end, keep an idle TCP connection, found with keepalive probes alone.
//
// A round opens a few connections at once, each with its own keepalive idle
// (whole seconds) and never a byte of data. A probe that is answered (TCP_INFO
// shows an ACK received after it) means the path still knew the flow after that
// idle, and it refreshes the middlebox; a probe sent after the middlebox forgot
// kills the connection: ETIMEDOUT when the box drops it silently (a NAT, most
// firewalls), ECONNRESET at the probe when it answers with a reset (LVS). A FIN
// is the server closing idle connections itself (an HTTP keep-alive or headers
// timeout, Redis `timeout`, MySQL `wait_timeout`): that is the other layer, and
// is reported apart. The first round grades idles geometrically up to what the
// time budget allows, later rounds refine between the last survivor and the
// first death, down to the kernel's whole-second idle.
import dns from 'node:dns/promises'
import net from 'node:net'
import { constants } from 'node:os'
import { invalidArgType, outOfRange } from './errors.js'
import { configureKeepalive, readTcpInfo } from './keepalive.js'
import { type KeepalivePlan, planKeepalive, tcpKeepaliveLine } from './plan.js'

export interface MeasureRequest {
  host: string
  port: number
  /** The most the whole measurement may take (ms). Default 15 min. */
  max?: number
  /** Connections open at once, each probing its own idle. Default 8. */
  connections?: number
  /** Called as the measurement goes on (for progress displays). */
  onProgress?: (progress: MeasureProgress) => void
  /** Stops the measurement: the promise rejects with an AbortError, every connection closed. */
  signal?: AbortSignal
}

export interface MeasureProgress {
  round: number
  /** The idles (ms) this round's connections probe at. */
  idles: number[]
  elapsedMs: number
  maxMs: number
  /** What is known so far. */
  forgetsAfter: Range | null
}

/** The value is more than `low` and at most `high` (ms). */
export interface Range {
  low: number
  high: number
}

export interface IdleTimeoutReport {
  target: { host: string; address: string; port: number }
  /** The path forgets an idle flow after more than `low` and at most `high` ms; null when no probe died. */
  forgetsAfter: Range | null
  /** How the path forgets: probes dropped without a word, or answered with a reset; null with forgetsAfter null. */
  how: 'silent' | 'reset' | null
  /** The server itself closed idle connections (FIN) after more than `low` and at most `high` ms; else null. */
  serverClosesAfter: Range | null
  /** The longest idle a probe was answered after (ms), 0 when none was. */
  survivedIdle: number
  /** The time budget (ms) and what was used of it. */
  maxMs: number
  elapsedMs: number
  /** Connections opened in all (never more than `connections` at once). */
  connections: number
  rounds: number
  /**
   * Settings that keep such a path's flows known: planKeepalive with forgetsAfter.low as the middlebox's idle
   * timeout, and the TCP_KEEPALIVE line for the preload; null when no flow was forgotten.
   */
  plan: { idleTimeout: number; options: { idle: number; interval: number; count: number; userTimeout: number }; line: string } | null
  notes: string[]
}

const SECOND = 1000
/** Probes of a measuring connection: a dropped one is given up 2 s after it left (a lost probe is survived once). */
const PROBE = { interval: SECOND, count: 2 }
/** How long the kernel takes after the probe to decide: interval x count, and a little for the report. */
const VERDICT_MS = PROBE.interval * PROBE.count + 500
const CONNECT_TIMEOUT_MS = 5000
const POLL_MS = 50
const DEFAULT_MAX_MS = 15 * 60 * SECOND
/** TCP_KEEPIDLE's largest value on Linux. */
const MAX_IDLE_MS = 32_767 * SECOND
/**
 * Times are counted from our 'connect' event, a little after the handshake's last ACK left (which starts the
 * middlebox's and the server's clocks): upper bounds get this much on top.
 */
const CLOCK_SLACK_MS = 10
/** A FIN's arrival, less the round trip and this much for the server's own timers, bounds its timeout from below. */
const SERVER_TIMER_SLACK_MS = 20

/** One measuring connection: keepalive at `idle`, never a byte of data, and what became of it. */
interface Probe {
  idle: number
  socket: net.Socket
  connectedAt: number
  rttMs: number
  /**
   * The probe was answered after this long idle (ms): the path still knew the flow. The kernel's timer sends it at
   * `idle` or a little later (its timer wheel rounds long timeouts up by up to 1/8): this is when it really left.
   */
  answered: number | null
  /** Killed at its probe: the path had forgotten it. `probeLeftBy`: the probe left no later than this (ms). */
  forgotten: { code: string; probeLeftBy: number } | null
  /** The server closed it: a FIN, or a reset at no probe's time, this long (ms) after connecting. */
  closedByServer: { at: number; reset: boolean } | null
}

const decided = (probe: Probe) => probe.answered !== null || probe.forgotten !== null || probe.closedByServer !== null

/**
 * Finds how long the path to `host:port` keeps an idle TCP connection, and
 * whether the server closes idle connections itself, with keepalive probes
 * only (no data is ever sent). Resolves to a report; rejects with the system
 * error when the target cannot be reached (ECONNREFUSED, EHOSTUNREACH, or
 * ETIMEDOUT when no SYN-ACK comes within 5 s).
 *
 * @example
 * ```ts
 * const { forgetsAfter, how, serverClosesAfter } = await measureIdleTimeout({ host: 'db.internal', port: 5432, max: 10 * 60_000 })
 * ```
 */
export async function measureIdleTimeout(request: MeasureRequest): Promise<IdleTimeoutReport> {
  if (typeof request !== 'object' || request === null) throw invalidArgType('request', 'of type object', request)
  const { host, port, max = DEFAULT_MAX_MS, connections = 8, onProgress, signal } = request
  if (typeof host !== 'string' || host === '') throw invalidArgType('request.host', 'a non-empty string', host)
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw outOfRange('request.port', 'an integer >= 1 && <= 65535', port)
  if (typeof max !== 'number' || !Number.isFinite(max) || max < 5 * SECOND) throw outOfRange('request.max', '>= 5000 (ms) and finite', max)
  if (!Number.isInteger(connections) || connections < 2 || connections > 64) {
    throw outOfRange('request.connections', 'an integer >= 2 && <= 64', connections)
  }
  if (onProgress !== undefined && typeof onProgress !== 'function') throw invalidArgType('request.onProgress', 'a function', onProgress)
  signal?.throwIfAborted()

  const started = Date.now()
  const elapsed = () => Date.now() - started
  // One address for every connection: a name that resolves round-robin would measure several paths.
  const { address } = await dns.lookup(host)
  const notes: string[] = []
  let survivedIdle = 0
  let forgetsAfter: Range | null = null
  /** The shortest idle whose probe died: later rounds refine below it. */
  let diedIdle = Infinity
  let how: 'silent' | 'reset' | null = null
  let serverCloses: Range | null = null
  let serverResets = false
  let opened = 0
  let rounds = 0

  for (let idles = firstRoundIdles(max, connections); idles.length > 0;) {
    rounds += 1
    onProgress?.({ round: rounds, idles, elapsedMs: elapsed(), maxMs: max, forgetsAfter })
    const probes = await runRound(address, port, idles, started + max, signal)
    opened += idles.length

    for (const { answered, closedByServer, rttMs } of probes) {
      if (answered !== null) survivedIdle = Math.max(survivedIdle, answered)
      if (closedByServer) {
        const range = {
          low: Math.max(0, closedByServer.at - Math.ceil(rttMs) - SERVER_TIMER_SLACK_MS),
          high: closedByServer.at + CLOCK_SLACK_MS,
        }
        serverCloses = serverCloses ? { low: Math.min(serverCloses.low, range.low), high: Math.min(serverCloses.high, range.high) } : range
        if (closedByServer.reset && !serverResets) {
          serverResets = true
          notes.push('The server reset idle connections (RST) instead of closing them with a FIN.')
        }
      }
    }
    const died = probes.filter((probe) => probe.forgotten !== null).sort((a, b) => a.idle - b.idle)[0]
    const previous = forgetsAfter as Range | null // (what earlier rounds found: TS narrows the loop's variable to null)
    if (died?.forgotten) {
      const below = probes.flatMap((probe) => (probe.answered !== null && probe.idle < died.idle ? [probe.answered] : []))
      forgetsAfter = {
        low: Math.max(previous?.low ?? 0, ...below),
        high: Math.min(previous?.high ?? Infinity, died.forgotten.probeLeftBy + CLOCK_SLACK_MS),
      }
      diedIdle = Math.min(diedIdle, died.idle)
      const { code } = died.forgotten
      how = code === 'ECONNRESET' ? 'reset' : 'silent'
      if (code !== 'ETIMEDOUT' && code !== 'ECONNRESET') {
        notes.push(`The probe after ${died.idle / SECOND} s idle failed with ${code} (an ICMP error from the path), counted as silent.`)
      }
      if (probes.some((probe) => probe.answered !== null && probe.idle > died.idle)) {
        notes.push(
          `Inconsistent answers: an idle longer than ${died.idle / SECOND} s survived in the same round (loss on the path, or several paths).`,
        )
      }
    } else if (previous) {
      // A refining round whose probes were all answered: the timeout is above them all.
      forgetsAfter = { ...previous, low: Math.max(previous.low, survivedIdle) }
    }
    if (previous && probes.every((probe) => probe.answered === null && probe.forgotten === null)) {
      notes.push(
        'A refining round ended with no probe answered or forgotten (the server closed the connections first): the range is as found before it.',
      )
      break
    }
    idles = forgetsAfter ? refiningIdles(forgetsAfter.low, diedIdle, connections, started + max - Date.now()) : []
    if (forgetsAfter && idles.length === 0 && refiningIdles(forgetsAfter.low, diedIdle, connections, Infinity).length > 0) {
      notes.push(
        'The time budget ran out before a 1 s resolution: the path forgets somewhere in that range (give it more time to narrow it).',
      )
    }
  }

  if (!forgetsAfter) {
    notes.push(
      serverCloses
        ? `The server closed the idle connections before the path forgot them: ${survivedIdle > 0 ? `the path keeps idle flows at least ${survivedIdle / SECOND} s (probes answered)` : 'no probe was answered before that'}; any timeout of its own is longer than what could be seen.`
        : `No probe died: the path kept idle flows ${survivedIdle / SECOND} s, the longest idle the time budget allowed (${max / SECOND} s).`,
    )
  }
  if (serverCloses) {
    notes.push(
      'The server closes idle connections itself (a FIN: an HTTP keep-alive or headers timeout, Redis timeout, MySQL wait_timeout): TCP keepalive does not change that. ' +
        "Keep a client pool's idle-socket timeout below it (http.Agent free-socket timeout, undici keepAliveTimeout).",
    )
  }
  return {
    target: { host, address, port },
    forgetsAfter,
    how,
    serverClosesAfter: serverCloses,
    survivedIdle,
    maxMs: max,
    elapsedMs: elapsed(),
    connections: opened,
    rounds,
    plan: planFor(forgetsAfter, notes),
    notes,
  }
}

/** Whole seconds from 1 s, spread geometrically up to the longest idle whose verdict still comes within the budget. */
function firstRoundIdles(maxMs: number, connections: number): number[] {
  const top = Math.min(MAX_IDLE_MS, Math.floor((maxMs - VERDICT_MS) / SECOND) * SECOND)
  const ratio = (top / SECOND) ** (1 / (connections - 1))
  const idles = new Set<number>()
  for (let k = 0; k < connections; k++) idles.add(Math.min(top, Math.max(SECOND, Math.round(ratio ** k) * SECOND)))
  return [...idles].sort((a, b) => a - b)
}

/** Whole seconds strictly between the last idle that survived and the first that died, evenly spread, that fit in the time left. */
function refiningIdles(survived: number, died: number, connections: number, remainingMs: number): number[] {
  const from = Math.floor(survived / SECOND) + 1
  const to = Math.ceil(died / SECOND) - 1
  const fits = Math.floor((remainingMs - VERDICT_MS) / SECOND)
  const last = Math.min(to, fits)
  if (last < from) return []
  const count = last - from + 1
  const idles = new Set<number>()
  for (let k = 1; k <= Math.min(connections, count); k++) {
    idles.add((from + Math.round(((k - 1) * (count - 1)) / Math.max(1, Math.min(connections, count) - 1))) * SECOND)
  }
  return [...idles].sort((a, b) => a - b)
}

/**
 * One round: a connection per idle, all at once; ends when every connection
 * has its verdict, or the first death makes the longer idles moot, or the
 * deadline comes. Every socket is destroyed before it returns or throws.
 */
async function runRound(address: string, port: number, idles: number[], deadline: number, signal?: AbortSignal): Promise<Probe[]> {
  /** What ends each connection of the round, run on every way out. */
  const closers: Array<() => void> = []
  try {
    const probes = await Promise.all(idles.map((idle) => open(address, port, idle, closers)))
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => check(), POLL_MS)
      const check = () => {
        if (signal?.aborted) {
          clearInterval(timer)
          return reject(signal.reason)
        }
        const now = Date.now()
        for (const probe of probes) if (!decided(probe)) poll(probe, now)
        // A death makes every longer idle moot: verdicts are owed only below the first one.
        const firstDeath = Math.min(...probes.filter((probe) => probe.forgotten !== null).map((probe) => probe.idle))
        if (now >= deadline || probes.every((probe) => decided(probe) || probe.idle > firstDeath)) {
          clearInterval(timer)
          resolve()
        }
      }
      check()
    })
    return probes
  } finally {
    for (const close of closers) close()
  }
}

/** Opens one measuring connection; its outcome is recorded on the probe as it comes. */
function open(address: string, port: number, idle: number, closers: Array<() => void>): Promise<Probe> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: address, port })
    configureKeepalive(socket, { idle, ...PROBE }) // applied once connected
    const timer = setTimeout(() => {
      const message = `connect ETIMEDOUT ${address}:${port} (no answer within ${CONNECT_TIMEOUT_MS / SECOND} s)`
      socket.destroy(
        Object.assign(new Error(message), { code: 'ETIMEDOUT', errno: -constants.errno.ETIMEDOUT, syscall: 'connect', address, port }),
      )
    }, CONNECT_TIMEOUT_MS)
    closers.push(() => {
      clearTimeout(timer)
      socket.destroy()
    })
    socket.once('error', reject)
    socket.once('connect', () => {
      clearTimeout(timer)
      socket.removeListener('error', reject)
      const probe: Probe = {
        idle,
        socket,
        connectedAt: Date.now(),
        rttMs: readTcpInfo(socket).rtt ?? 0,
        answered: null,
        forgotten: null,
        closedByServer: null,
      }
      socket.on('error', (error: NodeJS.ErrnoException) => {
        if (probe.forgotten || probe.closedByServer) return
        const at = Date.now() - probe.connectedAt
        const code = error.code ?? 'ERR'
        if (code === 'ECONNRESET') {
          // The path speaks only when spoken to: a reset before the first probe, or after it was answered, is the server's.
          if (probe.answered === null && at >= idle - POLL_MS) probe.forgotten = { code, probeLeftBy: at }
          else probe.closedByServer = { at, reset: true }
        } else {
          // Dropped probes: the kernel gives up interval x count after the first one left (its timers never fire early).
          probe.forgotten = { code, probeLeftBy: code === 'ETIMEDOUT' ? at - PROBE.interval * PROBE.count : at }
        }
      })
      socket.on('end', () => {
        if (!probe.forgotten && !probe.closedByServer) probe.closedByServer = { at: Date.now() - probe.connectedAt, reset: false }
        socket.destroy()
      })
      resolve(probe)
    })
  })
}

/** Records an answered probe: an ACK came in after the idle (only probes are answered: no data flows). */
function poll(probe: Probe, now: number): void {
  if (probe.socket.destroyed || now - probe.connectedAt < probe.idle) return
  let lastAck: number | null
  try {
    lastAck = readTcpInfo(probe.socket).lastAckReceived
  } catch {
    return // closing: its error or FIN says what happened
  }
  const ackAt = lastAck === null ? null : now - lastAck
  if (ackAt !== null && ackAt > probe.connectedAt + probe.idle / 2) {
    probe.answered = Math.max(probe.idle, Math.floor(ackAt - probe.connectedAt - probe.rttMs))
  }
}

/** TCP keepalive settings for a path that forgets after more than `low`: planKeepalive with low as the middlebox's timeout. */
function planFor(forgetsAfter: Range | null, notes: string[]): IdleTimeoutReport['plan'] {
  if (!forgetsAfter) return null
  let planned: KeepalivePlan
  try {
    planned = planKeepalive({ idleTimeout: forgetsAfter.low })
  } catch (error) {
    notes.push(`No keepalive plan: ${(error as Error).message}`)
    return null
  }
  const { idle, interval, count, userTimeout } = planned
  const options = { idle, interval, count, userTimeout }
  return { idleTimeout: forgetsAfter.low, options, line: tcpKeepaliveLine(options) }
}
