// What a target is and where a socket is in its life. Reads go through
// http2's socket proxy too, which forwards them to the real socket.
import net = require('node:net')
import type { Target } from './backend.js'
import { invalidArgType, keepaliveError, outOfRange } from './errors.js'

/** A TCP socket (net, tls, an http2 session's socket) or a raw file descriptor. */
export type KeepaliveTarget = net.Socket | number

const MAX_FD = 2 ** 31 - 1

/** An http2 session's socket proxy whose session is gone throws this on any access, even instanceof. */
export function isUnbound(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'ERR_HTTP2_SOCKET_UNBOUND'
}

function socketClosed(): Error {
  return keepaliveError('ERR_SOCKET_CLOSED', 'Socket is closed')
}

export function checkTarget(target: unknown): asserts target is KeepaliveTarget {
  if (typeof target === 'number') {
    if (!Number.isInteger(target) || target < 0 || target > MAX_FD) {
      throw outOfRange('target', `an integer >= 0 && <= ${MAX_FD}`, target)
    }
    return
  }
  let isSocket: boolean
  try {
    isSocket = target instanceof net.Socket
  } catch (error) {
    // An http2 socket proxy whose session is gone: a socket, and a closed one (socketTarget says so).
    // Any other throw comes from a Proxy's getPrototypeOf trap: not a socket.
    isSocket = isUnbound(error)
  }
  if (isSocket) return
  if (isUdpSocket(target)) throw keepaliveError('ERR_KEEPALIVE_NOT_TCP', 'The socket is a UDP socket (dgram): keepalive is a TCP option')
  throw invalidArgType('target', 'an instance of net.Socket or of type number', target)
}

/** A dgram socket (loaded only here, on the error path: most apps never load node:dgram). */
function isUdpSocket(target: unknown): boolean {
  try {
    return target instanceof (require('node:dgram') as typeof import('node:dgram')).Socket
  } catch {
    return false // a Proxy's getPrototypeOf trap threw: not a socket
  }
}

/** Node's TCP handle class, once seen (compared by identity: cheaper than by name on every call). */
let tcpHandleClass: unknown = null

/** Node's TCP handle: libuv made it for a TCP socket (or adopted an fd it saw as one), so no check is needed. */
export function isTcpHandle(handle: object): boolean {
  const handleClass = handle.constructor
  if (handleClass === tcpHandleClass) return true
  if (tcpHandleClass !== null || handleClass?.name !== 'TCP') return false
  tcpHandleClass = handleClass
  return true
}

/**
 * A configured socket's target, kept by its handle: it holds as long as the
 * socket has that handle, and spares Node's fd getter, a call into C++ that
 * costs as much as the rest of socketTarget. By the handle, not the socket: a
 * socket that still held its handle after Node dropped it made Node 26 carry
 * closed sockets through young-generation collections into the old
 * generation (under the preload, an HTTP server's scavenges took 3x as long
 * and it ran 3x as many full collections). Non-enumerable: a program's
 * util.inspect of a handle shows nothing of ours (a WeakMap would, as for the
 * socket's state in sticky.ts, cost on every configured connection).
 */
const KEPT = Symbol('tcp-keepalive target')

/**
 * The socket's fd (-1 where the runtime exposes none), or null for a socket
 * that has not connected yet (DNS or the TCP handshake still running, or
 * connect() not called). Throws ERR_SOCKET_CLOSED for a destroyed socket, or one being torn down.
 * `keep` (for a configured socket) keeps what it finds on the handle for the next call.
 */
export function socketTarget(socket: net.Socket, keep = false): Target | null {
  try {
    const handle = (socket as { _handle?: { fd?: unknown } | null })._handle
    // Node drops a socket's handle in the same synchronous step that closes its fd, so Node's
    // TCP handle still in place means an open fd: no need for the costlier `destroyed` getter.
    const knownTcp = handle != null && isTcpHandle(handle)
    if (!knownTcp && socket.destroyed) throw socketClosed()
    if (socket.connecting) return null
    // Connected sockets without a handle exist: Bun's http.Server gives them to 'connection'.
    if (!handle) return socket.remoteAddress !== undefined ? { socket, fd: -1, knownTcp: false } : null
    const kept = (handle as { [KEPT]?: Target })[KEPT]
    if (kept !== undefined) return kept
    const exposed = handle.fd
    // A handle of Node's that is no longer alive reads UV_EINVAL (a TLS socket torn down as it connects): closed, not fd-less.
    if (typeof exposed === 'number' && exposed < -1) throw socketClosed()
    const fd = typeof exposed === 'number' && exposed >= 0 ? exposed : -1
    const target = { socket, fd, knownTcp }
    if (keep && Object.isExtensible(handle)) Object.defineProperty(handle, KEPT, { value: target, configurable: true })
    return target
  } catch (error) {
    throw isUnbound(error) ? socketClosed() : error
  }
}

/** A raw fd: nothing is known about it, so the native layer checks that it is a TCP socket. */
export function fdTarget(fd: number): Target {
  return { socket: null, fd, knownTcp: false }
}
