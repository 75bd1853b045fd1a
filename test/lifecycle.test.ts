// Sockets that are not (or no longer, or never) connected TCP sockets.
import { execFileSync } from 'node:child_process'
import dgram from 'node:dgram'
import { once } from 'node:events'
import { closeSync, openSync } from 'node:fs'
import http2 from 'node:http2'
import net from 'node:net'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { configureKeepalive, keepaliveProcess, keepaliveServer, readKeepalive, readTcpInfo } from '../lib/index.js'
import { canRun, closeAll, fdOf, hasCommand, listen, tcpPair, tempDir } from './helpers.js'

afterEach(closeAll)

describe('a socket that is still connecting', () => {
  it('gets the options on connect, before any user connect listener', async () => {
    const server = await listen(net.createServer())
    const client = net.connect({ host: 'localhost', port: server.port, family: 4 }) // DNS first: no fd yet
    expect(fdOf(client)).toBe(-1)
    configureKeepalive(client, { idle: 11_000, count: 2 })
    configureKeepalive(client, { idle: 13_000, userTimeout: 3_000 }) // later calls win, fields merge
    const seen = new Promise((resolve) => client.on('connect', () => resolve(readKeepalive(client))))
    expect(await seen).toMatchObject({ enabled: true, idle: 13_000, count: 2, userTimeout: 3_000 })
    client.destroy()
  })

  it('refuses to be read with ERR_SOCKET_NOT_CONNECTED', async () => {
    const server = await listen(net.createServer())
    const client = net.connect({ host: 'localhost', port: server.port, family: 4 })
    expect(() => readKeepalive(client)).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_NOT_CONNECTED' }))
    await once(client, 'connect')
    client.destroy()
  })

  it('works on a socket created with new net.Socket() and connected later', async () => {
    const server = await listen(net.createServer())
    const client = new net.Socket()
    configureKeepalive(client, { interval: 6_000 })
    client.connect(server.port, '127.0.0.1')
    await once(client, 'connect')
    expect(readKeepalive(client)).toMatchObject({ enabled: true, interval: 6_000 })
    client.destroy()
  })

  it('works on an http2 session socket before the session connects', async () => {
    const server = await listen(http2.createServer())
    const session = http2.connect(`http://localhost:${server.port}`)
    configureKeepalive(session.socket as net.Socket, { idle: 14_000 })
    await once(session, 'connect')
    expect(readKeepalive(session.socket as net.Socket)).toMatchObject({ enabled: true, idle: 14_000 })
    session.destroy()
  })

  it('reports a failure at connect time on the socket, not as an uncaught exception', async () => {
    const dir = tempDir('unix')
    const unixServer = await listen(net.createServer(), path.join(dir, 'socket'))
    const client = new net.Socket()
    configureKeepalive(client, { idle: 5_000 }) // validated now; turns out not to be TCP on connect
    client.connect(unixServer.address() as string)
    const [error] = await once(client, 'error')
    expect(error).toMatchObject({ code: 'ERR_KEEPALIVE_NOT_TCP' })
    expect(client.destroyed).toBe(true)
  })
})

describe('a closed socket', () => {
  it('throws ERR_SOCKET_CLOSED', async () => {
    const { client } = await tcpPair()
    client.destroy()
    for (const call of [() => configureKeepalive(client, { idle: 1_000 }), () => readKeepalive(client)]) {
      expect(call).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_CLOSED', message: 'Socket is closed' }))
    }
  })

  it('throws ERR_SOCKET_CLOSED for an http2 socket whose session is gone', async () => {
    const server = await listen(http2.createServer())
    const session = http2.connect(`http://localhost:${server.port}`)
    await once(session, 'connect')
    const socket = session.socket as net.Socket
    session.destroy()
    await once(session, 'close')
    for (const call of [() => configureKeepalive(socket, { idle: 1_000 }), () => readKeepalive(socket)]) {
      expect(call).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_CLOSED' }))
    }
  })
})

/** The property path by which `target` can be reached from `root` through own data properties, within `depth` steps, or null. */
function pathTo(root: object, target: object, depth: number): string | null {
  const seen = new Set<object>([root])
  let frontier: Array<[object, string]> = [[root, 'socket']]
  for (let step = 0; step < depth; step++) {
    const next: Array<[object, string]> = []
    for (const [object, where] of frontier) {
      for (const key of Reflect.ownKeys(object)) {
        const value = Object.getOwnPropertyDescriptor(object, key)?.value as unknown
        const here = `${where}.${String(key)}`
        if (value === target) return here
        if (typeof value === 'object' && value !== null && !seen.has(value)) {
          seen.add(value)
          next.push([value, here])
        }
      }
    }
    frontier = next
  }
  return null
}

describe('a configured socket, once closed', () => {
  // On Node 26 a closed socket that still reached its handle was carried through
  // young-generation collections into the old generation: an HTTP server under
  // the preload spent 3x as long in scavenges and ran 3x as many full collections.
  it("keeps no way to its handle once Node dropped it (configured on its own, by a rule, by a server's function)", async () => {
    const server = await listen(net.createServer())
    const watched = await listen(keepaliveServer(net.createServer(), () => ({ idle: 12_000 })))
    const rule = keepaliveProcess({ idle: 11_000 }, { ports: [server.port] })
    const own = net.connect(watched.port, '127.0.0.1')
    const accepted = once(watched, 'connection') as Promise<[net.Socket]>
    const byRule = net.connect(server.port, '127.0.0.1')
    await Promise.all([once(own, 'connect'), once(byRule, 'connect')])
    configureKeepalive(own, { idle: 13_000 })
    configureKeepalive(own, { idle: 14_000 }) // a configured socket's later calls skip Node's fd getter
    const [byFunction] = await accepted
    const sockets = [own, byRule, byFunction]
    expect(sockets.map((socket) => readKeepalive(socket).idle)).toEqual([14_000, 11_000, 12_000])
    for (const socket of sockets) socket.setKeepAlive(true, 1_000) // a sticky rewrite reads the target too
    expect(sockets.map((socket) => readKeepalive(socket).idle)).toEqual([14_000, 11_000, 12_000])
    const handles = sockets.map((socket) => (socket as unknown as { _handle: object })._handle)
    await Promise.all(sockets.map((socket) => (socket.destroy(), once(socket, 'close'))))
    expect(sockets.map((socket, i) => pathTo(socket, handles[i], 4))).toEqual([null, null, null])
    rule.stop()
  })
})

describe('not a TCP socket', () => {
  it('a Unix domain socket: ERR_KEEPALIVE_NOT_TCP', async () => {
    const dir = tempDir('unix')
    const server = await listen(net.createServer(), path.join(dir, 'socket'))
    const client = net.connect(server.address() as string)
    await once(client, 'connect')
    for (const call of [() => configureKeepalive(client, { idle: 1_000 }), () => readKeepalive(client)]) {
      expect(call).toThrow(expect.objectContaining({ code: 'ERR_KEEPALIVE_NOT_TCP', message: 'The socket is not a TCP socket' }))
    }
    client.destroy()
  })

  it('a UDP socket fd: ERR_KEEPALIVE_NOT_TCP', async () => {
    const udp = dgram.createSocket('udp4')
    udp.bind(0, '127.0.0.1')
    await once(udp, 'listening')
    const fd = fdOf(udp)
    expect(() => configureKeepalive(fd, { idle: 1_000 })).toThrow(
      expect.objectContaining({ code: 'ERR_KEEPALIVE_NOT_TCP', message: `fd ${fd} is not a TCP socket` }),
    )
    udp.close()
  })

  it('a UDP socket (dgram.Socket) itself: ERR_KEEPALIVE_NOT_TCP, as docs/api.md says', async () => {
    const udp = dgram.createSocket('udp4')
    udp.bind(0, '127.0.0.1')
    await once(udp, 'listening')
    const notTcp = expect.objectContaining({
      code: 'ERR_KEEPALIVE_NOT_TCP',
      message: 'The socket is a UDP socket (dgram): keepalive is a TCP option',
    })
    // A JavaScript caller's mistake: the types accept only TCP sockets and fds.
    const target = udp as unknown as net.Socket
    for (const call of [() => configureKeepalive(target, { idle: 1_000 }), () => readKeepalive(target), () => readTcpInfo(target)]) {
      expect(call).toThrow(notTcp)
    }
    udp.close()
  })

  it('a file fd: ERR_KEEPALIVE_NOT_TCP', () => {
    const fd = openSync(__filename, 'r')
    try {
      for (const call of [() => configureKeepalive(fd, { idle: 1_000 }), () => readKeepalive(fd)]) {
        expect(call).toThrow(expect.objectContaining({ code: 'ERR_KEEPALIVE_NOT_TCP', message: `fd ${fd} is not a socket: a file` }))
      }
    } finally {
      closeSync(fd)
    }
  })

  it('process.stdin on a pipe (a shell |): names the pipe', () => {
    // A shell pipe, not a child's stdio: libuv gives children socketpairs, which are Unix sockets.
    const script = `
      const { configureKeepalive, readKeepalive } = require(${JSON.stringify(path.join(__dirname, '..'))})
      for (const call of [() => configureKeepalive(process.stdin, { idle: 1000 }), () => readKeepalive(process.stdin)]) {
        try { call(); console.log('accepted') } catch (error) { console.log(error.code + ': ' + error.message) }
      }`
    const output = execFileSync('sh', ['-c', 'echo | "$0" -e "$1"', process.execPath, script], { encoding: 'utf8' })
    expect(output.trim().split('\n')).toEqual(Array(2).fill("ERR_KEEPALIVE_NOT_TCP: The socket's fd 0 is not a socket: a pipe"))
  })

  it.skipIf(!canRun('root and python3 (a raw socket)', process.getuid?.() === 0 && hasCommand('python3')))(
    'a raw socket with protocol IPPROTO_TCP: ERR_KEEPALIVE_NOT_TCP, nothing written',
    () => {
      // python3 opens the raw socket (Node cannot) and runs Node with it as fd 3.
      const script = `
        const { configureKeepalive, readKeepalive } = require(${JSON.stringify(path.join(__dirname, '..'))})
        for (const call of [() => configureKeepalive(3, { idle: 1000 }), () => readKeepalive(3)]) {
          try { call(); console.log('accepted') } catch (error) { console.log(error.code + ': ' + error.message) }
        }`
      const opener = `import os, socket, subprocess, sys
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
os.dup2(s.fileno(), 3)
sys.exit(subprocess.run([sys.argv[1], '-e', sys.argv[2]], pass_fds=[3]).returncode)`
      const output = execFileSync('python3', ['-c', opener, process.execPath, script], { encoding: 'utf8' })
      expect(output.trim().split('\n')).toEqual(Array(2).fill('ERR_KEEPALIVE_NOT_TCP: fd 3 is not a TCP socket'))
    },
  )

  it("a Proxy whose traps throw: ERR_INVALID_ARG_TYPE, not the trap's error", () => {
    const hostile = new Proxy(
      {},
      {
        get() {
          throw new Error('trap: get')
        },
        getPrototypeOf() {
          throw new Error('trap: getPrototypeOf')
        },
      },
    )
    const onlyGetThrows = new Proxy(Object.create(null), {
      get() {
        throw new Error('trap: get')
      },
    })
    for (const target of [hostile, onlyGetThrows]) {
      for (const call of [() => configureKeepalive(target, { idle: 1_000 }), () => readKeepalive(target)]) {
        expect(call).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }))
      }
    }
  })

  it('an fd that is not open: a system error like Node core builds', () => {
    const fd = 1_000_000
    expect(() => configureKeepalive(fd, { idle: 1_000 })).toThrow(
      expect.objectContaining({ message: 'setsockopt EBADF', code: 'EBADF', errno: -9, syscall: 'setsockopt' }),
    )
    expect(() => readKeepalive(fd)).toThrow(expect.objectContaining({ message: 'getsockopt EBADF', code: 'EBADF', syscall: 'getsockopt' }))
  })
})
