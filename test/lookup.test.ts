// The lookup of one of this process's own sockets by its addresses
// (native/socket_lookup_linux.cc, lib/lookup.ts), driven from Node on real
// sockets, with each socket's fd from Node's handle as the oracle. (Node
// itself never uses the lookup: Bun and Deno do, test/runtimes.test.ts.)
import { once } from 'node:events'
import dgram from 'node:dgram'
import fs from 'node:fs'
import net from 'node:net'
import nodeGypBuild from 'node-gyp-build'
import path from 'node:path'
import http from 'node:http'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { configureKeepalive, keepaliveProcess, keepaliveServer, keepaliveSupport, readKeepalive, readTcpInfo } from '../lib/index.js'
import { socketLookup } from '../lib/lookup.js'
import type { Binding } from '../lib/native.js'
import { closeAll, fdOf, listen, tcpPair } from './helpers.js'

afterEach(() => {
  vi.restoreAllMocks()
  closeAll()
})

const binding = nodeGypBuild(path.join(__dirname, '..')) as Binding
const linux = binding.socketLookup

/** What findSocket reports: the count, the fds and their inodes. */
function find(local: string, localPort: number, remote: string | null, remotePort: number) {
  const count = binding.findSocket(local, localPort, remote, remotePort)
  const n = Math.max(0, Math.min(count, binding.lookupCapacity))
  const fds = Array.from(binding.found.subarray(1, 1 + n))
  const inodes = Array.from(binding.found.subarray(1 + binding.lookupCapacity, 1 + binding.lookupCapacity + n))
  return { count, twins: binding.found[0] === 1, fds, inodes }
}

const ends = (socket: net.Socket) => [socket.localAddress!, socket.localPort!, socket.remoteAddress!, socket.remotePort!] as const

describe.skipIf(!linux)('findSocket (Linux)', () => {
  it("finds a connection's own fd by its 4-tuple, not its peer's (the reversed tuple) nor its listener's", async () => {
    const { client, accepted, server } = await tcpPair()
    expect(find(...ends(client))).toEqual({ count: 1, twins: false, fds: [fdOf(client)], inodes: [binding.socketInode(fdOf(client))] })
    expect(find(...ends(accepted))).toMatchObject({ count: 1, fds: [fdOf(accepted)] })
    expect(find('127.0.0.1', (server.address() as net.AddressInfo).port, null, 0)).toMatchObject({ count: 1, fds: [fdOf(server)] })
    expect(binding.socketInode(fdOf(client))).not.toBe(binding.socketInode(fdOf(accepted)))
  })

  it('counts a socket open on two fds once, reporting the lower fd', async () => {
    const { client } = await tcpPair()
    const copy = binding.duplicateProcessFd(process.pid, fdOf(client))
    if (copy < 0) throw new Error(`pidfd_getfd on this process: ${copy}`)
    try {
      expect(copy).toBeGreaterThan(fdOf(client))
      expect(find(...ends(client))).toMatchObject({ count: 1, fds: [fdOf(client)] })
    } finally {
      fs.closeSync(copy)
    }
  })

  it('matches IPv4-mapped addresses to IPv4 ones, and only TCP sockets (a UDP socket on the same address is not one)', async () => {
    const server = await listen(net.createServer(), '::')
    const accepted = once(server, 'connection')
    const client = net.connect(server.port, '127.0.0.1')
    await once(client, 'connect')
    const [socket] = (await accepted) as [net.Socket]
    expect(socket.localAddress).toBe('::ffff:127.0.0.1')
    expect(find('127.0.0.1', socket.localPort!, '127.0.0.1', socket.remotePort!)).toMatchObject({ count: 1, fds: [fdOf(socket)] })
    expect(find(...ends(socket))).toMatchObject({ count: 1, fds: [fdOf(socket)] })
    const udp = dgram.createSocket('udp6')
    udp.bind(server.port, '::')
    await once(udp, 'listening')
    expect(find('::', server.port, null, 0)).toMatchObject({ count: 1, fds: [fdOf(server)] })
    udp.close()
    client.destroy()
    socket.destroy()
  })

  it('reports no match as 0, a bad address as -EINVAL, a non-socket inode as -ENOTSOCK, a closed fd as -EBADF', async () => {
    const { client } = await tcpPair()
    const [local, localPort, remote, remotePort] = ends(client)
    expect(find(local, localPort, remote, remotePort === 65535 ? 1 : remotePort + 1).count).toBe(0)
    expect(find('127.0.0.3', localPort, remote, remotePort).count).toBe(0)
    expect(find('not an address', 1, null, 0).count).toBe(-22)
    expect(find(local, localPort, 'x'.repeat(100), remotePort).count).toBe(-22)
    const file = fs.openSync(__filename, 'r')
    expect(binding.socketInode(file)).toBe(-88) // ENOTSOCK
    fs.closeSync(file)
    expect(binding.socketInode(file)).toBe(-9) // EBADF
    expect(() => binding.findSocket('127.0.0.1', 1, undefined as unknown as null, 0)).toThrow(TypeError)
  })
})

describe.skipIf(!linux)('socketLookup: the fd kept on a socket', () => {
  it('is used only while it holds the socket found: once its fd is reused by another socket, that one is never taken for it', async () => {
    const lookup = socketLookup(binding)
    const { client } = await tcpPair()
    // A stand-in for a socket the runtime gives no fd: only its addresses, as Deno's sockets have.
    const [localAddress, localPort, remoteAddress, remotePort] = ends(client)
    const standIn = { localAddress, localPort, remoteAddress, remotePort } as net.Socket
    expect(lookup.socketFd(standIn)).toEqual({ fd: fdOf(client), inode: binding.socketInode(fdOf(client)) })
    const [fd, inode] = [fdOf(client), binding.socketInode(fdOf(client))]
    client.destroy()
    await once(client, 'close')
    // New sockets take the lowest free fds: the one just closed now holds another socket.
    const other = await tcpPair()
    expect([fdOf(other.server), fdOf(other.client), fdOf(other.accepted)]).toContain(fd)
    expect(binding.socketInode(fd)).toBeGreaterThan(0)
    expect(binding.socketInode(fd)).not.toBe(inode)
    expect(lookup.socketFd(standIn)).toEqual({ why: 'no fd of this process is a TCP socket with its addresses' })
  })

  it('finds a listening server by its address, and says why when nothing matches', async () => {
    const lookup = socketLookup(binding)
    const server = await listen(net.createServer())
    expect(lookup.listenerFds(server)).toEqual([fdOf(server)])
    const elsewhere = { address: () => ({ address: '127.0.0.1', port: 1, family: 'IPv4' }) } as unknown as net.Server
    expect(lookup.listenerFds(elsewhere)).toBe('no fd of this process is a TCP socket with a listener on 127.0.0.1:1')
  })
})

describe('on Node', () => {
  it('never scans: every socket, server and process-wide rule takes the fd from the handle', async () => {
    const findSocket = vi.spyOn(binding, 'findSocket')
    const socketInode = vi.spyOn(binding, 'socketInode')
    expect(keepaliveSupport.fdSource).toBe('handle')
    const rule = keepaliveProcess({ idle: 9_000 }, { accepted: true })
    try {
      const { client, accepted } = await tcpPair()
      configureKeepalive(client, { idle: 5_000, interval: 1_000, count: 2 })
      expect(readKeepalive(accepted).idle).toBe(9_000)
      readTcpInfo(client)
      const server = await listen(keepaliveServer(http.createServer(), { idle: 7_000 }))
      const connected = once(server, 'connection')
      const socket = net.connect(server.port, '127.0.0.1')
      await once(socket, 'connect')
      const [inbound] = (await connected) as [net.Socket]
      expect(readKeepalive(inbound).idle).toBe(7_000)
      socket.destroy()
    } finally {
      rule.stop()
    }
    expect(findSocket).not.toHaveBeenCalled()
    expect(socketInode).not.toHaveBeenCalled()
  })
})
