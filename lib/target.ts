// What a target is and where a socket is in its life. Reads go through
// http2's socket proxy too, which forwards them to the real socket.
import net from 'node:net'
import { invalidArgType, keepaliveError, outOfRange } from './errors.js'

/** A TCP socket (net, tls, an http2 session's socket) or a raw file descriptor. */
export type KeepaliveTarget = net.Socket | number

export type SocketStatus = { state: 'open'; fd: number } | { state: 'pending' }

const MAX_FD = 2 ** 31 - 1

/** An http2 session's socket proxy whose session is gone throws this on any access, even instanceof. */
function isUnbound(error: unknown): boolean {
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
    if (!isUnbound(error)) throw error
    isSocket = true // a socket, and a closed one: socketStatus says so
  }
  if (!isSocket) throw invalidArgType('target', 'an instance of net.Socket or of type number', target)
}

/**
 * `open` with the fd (-1 where the runtime exposes none), or `pending` for a
 * socket that has not connected yet (DNS or the TCP handshake still running,
 * or connect() not called). Throws ERR_SOCKET_CLOSED for a destroyed socket.
 */
export function socketStatus(socket: net.Socket): SocketStatus {
  try {
    if (socket.destroyed) throw socketClosed()
    const handle = (socket as { _handle?: { fd?: unknown } | null })._handle
    if (socket.connecting) return { state: 'pending' }
    // Connected sockets without a handle exist: Bun's http.Server gives them to 'connection'.
    if (!handle) return socket.remoteAddress !== undefined ? { state: 'open', fd: -1 } : { state: 'pending' }
    return { state: 'open', fd: typeof handle.fd === 'number' && handle.fd >= 0 ? handle.fd : -1 }
  } catch (error) {
    throw isUnbound(error) ? socketClosed() : error
  }
}
