// Finding the fd of a socket the runtime hands out none for (Deno's sockets,
// Bun's http.Server connections) among this process's own fds, by its
// addresses (native/socket_lookup_linux.cc). Used only in those runtimes, and
// only for such sockets: wherever the runtime gives an fd (Node always), none
// of this runs. A scan costs O(open fds) (bench/lookup.mjs), so its result is
// kept on the socket; a kept fd is used only while it still refers to the
// socket found (same inode), and an fd that did not match is never written.
import type net from 'node:net'
import type { Binding } from './native.js'

/** What a lookup found: an fd (with its socket's inode), or why there is none. */
export type Found = { fd: number; inode: number } | { why: string }

const FOUND = Symbol('tcp-keepalive found fd')
type WithFound = { [FOUND]?: Found }

/** The distinct TCP sockets the last findSocket call matched (SO_REUSEPORT twins included), or why not one. */
function matches(binding: Binding, count: number, what: string, twinsAllowed: boolean): Array<{ fd: number; inode: number }> | string {
  if (count < 0) return `the lookup of ${what} among this process's fds failed (errno ${-count})`
  if (count === 0) return `no fd of this process is a TCP socket with ${what}`
  const twins = binding.found[0] === 1
  if (count > 1 && !(twinsAllowed && twins && count <= binding.lookupCapacity)) {
    return `more than one of this process's TCP sockets has ${what}: none is written, as it cannot be told which`
  }
  const capacity = binding.lookupCapacity
  return Array.from({ length: count }, (_, i) => ({ fd: binding.found[1 + i], inode: binding.found[1 + capacity + i] }))
}

function listenerOn(address: string, port: number): string {
  return `a listener on ${address.includes(':') ? `[${address}]` : address}:${port}`
}

/** The lookup for a binding that has one. */
export interface Lookup {
  /** The fd of a connected socket, found by its 4-tuple (once; kept on the socket), or why there is none. */
  socketFd(socket: net.Socket): Found
  /** The fds of a listening server's socket (several for SO_REUSEPORT twins), found by `server.address()`, or why there are none. */
  listenerFds(server: net.Server): number[] | string
}

export function socketLookup(binding: Binding): Lookup {
  function find(socket: net.Socket): Found {
    const { localAddress, localPort, remoteAddress, remotePort } = socket
    if (localAddress === undefined || localPort === undefined || remoteAddress === undefined || remotePort === undefined) {
      return { why: 'the socket reports no addresses to look it up by' }
    }
    const count = binding.findSocket(localAddress, localPort, remoteAddress, remotePort)
    // Not the addresses themselves: the warning this becomes is given once per process, not per socket.
    const result = matches(binding, count, 'its addresses', false)
    return typeof result === 'string' ? { why: result } : result[0]
  }

  return {
    socketFd(socket) {
      const holder = socket as net.Socket & WithFound
      let found = holder[FOUND]
      // A miss is kept too (the socket's addresses do not change); a kept fd stands only while it still
      // holds the same socket, else the socket is looked for again.
      if (found !== undefined && ('why' in found || binding.socketInode(found.fd) === found.inode)) return found
      found = find(socket)
      if (Object.isExtensible(socket) && socket.localPort !== undefined) holder[FOUND] = found
      return found
    },
    listenerFds(server) {
      const address = server.address()
      if (address === null || typeof address === 'string') return 'the server is not listening on a TCP address'
      const count = binding.findSocket(address.address, address.port, null, 0)
      const result = matches(binding, count, listenerOn(address.address, address.port), true)
      return typeof result === 'string' ? result : result.map(({ fd }) => fd)
    },
  }
}
