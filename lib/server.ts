// keepaliveServer: keepalive for every connection a server accepts.
import net = require('node:net')
import { invalidArgType } from './errors.js'
import {
  acceptedSocketsInherit,
  adoptInherited,
  configureFd,
  configureFor,
  listenerFds,
  holdsInherited,
  Inheritance,
  passesThrough,
  settledSettings,
  warnUnixSocket,
} from './keepalive.js'
import type { KeepaliveOptions, Settings } from './options.js'
import { settingsFromRule } from './rule.js'
import { INTEGRATION, PROCESS, stateOf } from './sticky.js'

/** On a server whose listening socket keepaliveServer configured: the settings it wrote there. */
const LISTENER = Symbol('tcp-keepalive listener settings')

/** The settings keepaliveServer wrote on this server's listening socket, if any (more specific than process-wide rules). */
export function listenerSettingsOf(server: net.Server): Settings | undefined {
  return (server as { [LISTENER]?: Settings })[LISTENER]
}

/** Options for every connection, or per connection (`undefined`: leave that one alone). */
export type ServerKeepaliveOptions = KeepaliveOptions | ((socket: net.Socket) => KeepaliveOptions | undefined)

/**
 * Whether the kernel holds `settings` for an accepted `socket` (read back with
 * getsockopt), so that it inherited them from the listening socket; undefined
 * when this socket cannot tell: a process-wide rule already wrote every one of
 * these fields on it.
 */
function inherited(socket: net.Socket, settings: Settings): boolean | undefined {
  const written = stateOf(socket)?.layers[PROCESS] // what a process-wide rule's 'connection' listener wrote before ours
  return holdsInherited(socket, settings, (field) => written?.[field] !== undefined)
}

/** A net.Server, or what another runtime gives for one (Bun's http.Server is no net.Server instance). */
function isServer(server: unknown): server is net.Server {
  if (server instanceof net.Server) return true
  const candidate = server as Partial<net.Server> | null
  return (
    typeof candidate?.listen === 'function' && typeof candidate.prependListener === 'function' && typeof candidate.address === 'function'
  )
}

/**
 * Gives every connection a server accepts keepalive options. Works for net,
 * http, https, tls and http2 (cleartext and secure) servers, before or after
 * `listen()`.
 *
 * - Static options on Linux configure the listening socket once: accepted
 *   sockets inherit them, so a connection costs no system call. (Where the
 *   platform does not inherit, or the server was created with Node's own
 *   `keepAlive` option, which rewrites each accepted socket, each connection is
 *   configured instead.)
 * - A function is called for each connection before any user 'connection'
 *   listener sees the socket; returning `undefined` leaves that socket alone.
 *
 * Either way the settings stick across later `setKeepAlive` calls.
 *
 * @returns `server`.
 * @example
 * ```ts
 * keepaliveServer(http.createServer(app), { idle: 60_000, interval: 10_000, count: 3 }).listen(8080)
 * ```
 */
export function keepaliveServer<S extends net.Server>(server: S, options: ServerKeepaliveOptions): S {
  if (!isServer(server)) throw invalidArgType('server', 'an instance of net.Server', server)
  if (typeof options === 'function') {
    server.prependListener('connection', (socket: net.Socket) => {
      if (passesThrough(socket, 'keepaliveServer')) return
      const chosen = settingsFromRule(options, 'keepaliveServer', () => options(socket)) // its mistakes leave the socket alone
      const error = chosen && configureFor(socket, INTEGRATION, chosen)
      if (error) socket.destroy(error) // the kernel refused: this connection fails, not the server
    })
    return server
  }

  const fixed = settledSettings(options) // invalid options throw here, not per connection
  // What accepted sockets get from the listener: the fixed settings, less a user timeout a Multipath TCP listener lacks.
  let settings: Readonly<Settings> = fixed
  const nodeRewritesEach = () => (server as { keepAlive?: boolean }).keepAlive === true
  // Whether accepted sockets get the settings from the listening socket: null
  // until the listener is configured, then verified on the sockets accepted
  // after it. A cluster worker's server has no listening fd of its own (nor a
  // listener the lookup by address does not find, for Bun's http.Server or
  // Deno): each connection is configured instead.
  let inheritance: Inheritance | null = null
  // Listening on a Unix socket: its connections pass untouched.
  let unix = false
  const configureListener = () => {
    inheritance = null
    unix = typeof server.address() === 'string'
    if (unix) return warnUnixSocket('keepaliveServer')
    const fds = acceptedSocketsInherit ? listenerFds(server) : [] // Bun's http.Server and Deno's servers: found by address
    if (fds.length === 0) return
    try {
      for (const fd of fds) settings = Object.freeze(configureFd(fd, fixed)) // shared by the sockets that inherit it
      if (Object.isExtensible(server)) (server as { [LISTENER]?: Settings })[LISTENER] = settings
      inheritance = new Inheritance()
    } catch (error) {
      server.emit('error', error)
    }
  }
  if (server.listening) configureListener()
  server.prependListener('listening', configureListener)
  server.prependListener('connection', (socket: net.Socket) => {
    if (unix) return
    let error: Error | null
    try {
      // (An http.Server with keepAlive: true makes Node rewrite each socket's keepalive after this listener.)
      const verified = inheritance !== null && !nodeRewritesEach() && inheritance.check(() => inherited(socket, settings) === true)
      error = verified ? adoptInherited(socket, settings) : configureFor(socket, INTEGRATION, fixed)
    } catch (readError) {
      error = readError as Error
    }
    if (error) socket.destroy(error) // this connection fails, not the server
  })
  return server
}
