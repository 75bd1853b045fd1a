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
import { FIELDS, type KeepaliveOptions, type Settings } from './options.js'
import { httpServerTimeouts, planKeepalive } from './plan.js'
import { type Behind, resolveBox, type ResolvedBox } from './presets.js'
import { settingsFromRule } from './rule.js'
import { INTEGRATION, PROCESS, stateOf } from './sticky.js'

/** On a server whose listening socket keepaliveServer configured: the settings it wrote there. */
const LISTENER = Symbol('tcp-keepalive listener settings')

/** The settings keepaliveServer wrote on this server's listening socket, if any (more specific than process-wide rules). */
export function listenerSettingsOf(server: net.Server): Settings | undefined {
  return (server as { [LISTENER]?: Settings })[LISTENER]
}

/** Static options of {@link keepaliveServer}: keepalive for every connection, and the box in front of the server. */
export type KeepaliveServerOptions = KeepaliveOptions & {
  /**
   * The box in front (a load balancer, a proxy, a NAT): a preset's name (`'aws-alb'`) or `{ idleTimeout, kind }`.
   * An HTTP server's keepAliveTimeout and headersTimeout at or below its idle timeout are raised above it. Behind a
   * `'tcp'` box with no idle, interval, count, userTimeout or enable given, TCP keepalive is planned from its idle
   * timeout (as `planKeepalive` does); behind an `'http'` box, TCP keepalive does not keep it open and only the given
   * options apply.
   */
  behind?: Behind
}

/** Options for every connection, or per connection (`undefined`: leave that one alone). */
export type ServerKeepaliveOptions = KeepaliveServerOptions | ((socket: net.Socket) => KeepaliveOptions | undefined)

/** What an http or https server has: the timeouts a box in front decides (a net, tls or http2 server has none). */
interface HttpTimeouts {
  keepAliveTimeout: number
  headersTimeout: number
  requestTimeout: number
}

function hasHttpTimeouts(server: net.Server): server is net.Server & HttpTimeouts {
  return typeof (server as Partial<HttpTimeouts>).keepAliveTimeout === 'number'
}

/**
 * Raises an HTTP server's keepAliveTimeout and headersTimeout that are at or below the idle timeout of the box in
 * front (0, no timeout, is above every idle), and requestTimeout to headersTimeout where Node's rule needs it. Never
 * lowers one. Returns what it raised, as "keepAliveTimeout 5000 -> 65000 ms".
 */
function raiseHttpTimeouts(server: net.Server & HttpTimeouts, idleTimeout: number): string[] {
  const wanted = httpServerTimeouts(idleTimeout)
  const raised: string[] = []
  const raise = (field: keyof HttpTimeouts, to: number) => {
    raised.push(`${field} ${server[field]} -> ${to} ms`)
    server[field] = to
  }
  const atOrBelow = (value: number) => value !== 0 && value <= idleTimeout
  if (atOrBelow(server.keepAliveTimeout)) raise('keepAliveTimeout', wanted.keepAliveTimeout)
  if (atOrBelow(server.headersTimeout)) raise('headersTimeout', wanted.headersTimeout)
  if (server.requestTimeout !== 0 && server.headersTimeout !== 0 && server.requestTimeout < server.headersTimeout) {
    raise('requestTimeout', server.headersTimeout) // Node refuses headersTimeout above requestTimeout
  }
  return raised
}

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
 * With `behind` (static options only), an http or https server's keepAliveTimeout and headersTimeout at or below the
 * idle timeout of the box in front are raised above it (never lowered), with one TcpKeepaliveWarning
 * (`TCP_KEEPALIVE_HTTP_TIMEOUT_RAISED`); a net, tls or http2 server gets only the TCP part.
 *
 * @returns `server`.
 * @example
 * ```ts
 * keepaliveServer(http.createServer(app), { idle: 60_000, interval: 10_000, count: 3 }).listen(8080)
 * keepaliveServer(http.createServer(app), { behind: 'aws-alb' }).listen(8080) // keepAliveTimeout 65 s
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
  let keepalive: KeepaliveOptions | null = options
  let box: ResolvedBox | null = null
  if (options?.behind !== undefined) {
    const { behind, ...given } = options
    box = resolveBox(behind, 'options.behind')
    keepalive = given
    if (!FIELDS.some((field) => given[field] !== undefined)) {
      // Nothing given for TCP: behind a TCP box probes count as activity, planned from its idle; behind an HTTP box they do not.
      if (box.kind === 'http') keepalive = null
      else {
        const { idle, interval, count, userTimeout } = planKeepalive({ idleTimeout: box.idleTimeout })
        keepalive = { strict: given.strict, idle, interval, count, userTimeout }
      }
    }
  }
  const fixed = keepalive && settledSettings(keepalive) // invalid options throw here, before the server is changed
  if (box && hasHttpTimeouts(server)) {
    const { name, idleTimeout } = box
    let said = false
    const raise = () => {
      const raised = raiseHttpTimeouts(server, idleTimeout)
      if (raised.length === 0 || said) return
      said = true
      process.emitWarning(
        `tcp-keepalive: keepaliveServer raised ${raised.join(', ')}: the box in front${name ? ` (${name})` : ''} closes connections idle ${idleTimeout} ms, and must close an idle connection before the server does`,
        { type: 'TcpKeepaliveWarning', code: 'TCP_KEEPALIVE_HTTP_TIMEOUT_RAISED' },
      )
    }
    raise()
    server.prependListener('listening', raise) // a value set between this call and listen()
  }
  if (!fixed) return server

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
