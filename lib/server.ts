// keepaliveServer: keepalive for every connection a server accepts.
import net from 'node:net'
import { invalidArgType } from './errors.js'
import { acceptedSocketsInherit, adoptInherited, checkOptions, configureKeepalive } from './keepalive.js'
import type { KeepaliveOptions } from './options.js'

/** Options for every connection, or per connection (`undefined`: leave that one alone). */
export type ServerKeepaliveOptions = KeepaliveOptions | ((socket: net.Socket) => KeepaliveOptions | undefined)

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
  if (!(server instanceof net.Server)) throw invalidArgType('server', 'an instance of net.Server', server)
  if (typeof options === 'function') {
    server.prependListener('connection', (socket: net.Socket) => {
      const chosen = options(socket)
      if (chosen === undefined) return
      try {
        configureKeepalive(socket, chosen)
      } catch (error) {
        socket.destroy(error as Error) // this connection fails, not the server
      }
    })
    return server
  }

  const { settings } = checkOptions(options) // invalid options throw here, not per connection
  const nodeRewritesEach = () => (server as { keepAlive?: boolean }).keepAlive === true
  if (!acceptedSocketsInherit) {
    server.prependListener('connection', (socket: net.Socket) => configureKeepalive(socket, options))
    return server
  }
  const configureListener = () => {
    const fd = (server as unknown as { _handle?: { fd?: number } })._handle?.fd
    try {
      if (typeof fd === 'number' && fd >= 0) configureKeepalive(fd, options)
    } catch (error) {
      server.emit('error', error) // e.g. listening on a Unix socket
    }
  }
  if (server.listening) configureListener()
  server.prependListener('listening', configureListener)
  server.prependListener('connection', (socket: net.Socket) => {
    if (nodeRewritesEach()) configureKeepalive(socket, options)
    else adoptInherited(socket, settings)
  })
  return server
}
