// keepaliveProcess: keepalive for every TCP connection the process opens (and,
// when asked, accepts), whatever library opens it.
//
// Outgoing: one wrapper on net.Socket.prototype.connect. Every outgoing
// connection in Node passes through it: net.connect, new net.Socket().connect(),
// tls.connect (a TLSSocket connects as a net.Socket), and so every http(s)
// agent, undici/fetch, pg, mysql2, ioredis, node-redis and ws. (The
// 'net.client.socket' diagnostics channel is published by net.connect only,
// not by new net.Socket().connect(), which pg uses.)
// Accepted: nothing a program can count or see on its servers (no listener,
// no property). Node binds every listening handle in Server.prototype._listen2
// (listen(port), listen({ fd }), listen(handle), a cluster worker's): a wrapper
// there learns each server's port and writes its listening socket. Every
// accepted socket comes through the 'net.server.socket' diagnostics channel,
// which Node publishes just after the 'connection' event; servers already
// listening when the rule is added are watched from their first connection
// on. Bun has neither: there, listeners on each server (put first as it
// listens, a wrapper on listen).
// On Linux, where accepted sockets inherit keepalive from their listener, the
// static rules for a server's port are written once on its listening socket
// (and what it held before is put back when they stop): a connection then
// costs no system call, once one accepted after the write is read back and
// holds them.
//
// Everything of ours that runs in the program's stead (hooks, listeners, the
// channel subscriber) catches what it throws: the program carries on, with one
// warning (lib/warn.ts).
//
// The hooks go on top of whatever the prototypes hold when the first rule is
// added (an APM agent's wrappers keep running) and come off with the last
// rule only while still on top (lib/hook.ts).
import diagnostics from 'node:diagnostics_channel'
import net = require('node:net')
import { invalidArgType, invalidArgValue } from './errors.js'
import { sharedHook } from './hook.js'
import {
  acceptedSocketsInherit,
  configureFd,
  configureFor,
  holdsInherited,
  Inheritance,
  isUnixSocket,
  listenerFds,
  readKeepalive,
  settledSettings,
  warnRuleNotApplied,
} from './keepalive.js'
import { copied, type Field, FIELDS, noSettings, overlay, type KeepaliveOptions, type Settings } from './options.js'
import { settingsFromRule } from './rule.js'
import { listenerSettingsOf } from './server.js'
import {
  adoptFresh,
  awaitConnect,
  isEmpty,
  nodeEnabledKeepalive,
  PROCESS,
  sameSettings,
  setLayer,
  stateFor,
  stateOf,
  type SocketState,
} from './sticky.js'
import { survived, warnOnce } from './warn.js'

/** What is known of a connection when a rule function decides on it. */
export interface ConnectionInfo {
  /** 'outgoing' (the process connected) or 'accepted' (a server of the process accepted it). */
  direction: 'outgoing' | 'accepted'
  remoteAddress: string | undefined
  remotePort: number | undefined
  localPort: number | undefined
  /** The host name the process asked to connect to (outgoing; undefined for an IP address given as such). */
  host: string | undefined
  /** The TLS server name (outgoing TLS connections). */
  servername: string | undefined
}

/** Options for every connection, or per connection (`undefined`: leave that one alone). */
export type ProcessKeepaliveRule = KeepaliveOptions | ((socket: net.Socket, info: ConnectionInfo) => KeepaliveOptions | undefined)

export interface ProcessKeepaliveScope {
  /** Configure connections the process opens. Default `true`. */
  outgoing?: boolean
  /** Configure connections the process's servers accept. Default `false`. */
  accepted?: boolean
  /** Only these ports: the remote port of outgoing connections, the local port of accepted ones. Default: all. */
  ports?: readonly number[]
}

/** Stops a {@link keepaliveProcess} rule: connections opened later are left alone. */
export interface ProcessKeepalive {
  stop(): void
}

type RuleFunction = (socket: net.Socket, info: ConnectionInfo) => KeepaliveOptions | undefined

interface Rule {
  /** Settled static settings, or the user's function. */
  options: Readonly<Settings> | RuleFunction
  outgoing: boolean
  accepted: boolean
  ports: ReadonlySet<number> | null
}

/** In call order: where rules disagree on a field, the later call wins. */
const rules: Rule[] = []
/** Some rule is for outgoing connections; some for accepted ones (each direction costs nothing without). */
let anyOutgoing = false
let anyAccepted = false
let anyAcceptedFunction = false
/**
 * When the outgoing rules are all static (the preload's): what a connection
 * to each port gets, decided once when the rules change, not per connection;
 * null for a port no rule is for. Null when a rule is a function: each
 * connection is matched then.
 */
let staticOutgoing: { byPort: ReadonlyMap<number, Readonly<Settings>>; otherPorts: Readonly<Settings> | null } | null = null
/** The servers watched since they listened (or since their first connection): kept off the server, out of its owner's sight. */
const watched = new WeakMap<net.Server, Watched>()
interface Watched {
  /** Its port, learned when it listened (socket.localPort is a system call per connection). */
  port: number | undefined
  /** The listening socket, once the static rules for its port were written on it. */
  listener: Listener | null
}
/** What the static rules put on a listening socket, and what it held before (put back when they stop). */
interface Listener {
  server: net.Server
  /** Its fds: one, or several SO_REUSEPORT twins found by address (Deno, Bun's http.Server). */
  fds: number[]
  /** Shared by the sockets that inherited it (their process layer): never changed. */
  written: Readonly<Settings>
  original: Settings
  /** Whether its accepted sockets hold `written`: read back on those accepted after the write, until one does. */
  inheritance: Inheritance
  /** `written` is all the static rules give its port (no field left to a keepaliveServer or missing on MPTCP). */
  exact: boolean
}
/** Watched servers listening on a TCP port: their listening sockets follow the rules as they change (closed ones leave at the next listen). */
const listening = new Set<net.Server>()

const SCOPE_KEYS = new Set(['outgoing', 'accepted', 'ports'])

/**
 * Gives every TCP connection the process opens from now on (and, with
 * `{ accepted: true }`, every one it accepts) keepalive options, sticky as
 * everywhere: net, tls, http(s) agents, undici/fetch, database and cache
 * clients, whatever opened it. Connections over Unix sockets are left alone.
 *
 * - Static options are validated at once (bad ones throw here) and applied when
 *   each connection connects, before its user 'connect' listeners run.
 * - A function is called once each connection is established, with its
 *   addresses; `undefined` leaves that connection alone. A function that
 *   throws or returns something that is not options (a Promise included)
 *   leaves the connection as it was, with one `TcpKeepaliveWarning` per function.
 * - Precedence: where several rules set a field, the later call wins; a
 *   socket's own `configureKeepalive` and `keepaliveServer` / `keepaliveAgent` /
 *   `keepaliveConnector` settings win over every rule, whatever the order of calls.
 *
 * Nothing is installed before the first call; `stop()` removes the rule (and
 * the hooks with the last one).
 *
 * @example
 * ```ts
 * keepaliveProcess({ idle: 30_000, interval: 5_000, count: 3, userTimeout: 40_000 })
 * ```
 */
export function keepaliveProcess(rule: ProcessKeepaliveRule, scope: ProcessKeepaliveScope = {}): ProcessKeepalive {
  if (typeof scope !== 'object' || scope === null || Array.isArray(scope)) throw invalidArgType('scope', 'of type object', scope)
  for (const key of Object.keys(scope)) {
    if (!SCOPE_KEYS.has(key))
      throw invalidArgValue(
        `scope.${key.slice(0, 40)}`,
        (scope as Record<string, unknown>)[key],
        'is unknown; known keys are outgoing, accepted, ports',
      )
  }
  const { outgoing = true, accepted = false, ports } = scope
  if (typeof outgoing !== 'boolean') throw invalidArgType('scope.outgoing', 'of type boolean', outgoing)
  if (typeof accepted !== 'boolean') throw invalidArgType('scope.accepted', 'of type boolean', accepted)
  if (!outgoing && !accepted) throw invalidArgValue('scope', scope, 'configures nothing: outgoing and accepted are both false')
  if (
    ports !== undefined &&
    (!Array.isArray(ports) || ports.length === 0 || !ports.every((port) => Number.isInteger(port) && port > 0 && port < 65536))
  ) {
    throw invalidArgValue('scope.ports', ports, 'must be a non-empty array of port numbers (1-65535)')
  }
  let options: Rule['options']
  if (typeof rule === 'function') options = rule
  else options = Object.freeze(settledSettings(rule)) // bad options throw here, not per connection; shared by the sockets
  const entry: Rule = { options, outgoing, accepted, ports: ports ? new Set(ports) : null }
  rules.push(entry)
  rulesChanged()
  if (accepted && typeof options !== 'function') for (const server of listening) followRules(server)
  let stopped = false
  return {
    stop() {
      if (stopped) return
      stopped = true
      rules.splice(rules.indexOf(entry), 1)
      if (accepted && typeof options !== 'function') for (const server of listening) followRules(server)
      rulesChanged()
    },
  }
}

const connectHook = sharedHook(net.Socket.prototype, 'connect', (self, inner, args) => {
  const result = inner.apply(self, args)
  if (anyOutgoing) {
    try {
      watchOutgoing(self as net.Socket, args)
    } catch (error) {
      survived('keepaliveProcess, on a connect() call,', error)
    }
  }
  return result
})

/** Node's (and Deno's) server binds in _listen2 and publishes accepted sockets; Bun's has no _listen2 and publishes nothing. */
const NodeServer = net.Server.prototype as net.Server & { _listen2?: (...args: unknown[]) => unknown }
const bindsInListen2 = typeof NodeServer._listen2 === 'function'

const listen2Hook = bindsInListen2
  ? sharedHook(NodeServer as Required<typeof NodeServer>, '_listen2', (self, inner, args) => {
      const result = inner.apply(self, args)
      bound(self as net.Server)
      return result
    })
  : null

/** A server's handle is bound and listening (or failed to: its error comes later). */
function bound(server: net.Server): void {
  try {
    watch(server)
    if (server.listening) onListening.call(server)
  } catch (error) {
    survived('keepaliveProcess, on a server starting to listen,', error)
  }
}

const listenHook = bindsInListen2 ? null : sharedHook(net.Server.prototype, 'listen', watchListen)
/**
 * Bun's http.Server is no net.Server and has its own listen: hooked the same
 * way. Only under Bun is node:http loaded for it (a preload on Node does not
 * pay for loading it; Node's http.Server inherits net's listen anyway).
 */
const httpListenHook = (() => {
  if (!(process.versions as { bun?: string }).bun) return null
  const { Server } = require('node:http') as typeof import('node:http')
  return Server.prototype.listen === net.Server.prototype.listen ? null : sharedHook(Server.prototype, 'listen', watchListen)
})()

/** Bun: the server's listeners, put first, tell us when it listens, accepts and closes. */
function watchListen(self: unknown, inner: (...args: unknown[]) => unknown, args: unknown[]): unknown {
  try {
    const server = self as net.Server
    if (!watched.has(server)) {
      server.prependListener('connection', onConnection)
      server.prependListener('listening', onListening)
      server.on('close', onClose)
    }
    watch(server)
  } catch (error) {
    survived('keepaliveProcess, on a server starting to listen,', error)
  }
  return inner.apply(self, args)
}

/** From a server's listen(), or its first connection when it was listening before. */
function watch(server: net.Server): Watched {
  const fresh: Watched = { port: undefined, listener: null } // (again) listening: the port may be another
  watched.set(server, fresh)
  return fresh
}

function onListening(this: net.Server): void {
  try {
    const address = this.address()
    if (typeof address !== 'object' || address === null) return // a Unix socket
    watched.get(this)!.port = address.port
    for (const server of listening) if (!server.listening) listening.delete(server)
    listening.add(this)
    followRules(this)
  } catch (error) {
    // (A handle closed under its server, as Node's test-handle-wrap-hasref.js does: address() throws EBADF.)
    survived("keepaliveProcess, on a server's 'listening',", error)
  }
}

function onClose(this: net.Server): void {
  listening.delete(this)
  const known = watched.get(this)
  if (known) known.listener = null // its fd is closed: nothing to put back
}

/** The static rules' settings for accepted connections on `port`, later rules winning. */
function staticAccepted(port: number | undefined): Settings {
  return staticSettings(rules.filter((rule) => matches(rule, 'accepted', port)))
}

/**
 * Writes the static rules for a listening server's port on its listening
 * socket, and puts back what it held before for the fields no rule sets any
 * more. Fields a keepaliveServer put there are its own (more specific). Where
 * accepted sockets do not inherit, the server has no listening fd of its own
 * (a cluster worker), or the kernel refuses, each connection is configured instead.
 */
function followRules(server: net.Server): void {
  const watching = watched.get(server)!
  // A server being closed has given up its fd (its 'close' event comes later): that number may be another socket's now.
  if (!server.listening) {
    listening.delete(server)
    watching.listener = null
    return
  }
  if (!acceptedSocketsInherit) return
  const fds = listenerFds(server)
  if (fds.length === 0) return
  const fromRules = staticAccepted(watching.port)
  const wanted = copied(fromRules)
  const own = listenerSettingsOf(server)
  if (own) for (const field of FIELDS) if (own[field] !== undefined) wanted[field] = undefined
  const listener = watching.listener
  const write = noSettings()
  for (const field of FIELDS) {
    const value = wanted[field] ?? (listener?.written[field] !== undefined ? listener.original[field] : undefined)
    if (value !== undefined && value !== listener?.written[field]) write[field] = value as never
  }
  if (isEmpty(write)) {
    if (listener !== null) listener.exact = sameSettings(fromRules, listener.written)
    return
  }
  try {
    const original = listener?.original ?? heldBy(fds[0])
    let applied = write
    for (const fd of fds) applied = configureFd(fd, write)
    if (applied.userTimeout === undefined) wanted.userTimeout = undefined // a Multipath TCP listener lacks it
    watching.listener = isEmpty(wanted)
      ? null
      : { server, fds, written: Object.freeze(wanted), original, inheritance: new Inheritance(), exact: sameSettings(fromRules, wanted) }
  } catch (error) {
    watching.listener = null
    warnOnce(`tcp-keepalive: keepaliveProcess could not configure a listening socket: ${(error as Error).message}`, 'TCP_KEEPALIVE_FAILED')
  }
}

/** What a socket holds, as settings (a field it cannot report left out). */
function heldBy(fd: number): Settings {
  const held = readKeepalive(fd)
  return {
    enable: held.enabled ?? undefined,
    idle: held.idle ?? undefined,
    interval: held.interval ?? undefined,
    count: held.count ?? undefined,
    userTimeout: held.userTimeout ?? undefined,
  }
}

/**
 * Whether an accepted socket holds what its listener was given (read back
 * once per listener), for the fields no more specific setting wrote on it.
 */
function inheritsFrom(socket: net.Socket, listener: Listener): boolean {
  const [, integration, own] = stateOf(socket)?.layers ?? []
  const server = listenerSettingsOf(listener.server) // a keepaliveServer may have written over ours since
  const passedOver = (field: Field) => server?.[field] !== undefined || integration?.[field] !== undefined || own?.[field] !== undefined
  return holdsInherited(socket, listener.written, passedOver) ?? true
}

/**
 * The hooks follow the rules: on with the first, off with the last. Servers
 * are watched from their listen() under any rule (a rule for accepted
 * connections may come later); the channel, which makes Node publish every
 * accepted socket, is heard only while a rule is for accepted connections.
 */
function rulesChanged(): void {
  const hadAccepted = anyAccepted
  anyOutgoing = rules.some((rule) => rule.outgoing)
  anyAccepted = rules.some((rule) => rule.accepted)
  anyAcceptedFunction = rules.some((rule) => rule.accepted && typeof rule.options === 'function')
  staticOutgoing = decideStaticOutgoing()
  if (rules.length > 0) {
    connectHook.install()
    listen2Hook?.install()
    listenHook?.install()
    httpListenHook?.install()
  } else {
    connectHook.uninstall()
    listen2Hook?.uninstall()
    listenHook?.uninstall()
    httpListenHook?.uninstall()
  }
  if (!bindsInListen2) return
  if (anyAccepted && !hadAccepted) diagnostics.subscribe('net.server.socket', onPublished)
  if (!anyAccepted && hadAccepted) diagnostics.unsubscribe('net.server.socket', onPublished)
}

/** Bun: a server's connection, before its own listeners. */
function onConnection(this: net.Server, socket: net.Socket): void {
  try {
    const watching = watched.get(this)
    onAccepted(socket, localPortOf(watching, socket), watching?.listener ?? null)
  } catch (error) {
    survived('keepaliveProcess, on an accepted connection,', error)
  }
}

/** An accepted socket's local port: its watched server's, known since it listened (socket.localPort is a system call per connection). */
function localPortOf(watching: Watched | undefined, socket: net.Socket): Port {
  const port = watching?.port
  return port !== undefined ? port : () => socket.localPort
}

/**
 * Node publishes every accepted connection here, just after 'connection'. A
 * server listening before any rule is watched from its first connection on,
 * as if the hooks had seen it listen: its listening socket gets the rules, and
 * its later connections inherit them.
 */
function onPublished(message: unknown): void {
  try {
    const { socket } = message as { socket: net.Socket }
    // A 'connection' listener may have closed it already: nothing to configure.
    if (socket.destroyed) return
    const found = (socket as { server?: unknown }).server
    const server = found instanceof net.Server ? found : undefined
    let watching = server && watched.get(server)
    let listener = watching?.listener ?? null
    if (server !== undefined && watching === undefined && server.listening) {
      watching = watch(server)
      onListening.call(server)
      listener = null // accepted before its listening socket got the rules: configured itself
    }
    onAccepted(socket, localPortOf(watching, socket), listener)
  } catch (error) {
    survived('keepaliveProcess, on an accepted connection,', error)
  }
}

/** Where a connect() call goes: a TCP host and port, or a Unix socket path. */
interface Destination {
  port: number | undefined
  host: string | undefined
  servername: string | undefined
  path: boolean
}

/** A port as Node's net reads one: a string that is a number >= 0 ('80', '0x50'); anything else names a Unix socket. */
function isPortString(text: string): boolean {
  return Number(text) >= 0
}

/** Reads connect()'s arguments the way Node's normalizeArgs does: (options[, cb]), (port[, host][, cb]), (path[, cb]). */
function destinationOf(args: unknown[]): Destination {
  let [first] = args
  if (Array.isArray(first)) first = first[0] // already normalized (net.connect passes [options, cb])
  if (typeof first === 'object' && first !== null) {
    const given = first as { port?: unknown; host?: unknown; path?: unknown; servername?: unknown }
    return {
      port: given.port === undefined ? undefined : Number(given.port),
      host: typeof given.host === 'string' ? given.host : undefined,
      servername: typeof given.servername === 'string' ? given.servername : undefined,
      path: typeof given.path === 'string' && given.path !== '',
    }
  }
  if (typeof first === 'string' && !isPortString(first)) return { port: undefined, host: undefined, servername: undefined, path: true }
  const host = typeof args[1] === 'string' ? args[1] : undefined
  return { port: first === undefined ? undefined : Number(first), host, servername: undefined, path: false }
}

/** A port, or how to learn it (a system call, made only if a rule has ports). */
type Port = number | undefined | (() => number | undefined)

function matches(rule: Rule, direction: ConnectionInfo['direction'], port: Port): boolean {
  if (direction === 'outgoing' ? !rule.outgoing : !rule.accepted) return false
  return rule.ports === null || rule.ports.has((typeof port === 'function' ? port() : port)!)
}

/** A connect() call: what the rules for its port give is written when it connects, before user 'connect' listeners (a function rule decides then). */
function watchOutgoing(socket: net.Socket, args: unknown[]): void {
  const destination = destinationOf(args)
  if (destination.path) return // a Unix socket
  if (staticOutgoing !== null) {
    const settings = (destination.port !== undefined && staticOutgoing.byPort.get(destination.port)) || staticOutgoing.otherPorts
    if (settings === null) return
    const state = stateFor(socket)
    setLayer(state, PROCESS, settings)
    state.atConnect = null
    awaitConnect(socket, state)
    return
  }
  const matching = rules.filter((rule) => matches(rule, 'outgoing', destination.port))
  if (matching.length === 0) return
  const state = stateFor(socket)
  // A function decides when the socket connects, with its addresses.
  state.atConnect = (connected: net.Socket, connectedState: SocketState) => {
    // A TLS server name only for a TLS connection (http.Agent passes one for plain HTTP too).
    const tls = (connected as { encrypted?: unknown }).encrypted === true
    const info = () => infoOf(connected, 'outgoing', destination.host, tls ? destination.servername : undefined)
    setLayer(connectedState, PROCESS, decide(matching, connected, info))
  }
  awaitConnect(socket, state)
}

function onAccepted(socket: net.Socket, localPort: Port, found: Listener | null): void {
  if (!anyAccepted || isUnixSocket(socket)) return
  // A 'connection' listener (or the server's keepAlive option) made Node write its own keepalive: not what was inherited.
  const listener = found !== null && nodeEnabledKeepalive(socket) ? null : found
  // The preload's common case: static rules only, all written on the listening socket, which a socket
  // accepted after the write was read back to inherit. Recorded as they are: no decision, no copy, no system call.
  if (listener?.exact && listener.inheritance.known && !anyAcceptedFunction && adoptFresh(socket, PROCESS, listener.written)) return
  const matching = rules.filter((rule) => matches(rule, 'accepted', localPort))
  if (matching.length === 0) return
  const settings = decide(matching, socket, () => infoOf(socket, 'accepted', undefined, undefined))
  if (isEmpty(settings)) return
  let inherited: Settings | undefined
  if (listener !== null) {
    try {
      if (listener.inheritance.check(() => inheritsFrom(socket, listener))) inherited = listener.written
    } catch {
      listener.inheritance.known = false // unreadable: configure each connection
    }
  }
  // The common case under the preload: the socket holds exactly what its listener was given, and nothing else
  // configured it yet. Recorded as it is, with no copy and no system call.
  if (inherited !== undefined && sameSettings(settings, inherited) && adoptFresh(socket, PROCESS, inherited)) return
  const error = configureFor(socket, PROCESS, settings, inherited)
  if (error !== null) warnRuleNotApplied(error)
}

/**
 * The settings `matching` rules give a connection, later rules winning. Each
 * function is called once; `matching` is fixed before any is called (a rule
 * that stops itself, or adds one, changes nothing for this connection).
 */
function decide(matching: readonly Rule[], socket: net.Socket, info: () => ConnectionInfo): Settings {
  const settings = noSettings()
  let known: ConnectionInfo | undefined
  for (const rule of matching) {
    const { options } = rule
    if (typeof options !== 'function') overlay(settings, options)
    else {
      const chosen = settingsFromRule(options, 'keepaliveProcess', () => options(socket, { ...(known ??= info()) }))
      if (chosen !== undefined) overlay(settings, chosen)
    }
  }
  return settings
}

/** See {@link staticOutgoing}. */
function decideStaticOutgoing(): typeof staticOutgoing {
  const outgoing = rules.filter((rule) => rule.outgoing)
  if (outgoing.length === 0 || outgoing.some((rule) => typeof rule.options === 'function')) return null
  const byPort = new Map<number, Readonly<Settings>>()
  for (const rule of outgoing) {
    for (const port of rule.ports ?? [])
      byPort.set(port, Object.freeze(staticSettings(outgoing.filter((each) => matches(each, 'outgoing', port)))))
  }
  const forEveryPort = outgoing.filter((rule) => rule.ports === null)
  return { byPort, otherPorts: forEveryPort.length > 0 ? Object.freeze(staticSettings(forEveryPort)) : null }
}

/** The settings the static ones of `matching` give, later rules winning. */
function staticSettings(matching: readonly Rule[]): Settings {
  const settings = noSettings()
  for (const rule of matching) if (typeof rule.options !== 'function') overlay(settings, rule.options)
  return settings
}

function infoOf(
  socket: net.Socket,
  direction: ConnectionInfo['direction'],
  host: string | undefined,
  servername: string | undefined,
): ConnectionInfo {
  return { direction, remoteAddress: socket.remoteAddress, remotePort: socket.remotePort, localPort: socket.localPort, host, servername }
}
