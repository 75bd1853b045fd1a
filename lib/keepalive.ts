// The core: configureKeepalive, readKeepalive, readTcpInfo and what this
// process supports, over the backend chosen once at load.
import type net = require('node:net')
import type { Backend, KeepaliveState, Target, TcpInfo } from './backend.js'
import { deadPeerDetectionMs } from './detection.js'
import { keepaliveError } from './errors.js'
import { fallbackBackend, runtimeName } from './fallback.js'
import { socketLookup } from './lookup.js'
import { loadBinding, nativeBackend } from './native.js'
import { acceptedRange, copied, type Field, FIELDS, type KeepaliveOptions, merged, type Settings, validateOptions } from './options.js'
import {
  adoptFresh,
  effective,
  INTEGRATION,
  isEmpty,
  type Layer,
  OWN,
  PROCESS,
  record,
  setWriter,
  type SocketState,
  stateFor,
  stateOf,
  winning,
} from './sticky.js'
import { checkTarget, fdTarget, isTcpHandle, type KeepaliveTarget, socketTarget } from './target.js'
import { warnOnce } from './warn.js'

export type { KeepaliveState, TcpInfo } from './backend.js'
export type { KeepaliveOptions } from './options.js'
export type { KeepaliveTarget } from './target.js'

const loaded = loadBinding()
const backend: Backend = 'binding' in loaded ? nativeBackend(loaded.binding) : fallbackBackend(loaded.reason)

/**
 * The lookup of a socket's fd by its addresses (lib/lookup.ts), in the
 * runtimes that hand some sockets out without one (Deno: all; Bun: its
 * http.Server's), where the binding has it (Linux). Never on Node.
 */
const { bun, deno } = process.versions as { bun?: string; deno?: string }
const lookup = 'binding' in loaded && loaded.binding.socketLookup && (bun || deno) ? socketLookup(loaded.binding) : undefined

/** Where sockets' fds come from; see {@link KeepaliveSupport.fdSource}. */
const fdSource = !backend.native ? null : lookup === undefined ? 'handle' : deno ? 'lookup' : 'handle-or-lookup'

/** What {@link configureKeepalive} can set and {@link readKeepalive} can report in this process. */
export interface KeepaliveSupport {
  /** The native binding is in use (setsockopt/getsockopt on the socket's fd). */
  readonly native: boolean
  /** Why the native binding is not in use; null when it is. */
  readonly reason: string | null
  /** The runtime, as its users name it: `Node v20.19.0`, `Bun 1.4.5`, `Deno 2.9.6`. */
  readonly runtime: string
  /**
   * Where the binding gets a socket's file descriptor: `'handle'` (the runtime
   * exposes it: Node, and Bun's `net` sockets off Linux), `'handle-or-lookup'`
   * (Bun on Linux: from the handle, and for the sockets that have none, its
   * `http.Server` connections, found among the process's fds by their
   * addresses), `'lookup'` (Deno on Linux: every socket found by its
   * addresses); null in fallback mode.
   */
  readonly fdSource: 'handle' | 'handle-or-lookup' | 'lookup' | null
  readonly enable: boolean
  readonly idle: boolean
  readonly interval: boolean
  readonly count: boolean
  readonly userTimeout: boolean
  /** readKeepalive reports the kernel's values (otherwise it reports null for each field). */
  readonly read: boolean
  /** readTcpInfo works (Linux, native binding). */
  readonly tcpInfo: boolean
  /** Accepted values per settable field: ms, or probes for count. Times are rounded up to `unitMs`. */
  readonly ranges: Readonly<Partial<Record<Exclude<Field, 'enable'>, { min: number; max: number; unitMs: number }>>>
}

export const keepaliveSupport: KeepaliveSupport = Object.freeze({
  native: backend.native,
  reason: backend.reason,
  runtime: runtimeName(),
  fdSource,
  enable: true,
  idle: backend.limits.idle !== undefined,
  interval: backend.limits.interval !== undefined,
  count: backend.limits.count !== undefined,
  userTimeout: backend.limits.userTimeout !== undefined,
  read: backend.canRead,
  tcpInfo: backend.readTcpInfo !== undefined,
  ranges: Object.freeze(
    Object.fromEntries(
      Object.entries(backend.limits).map(([field, limits]) => [field, Object.freeze({ ...acceptedRange(limits), unitMs: limits.unitMs })]),
    ),
  ),
})

/**
 * Whether an integration should let this connection pass untouched: a Unix
 * domain socket (Node gives it a Pipe handle, also while it connects), where
 * keepalive has no meaning. Says so once per integration.
 */
export function passesThrough(socket: net.Socket, integration: string): boolean {
  if (!isUnixSocket(socket)) return false
  warnUnixSocket(integration)
  return true
}

/** A Unix domain socket: Node gives it a Pipe handle, also while it connects. */
export function isUnixSocket(socket: net.Socket): boolean {
  const handle = (socket as { _handle?: object | null })._handle
  return handle != null && !isTcpHandle(handle) && handle.constructor?.name === 'Pipe'
}

export function warnUnixSocket(integration: string): void {
  warnOnce(`tcp-keepalive: ${integration} lets connections over a Unix socket pass without keepalive`, 'TCP_KEEPALIVE_NOT_TCP')
}

/**
 * Validates options an integration applies later, without touching a socket,
 * and returns the settings they stand for on this platform (a new object:
 * changing the caller's options afterwards changes nothing).
 */
export function settledSettings(given: unknown): Settings {
  const { settings, strict } = validateOptions(given, backend.limits)
  return withoutUnsupported(settings, strict)
}

/** Whether configuring a listening socket configures the sockets it accepts, with no syscall per connection. */
export const acceptedSocketsInherit = backend.acceptedSocketsInherit

/**
 * Records settings an accepted socket inherited from its listener (set there
 * by an integration), so they stick across setKeepAlive calls like configured
 * ones. No system call, unless a process-wide rule already wrote some of these
 * fields on this socket: those are written back, as the integration wins.
 * `settings` are shared by every socket of the listener: never changed.
 */
export function adoptInherited(socket: net.Socket, settings: Readonly<Settings>): Error | null {
  if (adoptFresh(socket, INTEGRATION, settings)) return null // nothing configured it before: recorded as it is
  const state = stateFor(socket)
  if (!isEmpty(keptOf(settings, state.layers[PROCESS]))) return configureFor(socket, INTEGRATION, settings)
  record(socket, state, INTEGRATION, settings, false)
  return null
}

/**
 * Whether an accepted socket holds `settings` (read back with getsockopt), so
 * that it inherited them from its listening socket: only the fields `skip`
 * does not pass over (those written on this socket, or on the listener, by
 * another layer) are compared. Undefined when none is left to compare.
 */
export function holdsInherited(socket: net.Socket, settings: Readonly<Settings>, skip: (field: Field) => boolean): boolean | undefined {
  const fields = FIELDS.filter((field) => settings[field] !== undefined && !skip(field))
  if (fields.length === 0) return undefined
  const held = readKeepalive(socket)
  return fields.every((field) => (field === 'enable' ? held.enabled : held[field]) === settings[field])
}

/**
 * A socket takes its listener's options when its handshake completes, not
 * when it is accepted; Linux's accept queue can hold up to 4096 of them (the
 * default cap on a listen backlog, net.core.somaxconn).
 */
const FULL_ACCEPT_QUEUE = 4096

/**
 * Whether the sockets a listening socket accepts hold what was just written
 * on it, learned from those accepted after the write. The first of them may
 * have been queued before it; the queue is FIFO, so they are read back until
 * one holds them, and from then on every one does. After a full queue of
 * sockets that did not, none is expected to.
 */
export class Inheritance {
  /** true: every socket accepted from now on holds them; false: none is expected to; undefined: not known yet. */
  known: boolean | undefined = undefined
  private missed = 0

  /** Whether this accepted socket holds them: `holds` reads it back, while that is not known. */
  check(holds: () => boolean): boolean {
    if (this.known !== undefined) return this.known
    if (holds()) this.known = true
    else if (++this.missed >= FULL_ACCEPT_QUEUE) this.known = false
    return this.known === true
  }
}

/** The socket was closed, or is being torn down (socketTarget). */
function isClosed(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'ERR_SOCKET_CLOSED'
}

/** A process-wide rule could not configure a connection: the process's own connections are not its to break (one closed meanwhile: nothing to say). */
export function warnRuleNotApplied(error: Error): void {
  if (isClosed(error)) return
  warnOnce(`tcp-keepalive: keepaliveProcess could not configure a connection, left as it was: ${error.message}`, 'TCP_KEEPALIVE_FAILED')
}

/**
 * Sockets that expose no file descriptor although the binding is in use, and
 * that the lookup did not find (or that cannot be looked up), get the
 * runtime's own setKeepAlive: a connection is never failed for lacking an fd.
 */
const noFdBackend: Backend = backend.native ? fallbackBackend('the socket exposes no file descriptor') : backend

/** The backend for a socket with this fd (-1: none exposed, none found). */
function backendFor(fd: number): Backend {
  return fd < 0 ? noFdBackend : backend
}

/**
 * A socket's target with its fd: the one the runtime exposes, else (Deno,
 * Bun's http.Server connections) the one the lookup found by its addresses;
 * else fd -1 with why none was found. Null while it connects.
 */
function resolve(socket: net.Socket, keep = false): Target | null {
  return withLookup(socket, socketTarget(socket, keep))
}

/** `target` as socketTarget gave it, with the fd the lookup finds where the runtime exposes none. */
function withLookup(socket: net.Socket, target: Target | null): Target | null {
  if (target === null || target.fd >= 0 || lookup === undefined) return target
  const found = lookup.socketFd(socket)
  // The fd matched the socket's addresses and was checked to be TCP, and still holds that socket.
  return 'fd' in found ? { socket, fd: found.fd, knownTcp: true } : { ...target, unfound: found.why }
}

/**
 * The fds of a listening server: the runtime's own, else (Deno, Bun's
 * http.Server) those found by its address (several for SO_REUSEPORT twins);
 * empty with a one-time warning saying why, when there are none to configure.
 */
export function listenerFds(server: net.Server): number[] {
  const fd = (server as unknown as { _handle?: { fd?: number } })._handle?.fd
  if (typeof fd === 'number' && fd >= 0) return [fd]
  if (lookup === undefined) return []
  const found = lookup.listenerFds(server)
  if (typeof found !== 'string') return found
  warnOnce(`tcp-keepalive: the listening socket is not configured, each connection is instead: ${found}`, 'TCP_KEEPALIVE_NOT_FOUND')
  return []
}

/** Drops the fields `using` cannot apply: a one-time warning each, or ERR_KEEPALIVE_UNSUPPORTED when strict. */
function withoutUnsupported(settings: Settings, strict: boolean, using: Backend = backend, unfound?: string): Settings {
  const missing = using.unsupported(settings)
  if (missing.length === 0) return settings
  // In fallback mode, say first that the binding is not in use, and why: that is what to fix.
  const where =
    using !== backend
      ? ` on a socket that exposes no file descriptor${unfound === undefined ? '' : ` (${unfound})`}`
      : backend.native
        ? ' here'
        : ''
  const cause = using === backend && !backend.native ? `the native binding is not in use (${backend.reason}), and ` : ''
  const message = (field: string, why: string) => `tcp-keepalive cannot set ${field}${where}: ${cause}${why}`
  if (strict) {
    throw keepaliveError('ERR_KEEPALIVE_UNSUPPORTED', missing.map(({ field, why }) => message(field, why)).join('; '))
  }
  const kept = { ...settings }
  for (const { field, why } of missing) {
    kept[field] = undefined
    warnOnce(message(field, why), 'TCP_KEEPALIVE_UNSUPPORTED')
  }
  return kept
}

/**
 * A Multipath TCP socket (e.g. under mptcpize) takes every keepalive option
 * but TCP_USER_TIMEOUT, which is written first: ENOPROTOOPT with nothing
 * applied, for settings that have a userTimeout.
 */
function lacksUserTimeout(error: unknown, settings: Settings): boolean {
  const { code, applied } = error as { code?: unknown; applied?: unknown }
  return code === 'ENOPROTOOPT' && applied === undefined && settings.userTimeout !== undefined
}

function warnNoUserTimeout(): void {
  warnOnce(
    'tcp-keepalive: a Multipath TCP socket has no TCP_USER_TIMEOUT: userTimeout is left out there, the other fields are applied',
    'TCP_KEEPALIVE_NO_USER_TIMEOUT',
  )
}

let idleOnlyWarned = false

/**
 * The likeliest mistake: idle alone leaves interval and count as the socket
 * has them (Linux's defaults: 75 s and 9 probes), so a dead peer is found
 * minutes after idle, where setKeepAlive(true, idle) finds it in seconds.
 * Said once per process, with the detection time this socket now has.
 */
function warnIdleOnly(settings: Readonly<Settings>, target: Target | null): void {
  const { idle, interval, count, userTimeout } = settings
  if (idleOnlyWarned || idle === undefined || interval !== undefined || count !== undefined || userTimeout !== undefined) return
  const using = target === null ? backend : backendFor(target.fd)
  if (using.writesAllFields) return // Node's setKeepAlive (the fallback) writes its own interval and count with idle
  idleOnlyWarned = true
  let held: KeepaliveState | null = null
  try {
    if (target !== null) held = using.read(target)
  } catch {
    // the warning must not fail the call: say it without this socket's values
  }
  const detection = held === null ? null : deadPeerDetectionMs(held)
  const kept =
    held === null || detection === null
      ? 'interval and count stay as the socket has them (Linux defaults: 75 s and 9 probes, a dead peer found 11 min 15 s after idle)'
      : `interval and count stay as the socket has them (${duration(held.interval!)} and ${held.count} probes), so a dead peer is found ${duration(detection)} after the last packet`
  warnOnce(
    `tcp-keepalive: only idle was given (${duration(idle)}): ${kept}. ` +
      `Give all three, e.g. { idle: ${idle}, interval: 5000, count: 3 } finds it ${duration(idle + 15_000)} after the last packet`,
    'TCP_KEEPALIVE_IDLE_ONLY',
  )
}

/** 40 s, 11 min 45 s. */
function duration(ms: number): string {
  const seconds = Math.ceil(ms / 1000)
  return seconds < 120 ? `${seconds} s` : `${Math.floor(seconds / 60)} min${seconds % 60 ? ` ${seconds % 60} s` : ''}`
}

/**
 * Writes `settings` for an integration or a rule (never the socket's own
 * call): a socket that turns out to lack TCP_USER_TIMEOUT gets the other
 * fields, with one warning per process. Throws what the kernel refused otherwise.
 */
function applyTolerant(using: Backend, target: Target, settings: Settings, state: SocketState | undefined): Settings {
  try {
    using.apply(target, settings)
    return settings
  } catch (error) {
    if (!lacksUserTimeout(error, settings)) throw error
    if (state !== undefined) state.lacksUserTimeout = true
    warnNoUserTimeout()
    const rest = { ...settings, userTimeout: undefined }
    if (!isEmpty(rest)) using.apply(target, rest)
    return rest
  }
}

/**
 * Configures a listening socket's fd for an integration, whose accepted
 * sockets inherit it. Returns the settings applied: less the user timeout a
 * Multipath TCP listener lacks. Throws what the kernel refused otherwise.
 */
export function configureFd(fd: number, settings: Settings): Settings {
  const target = fdTarget(fd)
  const applied = applyTolerant(backend, target, settings, undefined)
  warnIdleOnly(settings, target)
  return applied
}

/**
 * Writes to a socket outside a configureKeepalive call (on connect, after
 * setKeepAlive). A failure destroys the socket with the error when it was
 * configured by its own call or an integration (as documented for them); a
 * socket only process-wide rules touched is left as it is, with a warning: the
 * process's own connections are not the rules' to break.
 */
function writeLater(socket: net.Socket, settings: Settings, state: SocketState): void {
  if (socket.destroyed) return
  const ownUserTimeout = state.layers[OWN].userTimeout !== undefined
  try {
    const target = resolve(socket, true)
    if (target === null) return
    const using = backendFor(target.fd)
    const given = using === backend ? settings : withoutUnsupported(settings, false, using, target.unfound)
    if (ownUserTimeout) using.apply(target, given)
    else applyTolerant(using, target, given, state)
  } catch (error) {
    if (isClosed(error)) return // torn down meanwhile: nothing to keep alive, nothing to say
    if (isEmpty(state.layers[OWN]) && isEmpty(state.layers[INTEGRATION])) warnRuleNotApplied(error as Error)
    else socket.destroy(error as Error)
  }
}
setWriter(writeLater)

/**
 * Applies settled settings to a connection on behalf of an integration
 * (`INTEGRATION`) or a process-wide rule (`PROCESS`): only the fields no more
 * specific layer set are written, and not those it `inherited` from its
 * listening socket with the same value. A socket still connecting gets them on
 * 'connect'. A socket without TCP_USER_TIMEOUT (Multipath TCP) gets the other
 * fields. Never throws: returns what the kernel refused (nothing recorded
 * then), for the caller to fail the connection with or to report; null when applied.
 */
export function configureFor(socket: net.Socket, layer: Layer, settings: Settings, inherited?: Settings): Error | null {
  try {
    const known = stateOf(socket)
    const target = socketTarget(socket, known !== undefined) // (Node's fd getter, asked once: a fresh socket has nothing kept)
    const connecting = target === null
    const state = stateFor(socket, known)
    let toWrite = winning(state, layer, settings)
    if (inherited !== undefined) toWrite = notInherited(toWrite, inherited)
    // Nothing to write (all inherited from the listener): not even a lookup of the fd.
    const resolved = connecting || (isEmpty(toWrite) && !backend.writesAllFields) ? null : withLookup(socket, target)
    if (resolved !== null) {
      const using = backendFor(resolved.fd)
      let given = using.writesAllFields ? merged(effective(state), toWrite) : toWrite
      if (using !== backend) given = withoutUnsupported(given, false, using, resolved.unfound)
      if (state.lacksUserTimeout) given = { ...given, userTimeout: undefined }
      if (!isEmpty(given)) applyTolerant(using, resolved, given, state)
    }
    record(socket, state, layer, state.lacksUserTimeout ? { ...settings, userTimeout: undefined } : settings, connecting)
    warnIdleOnly(settings, target)
    return null
  } catch (error) {
    return error as Error
  }
}

/** The fields of `settings` a socket does not hold already with the same value from its listener. */
function notInherited(settings: Readonly<Settings>, inherited: Readonly<Settings>): Settings {
  const result = copied(settings)
  for (const field of FIELDS) if (result[field] === inherited[field]) result[field] = undefined
  return result
}

/** The fields of `settings` that `kept` still has (what survived withoutUnsupported). */
function keptOf(settings: Settings, kept: Settings): Settings {
  const result = copied(settings)
  for (const field of FIELDS) if (kept[field] === undefined) result[field] = undefined
  return result
}

/**
 * Sets keepalive options on a TCP socket or fd. Only the fields given are
 * written (plus `enable`, default `true`); the rest stay as the socket has them.
 * Times are ms, rounded up to the platform's unit (whole seconds on Linux and macOS).
 *
 * - Everything is validated before any system call; a rejected call changes nothing.
 * - A socket that has not connected yet gets the options when it connects,
 *   before any user 'connect' listener runs.
 * - The options stick: a later `socket.setKeepAlive(true, delay)` (http.Agent,
 *   undici, pg, mysql2 call it) does not undo them. `setKeepAlive(false)` still turns keepalive off.
 *
 * @returns `target`, for chaining.
 * @throws TypeError `ERR_INVALID_ARG_TYPE`, `ERR_INVALID_ARG_VALUE`, `ERR_INCOMPATIBLE_OPTION_PAIR`;
 *   RangeError `ERR_OUT_OF_RANGE`; Error `ERR_SOCKET_CLOSED`, `ERR_KEEPALIVE_NOT_TCP`,
 *   `ERR_KEEPALIVE_UNSUPPORTED`, or a system error (`code`, `errno`, `syscall: 'setsockopt'`).
 * @example
 * ```ts
 * configureKeepalive(socket, { idle: 30_000, interval: 5_000, count: 3, userTimeout: 45_000 })
 * ```
 */
export function configureKeepalive<T extends KeepaliveTarget>(target: T, options: KeepaliveOptions): T {
  checkTarget(target)
  const { settings, strict } = validateOptions(options, backend.limits)

  if (typeof target === 'number') {
    if (!backend.native) {
      throw keepaliveError(
        'ERR_KEEPALIVE_UNSUPPORTED',
        `A file descriptor needs the native binding, which is not in use: ${backend.reason}`,
      )
    }
    backend.apply(fdTarget(target), withoutUnsupported(settings, strict))
    return target
  }

  const socket = target as net.Socket
  const known = stateOf(socket)
  const resolved = resolve(socket, known !== undefined)
  const using = resolved === null ? backend : backendFor(resolved.fd)
  // Node's setKeepAlive (the fallback) cannot change one field alone: it gets all configured so far.
  const wanted = using.writesAllFields && known !== undefined ? merged(effective(known), settings) : settings
  const given = withoutUnsupported(wanted, strict, using, resolved?.unfound)
  if (resolved !== null) using.apply(resolved, given)
  record(socket, stateFor(socket, known), OWN, using.writesAllFields ? keptOf(settings, given) : given, resolved === null)
  warnIdleOnly(settings, resolved) // not for a raw fd: tooling's (\`tcp-keepalive apply\` shows every field before and after)
  return target
}

/**
 * Reads the keepalive settings the kernel holds for a socket or fd: effective
 * values, so a socket never configured shows the system defaults
 * (on Linux `net.ipv4.tcp_keepalive_time` etc.). Times in ms.
 *
 * @returns Each field, or null where this platform or mode cannot report it (all null in fallback mode, and for
 *   a socket the runtime gives no fd for that the lookup by address did not find: Bun, Deno).
 * @throws Error `ERR_SOCKET_NOT_CONNECTED` for a socket still connecting, `ERR_SOCKET_CLOSED`,
 *   `ERR_KEEPALIVE_NOT_TCP`, or a system error (`syscall: 'getsockopt'`); the argument errors of configureKeepalive.
 */
export function readKeepalive(target: KeepaliveTarget): KeepaliveState {
  const resolved = readableTarget(target)
  return backendFor(resolved.fd).read(resolved)
}

/**
 * Reads Linux's TCP_INFO for a socket or fd: state, unanswered keepalive
 * probes, retransmissions, round-trip time, and ms since data was last sent
 * and received. Useful to watch keepalive at work.
 *
 * @throws like {@link readKeepalive}, and `ERR_KEEPALIVE_UNSUPPORTED` where TCP_INFO cannot be read
 *   (not Linux, or the native binding is not in use).
 * @example
 * ```ts
 * const { probes, lastDataReceived } = readTcpInfo(socket)
 * ```
 */
export function readTcpInfo(target: KeepaliveTarget): TcpInfo {
  const resolved = readableTarget(target)
  if (!backend.readTcpInfo || resolved.fd < 0) {
    throw keepaliveError(
      'ERR_KEEPALIVE_UNSUPPORTED',
      `TCP_INFO needs the native binding on Linux${backend.reason ? `: ${backend.reason}` : ''}`,
    )
  }
  return backend.readTcpInfo(resolved)
}

/** The target of a read: an fd, or a connected socket's. */
function readableTarget(target: KeepaliveTarget): Target {
  checkTarget(target)
  if (typeof target === 'number') return fdTarget(target)
  const resolved = resolve(target)
  if (resolved === null) {
    throw keepaliveError('ERR_SOCKET_NOT_CONNECTED', 'The socket is not connected yet: read it after it emits "connect"')
  }
  return resolved
}
