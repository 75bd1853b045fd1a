// keepaliveProcess: keepalive for every TCP connection the process opens (and,
// when asked, accepts), whatever library opens it.
//
// Outgoing: one wrapper on net.Socket.prototype.connect. Every outgoing
// connection in Node passes through it: net.connect, new net.Socket().connect(),
// tls.connect (a TLSSocket connects as a net.Socket), and so every http(s)
// agent, undici/fetch, pg, mysql2, ioredis, node-redis and ws. (The
// 'net.client.socket' diagnostics channel is published by net.connect only,
// not by new net.Socket().connect(), which pg uses.)
// Accepted: a 'connection' listener put first on each server as it starts
// listening (a wrapper on net.Server.prototype.listen), so the settings are in
// place before the server's own listeners run. Servers already listening when
// the rule is added are reached through the 'net.server.socket' diagnostics
// channel, which Node publishes just after the 'connection' event.
import diagnostics from 'node:diagnostics_channel'
import net from 'node:net'
import { invalidArgType, invalidArgValue } from './errors.js'
import { configureOrDestroy, isUnixSocket, settledOptions } from './keepalive.js'
import type { KeepaliveOptions } from './options.js'

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

interface Rule {
  /** Settled static options, or the user's function. */
  options: Readonly<KeepaliveOptions> | ((socket: net.Socket, info: ConnectionInfo) => KeepaliveOptions | undefined)
  outgoing: boolean
  accepted: boolean
  ports: ReadonlySet<number> | null
}

const rules: Rule[] = []
const originalConnect = net.Socket.prototype.connect
const originalListen = net.Server.prototype.listen
/** On a server whose connections our own 'connection' listener handles: its port, learned at the first one. */
const WATCHED = Symbol('tcp-keepalive watched server')
type WatchedServer = net.Server & { [WATCHED]?: { port: number | undefined } }

/**
 * Gives every TCP connection the process opens from now on (and, with
 * `{ accepted: true }`, every one it accepts) keepalive options, sticky as
 * everywhere: net, tls, http(s) agents, undici/fetch, database and cache
 * clients, whatever opened it. Connections over Unix sockets are left alone.
 *
 * - Static options are validated at once (bad ones throw here) and applied when
 *   each connection connects, before its user 'connect' listeners run.
 * - A function is called once each connection is established, with its
 *   addresses; `undefined` leaves that connection alone.
 * - Several calls add rules; each matching rule applies, in call order.
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
  if (typeof scope !== 'object' || scope === null) throw invalidArgType('scope', 'of type object', scope)
  const { outgoing = true, accepted = false, ports } = scope
  if (typeof outgoing !== 'boolean') throw invalidArgType('scope.outgoing', 'of type boolean', outgoing)
  if (typeof accepted !== 'boolean') throw invalidArgType('scope.accepted', 'of type boolean', accepted)
  if (ports !== undefined && (!Array.isArray(ports) || !ports.every((port) => Number.isInteger(port) && port > 0 && port < 65536))) {
    throw invalidArgValue('scope.ports', ports, 'must be an array of port numbers (1-65535)')
  }
  let options: Rule['options']
  if (typeof rule === 'function') options = rule
  else options = settledOptions(rule).options // bad options throw here, not per connection
  const entry: Rule = { options, outgoing, accepted, ports: ports ? new Set(ports) : null }
  rules.push(entry)
  if (rules.length === 1) install()
  let stopped = false
  return {
    stop() {
      if (stopped) return
      stopped = true
      rules.splice(rules.indexOf(entry), 1)
      if (rules.length === 0) uninstall()
    },
  }
}

function install(): void {
  net.Socket.prototype.connect = connectWithKeepalive as typeof originalConnect
  net.Server.prototype.listen = listenWithKeepalive as typeof originalListen
  diagnostics.subscribe('net.server.socket', onPublished)
}

function uninstall(): void {
  // Another library may have wrapped these after us: then leave its wrappers (ours pass through).
  if (net.Socket.prototype.connect === (connectWithKeepalive as unknown)) net.Socket.prototype.connect = originalConnect
  if (net.Server.prototype.listen === (listenWithKeepalive as unknown)) net.Server.prototype.listen = originalListen
  diagnostics.unsubscribe('net.server.socket', onPublished)
}

function listenWithKeepalive(this: WatchedServer, ...args: unknown[]): net.Server {
  if (this[WATCHED] === undefined) this.prependListener('connection', onConnection)
  this[WATCHED] = { port: undefined } // (again) listening: the port may be another
  return (originalListen as (...args: unknown[]) => net.Server).apply(this, args)
}

function onConnection(this: WatchedServer, socket: net.Socket): void {
  const watched = this[WATCHED]!
  // The server's port, asked once (socket.localPort is a system call per connection).
  onAccepted(socket, () => (watched.port ??= socket.localPort))
}

/** A server that was listening before any rule: its connections come through the channel, after 'connection'. */
function onPublished(message: unknown): void {
  const { socket } = message as { socket: net.Socket & { server?: WatchedServer } }
  // A 'connection' listener may have closed it already: nothing to configure.
  if (socket.server?.[WATCHED] === undefined && !socket.destroyed) onAccepted(socket, () => socket.localPort)
}

/** Where a connect() call goes: a TCP host and port, or a Unix socket path. */
interface Destination {
  port: number | undefined
  host: string | undefined
  servername: string | undefined
  path: boolean
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
  if (typeof first === 'string' && !/^\s*\d+\s*$/.test(first))
    return { port: undefined, host: undefined, servername: undefined, path: true }
  const host = typeof args[1] === 'string' ? args[1] : undefined
  return { port: first === undefined ? undefined : Number(first), host, servername: undefined, path: false }
}

function connectWithKeepalive(this: net.Socket, ...args: unknown[]): net.Socket {
  const result = (originalConnect as (...args: unknown[]) => net.Socket).apply(this, args)
  if (rules.length === 0) return result
  const destination = destinationOf(args)
  if (destination.path) return result // a Unix socket
  for (const rule of rules) {
    if (!rule.outgoing || (rule.ports !== null && !rule.ports.has(destination.port!))) continue
    const { options } = rule
    if (typeof options === 'function') {
      // The function sees the connection's addresses: decide once it is established.
      this.prependOnceListener('connect', () => applyChosen(this, options, 'outgoing', destination))
    } else {
      configureOrDestroy(this, options) // still connecting: applied on 'connect', before user listeners
    }
  }
  return result
}

function onAccepted(socket: net.Socket, localPort: () => number | undefined): void {
  if (rules.length === 0 || isUnixSocket(socket)) return
  for (const rule of rules) {
    if (!rule.accepted || (rule.ports !== null && !rule.ports.has(localPort()!))) continue
    const { options } = rule
    if (typeof options === 'function') applyChosen(socket, options, 'accepted', undefined)
    else configureOrDestroy(socket, options)
  }
}

function applyChosen(
  socket: net.Socket,
  choose: (socket: net.Socket, info: ConnectionInfo) => KeepaliveOptions | undefined,
  direction: ConnectionInfo['direction'],
  destination: Destination | undefined,
): void {
  const info: ConnectionInfo = {
    direction,
    remoteAddress: socket.remoteAddress,
    remotePort: socket.remotePort,
    localPort: socket.localPort,
    host: destination?.host,
    servername: destination?.servername,
  }
  let chosen: KeepaliveOptions | undefined
  try {
    chosen = choose(socket, info)
  } catch (error) {
    socket.destroy(error as Error) // the rule's error fails this connection, not the process
    return
  }
  if (chosen !== undefined) configureOrDestroy(socket, chosen)
}
