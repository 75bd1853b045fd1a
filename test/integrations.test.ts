// The integrations, each against the real thing: net/http/https/tls/http2
// servers, http(s).Agent with real socket reuse, undici 7 (and 8 on a newer
// Node), the vitest matcher, and TCP_INFO.
import { type ChildProcess, execFileSync, fork, spawn } from 'node:child_process'
import { once } from 'node:events'
import { cpSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import http2 from 'node:http2'
import https from 'node:https'
import net from 'node:net'
import path from 'node:path'
import tls from 'node:tls'
import { Agent, fetch, request } from 'undici'
import { afterEach, describe, expect, it, vi } from 'vitest'
import 'tcp-keepalive/vitest'
import { configureKeepalive, keepaliveAgent, keepaliveConnector, keepaliveServer, readKeepalive, readTcpInfo } from '../lib/index.js'
import { type Binding, bindingPath } from '../lib/native.js'
import nodeGypBuild from 'node-gyp-build'
import { canRun, fdOf, closeAll, hasCommand, listen, queueConnections, tcpPair, tempDir, tlsOptions } from './helpers.js'

afterEach(closeAll)

const settings = { idle: 30_000, interval: 5_000, count: 3, userTimeout: 20_000 }
const expected = { enabled: true, ...settings }
const root = path.join(__dirname, '..')

/** Connects to a server and resolves with the raw socket it accepted, as a user 'connection' listener sees it. */
async function acceptOne(server: net.Server & { port: number }, secure: boolean): Promise<net.Socket> {
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve))
  const client = secure
    ? tls.connect({ port: server.port, host: '127.0.0.1', ca: tlsOptions.cert, servername: 'localhost', ALPNProtocols: ['h2', 'http/1.1'] })
    : net.connect(server.port, '127.0.0.1')
  client.on('error', () => {})
  const socket = await accepted
  await new Promise((resolve) => setImmediate(resolve))
  client.destroy()
  return socket
}

describe('keepaliveServer', () => {
  it('under node:cluster (round-robin: the worker has no listening fd) configures each connection, as the kernel shows', () => {
    const script = `
      const cluster = require('node:cluster')
      const http = require('node:http')
      cluster.schedulingPolicy = cluster.SCHED_RR
      if (cluster.isPrimary) {
        const worker = cluster.fork()
        worker.on('message', (message) => { console.log(JSON.stringify(message)); worker.kill() })
      } else {
        const { keepaliveServer, readKeepalive } = require(${JSON.stringify(root)})
        const server = keepaliveServer(http.createServer((request, response) => {
          process.send({ listeningFd: server._handle.fd ?? null, state: readKeepalive(request.socket) })
          response.end()
        }), ${JSON.stringify(settings)})
        server.listen(0, '127.0.0.1', () => require('node:http').get('http://127.0.0.1:' + server.address().port, (r) => r.resume()))
      }`
    const file = path.join(tempDir('cluster'), 'server.cjs') // cluster.fork() re-runs a file, not -e
    writeFileSync(file, script)
    const out = JSON.parse(execFileSync(process.execPath, [file], { encoding: 'utf8', timeout: 15_000 }))
    expect(out.listeningFd).toBe(null)
    expect(out.state).toEqual({ enabled: true, ...settings })
  })

  describe('a listening socket handed over from elsewhere: inheritance is verified, accepted sockets hold the settings', () => {
    const child = path.join(__dirname, 'children', 'handed-listener.cjs')
    /** Three connections to a handed-listener child; what the kernel held for each, as the child read it. */
    async function threeConnections(started: ChildProcess): Promise<unknown[]> {
      started.on('error', () => {})
      try {
        const port = Number(((await once(started.stdout!, 'data')) as [Buffer])[0].toString())
        const states: unknown[] = []
        for (let i = 0; i < 3; i++) {
          const client = net.connect(port, '127.0.0.1')
          let text = ''
          client.on('data', (chunk: Buffer) => (text += chunk))
          await once(client, 'end')
          states.push(JSON.parse(text))
        }
        return states
      } finally {
        started.kill()
      }
    }
    const args = (mode: string) => [child, mode, JSON.stringify(settings)]

    it.skipIf(!canRun('python3, to pass a listening fd at exec', hasCommand('python3')))(
      'listen({ fd: 3 }), as systemd socket activation passes it',
      async () => {
        const opener = `import os, socket, subprocess, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(('127.0.0.1', 0))
s.listen()
os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
os.environ.update(LISTEN_FDS='1')
os.execv(sys.argv[1], sys.argv[1:])`
        const started = spawn('python3', ['-c', opener, process.execPath, ...args('fd')], { stdio: ['ignore', 'pipe', 'inherit'] })
        expect(await threeConnections(started)).toEqual([expected, expected, expected])
      },
    )

    it("listen(otherServer): another server's handle", async () => {
      const started = spawn(process.execPath, args('handle'), { stdio: ['ignore', 'pipe', 'inherit'] })
      expect(await threeConnections(started)).toEqual([expected, expected, expected])
    })

    it('a listening server sent over IPC (child_process.fork, send)', async () => {
      const started = fork(child, args('ipc').slice(1), { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] })
      const server = net.createServer().listen(0, '127.0.0.1')
      await once(server, 'listening')
      started.send('server', server, () => server.close()) // the child accepts from now on
      expect(await threeConnections(started)).toEqual([expected, expected, expected])
    })
  })

  const kinds: Array<[string, () => net.Server, boolean]> = [
    ['net', () => net.createServer(), false],
    ['http', () => http.createServer(), false],
    ['https', () => https.createServer(tlsOptions), true],
    ['tls', () => tls.createServer(tlsOptions), true],
    ['http2 cleartext', () => http2.createServer(), false],
    ['http2 secure', () => http2.createSecureServer(tlsOptions), true],
  ]

  describe.each(kinds)('%s server', (_kind, create, secure) => {
    it('static options, before listen(): accepted sockets hold them', async () => {
      const server = await listen(keepaliveServer(create(), settings))
      const socket = await acceptOne(server, secure)
      expect(socket).toHaveKeepalive(expected)
    })

    it('static options, after listen(): accepted sockets hold them', async () => {
      const server = keepaliveServer(await listen(create()), settings)
      expect(readKeepalive(fdOf(server))).toEqual(expected) // the listening socket itself (inherited on Linux)
      expect(await acceptOne(server, secure)).toHaveKeepalive(expected)
    })

    it('a function: per-connection options, applied before user connection listeners', async () => {
      const seen: unknown[] = []
      let n = 0
      const server = await listen(keepaliveServer(create(), () => (n++ === 0 ? { idle: 11_000 } : undefined)))
      server.on('connection', (socket: net.Socket) => seen.push(readKeepalive(socket)))
      await acceptOne(server, secure)
      await acceptOne(server, secure)
      expect(seen[0]).toMatchObject({ enabled: true, idle: 11_000 })
      expect(seen[1]).toMatchObject({ enabled: false }) // undefined: left alone
    })
  })

  it('static options that leave fields out still cost no write per connection (inheritance verified once)', async () => {
    const binding = nodeGypBuild(root) as Binding // the module object the library uses: require() caches it
    const server = await listen(keepaliveServer(net.createServer(), { idle: 11_000, count: 4 }))
    const apply = vi.spyOn(binding, 'apply')
    for (let i = 0; i < 3; i++) expect(await acceptOne(server, false)).toHaveKeepalive({ enabled: true, idle: 11_000, count: 4 })
    expect(apply).not.toHaveBeenCalled()
    apply.mockRestore()
  })

  it('on a server with connections queued: those are configured, and once a later one inherits, no write per connection', async () => {
    const binding = nodeGypBuild(root) as Binding
    const server = await listen(net.createServer({ allowHalfOpen: true })) // the queued ones' clients are gone when they are accepted
    const queued: net.Socket[] = []
    server.on('connection', (socket: net.Socket) => queued.length < 3 && queued.push(socket))
    queueConnections(server.port, 3)
    keepaliveServer(server, settings) // written on the listening socket now: the 3 queued hold what it held before
    while (queued.length < 3) await once(server, 'connection')
    for (const socket of queued) expect(socket).toHaveKeepalive(expected)
    const apply = vi.spyOn(binding, 'apply')
    for (let i = 0; i < 3; i++) expect(await acceptOne(server, false)).toHaveKeepalive(expected)
    expect(apply).not.toHaveBeenCalled()
    apply.mockRestore()
    for (const socket of queued) socket.destroy()
  })

  it('options are settled at setup: changing the object afterwards changes nothing', async () => {
    const options: Record<string, unknown> = { idle: 11_000, count: 4 }
    const server = await listen(keepaliveServer(net.createServer(), options))
    options.idle = -1
    options.bogus = true
    expect(await acceptOne(server, false)).toHaveKeepalive({ enabled: true, idle: 11_000, count: 4 })

    const agentOptions: Record<string, unknown> = { idle: 13_000 }
    const agent = keepaliveAgent(new http.Agent({ keepAlive: true }), agentOptions)
    agentOptions.idle = 'soon'
    const web = await listen(http.createServer((_request, response) => response.end('ok')))
    const request = http.get({ host: '127.0.0.1', port: web.port, agent })
    const [socket] = (await once(request, 'socket')) as [net.Socket]
    const [response] = (await once(request, 'response')) as [http.IncomingMessage]
    response.resume()
    expect(socket).toHaveKeepalive({ enabled: true, idle: 13_000 })
    agent.destroy()
  })

  it('static options survive setKeepAlive on an accepted socket, though nothing was written to it', async () => {
    const server = await listen(keepaliveServer(net.createServer(), settings))
    const socket = await acceptOne(server, false)
    socket.setKeepAlive(true, 1_000)
    expect(socket).toHaveKeepalive(expected)
  })

  it("with Node's own keepAlive server option, which rewrites each accepted socket, still applies them", async () => {
    const control = await listen(net.createServer({ keepAlive: true, keepAliveInitialDelay: 1_000 }))
    expect(await acceptOne(control, false)).toHaveKeepalive({ idle: 1_000, interval: 1_000, count: 10 })
    const server = await listen(keepaliveServer(net.createServer({ keepAlive: true, keepAliveInitialDelay: 1_000 }), settings))
    expect(await acceptOne(server, false)).toHaveKeepalive(expected)
  })

  it('rejects bad options at once, and what is not a server', () => {
    expect(() => keepaliveServer(net.createServer(), { idle: -1 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }))
    expect(() => keepaliveServer({} as net.Server, settings)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }))
  })

  it.skipIf(!canRun('strace, to count system calls', hasCommand('strace')))(
    'static options cost no system call per accepted connection; a function costs one native call each',
    { timeout: 30_000 },
    async () => {
      const keepaliveCalls = async (mode: 'static' | 'function') => {
        const connections = 20
        const script = `
          const net = require('node:net')
          const { keepaliveServer } = require(${JSON.stringify(root)})
          const options = ${JSON.stringify(settings)}
          const server = keepaliveServer(net.createServer(), ${mode === 'static' ? 'options' : '() => options'})
          let accepted = 0
          server.on('connection', (socket) => { socket.destroy(); if (++accepted === ${connections}) server.close() })
          server.listen(0, '127.0.0.1', () => console.log(server.address().port))`
        const log = path.join(tempDir('strace'), 'trace')
        const child = spawn('strace', ['-f', '-qq', '-e', 'trace=setsockopt,getsockopt', '-o', log, process.execPath, '-e', script], {
          stdio: ['ignore', 'pipe', 'inherit'],
        })
        const [port] = (await once(child.stdout, 'data')) as [Buffer]
        for (let i = 0; i < connections; i++) {
          const client = net.connect(Number(port), '127.0.0.1')
          client.on('error', () => {})
          await once(client, 'close')
        }
        await once(child, 'exit')
        const lines = readFileSync(log, 'utf8').split('\n')
        // Not on fds 0-2: Node asks SO_TYPE of its stdio, which vitest makes socketpairs.
        const ours = /[gs]etsockopt\((?![012],).*(SO_KEEPALIVE|TCP_KEEP|TCP_USER_TIMEOUT|SO_TYPE|SO_PROTOCOL)/
        return lines.filter((line) => ours.test(line)).length
      }
      const staticCalls = await keepaliveCalls('static')
      const perConnectionCalls = await keepaliveCalls('function')
      console.log(`keepalive-related setsockopt/getsockopt calls, 20 connections: static ${staticCalls}, function ${perConnectionCalls}`)
      // Static: the listening socket, a raw fd (a TCP check of 2 reads + 5 writes), and one read-back of
      // the first accepted socket, proving it inherited them (5 reads: Node's TCP handle needs no check),
      // whatever the connection count.
      expect(staticCalls).toBe(12)
      // Function: the 5 writes for each of the 20 connections, nothing else.
      expect(perConnectionCalls).toBe(20 * 5)
    },
  )
})

describe('keepaliveAgent', () => {
  async function twoRequestsOnOnePooledSocket(secure: boolean) {
    const handler = (_request: http.IncomingMessage, response: http.ServerResponse) => response.end('ok')
    const server = await listen(secure ? https.createServer(tlsOptions, handler) : http.createServer(handler))
    const Agent = secure ? https.Agent : http.Agent
    const agent = keepaliveAgent(new Agent({ keepAlive: true, keepAliveMsecs: 1_000, maxSockets: 1 }), settings)
    const get = secure ? https.get : http.get
    const sockets: net.Socket[] = []
    for (let i = 0; i < 2; i++) {
      const req = get({ host: '127.0.0.1', port: server.port, agent, ca: tlsOptions.cert, servername: 'localhost' })
      req.on('socket', (socket: net.Socket) => sockets.push(socket))
      const [response] = (await once(req, 'response')) as [http.IncomingMessage]
      response.resume()
      await once(response, 'end')
    }
    expect(sockets[1]).toBe(sockets[0]) // reused: the agent called setKeepAlive(true, 1000) on it again
    const state = readKeepalive(sockets[1])
    agent.destroy()
    return state
  }

  it.each([
    ['http', false],
    ['https', true],
  ])('%s: every socket carries the settings, and they survive reuse', async (_kind, secure) => {
    expect(await twoRequestsOnOnePooledSocket(secure)).toEqual(expected)
  })

  it('rejects bad options at once, and what is not an agent', () => {
    expect(() => keepaliveAgent(new http.Agent(), { count: 0 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }))
    expect(() => keepaliveAgent({} as http.Agent, settings)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }))
  })
})

describe('keepaliveConnector (undici)', () => {
  /** An undici Agent whose connections we can see: the connector wrapped to record each socket. */
  function recordingAgent() {
    const connect = keepaliveConnector(settings)
    const sockets: net.Socket[] = []
    const agent = new Agent({
      connect: (options, callback) =>
        connect(options, (error, socket) => {
          if (socket) sockets.push(socket)
          callback(error as Error, socket as never)
        }),
    })
    return { agent, sockets }
  }

  it('request(): every connection carries the settings, after undici set its own keepalive', async () => {
    const server = await listen(http.createServer((_request, response) => response.end('ok')))
    const { agent, sockets } = recordingAgent()
    for (let i = 0; i < 2; i++) {
      const { body } = await request(`http://127.0.0.1:${server.port}/`, { dispatcher: agent })
      expect(await body.text()).toBe('ok')
    }
    expect(sockets.length).toBeGreaterThan(0) // undici decides how many (two for three requests, with or without us)
    for (const socket of sockets) expect(socket).toHaveKeepalive(expected)
    await agent.close()
  })

  it('fetch(): the same', async () => {
    const server = await listen(http.createServer((_request, response) => response.end('ok')))
    const { agent, sockets } = recordingAgent()
    const response = await fetch(`http://127.0.0.1:${server.port}/`, { dispatcher: agent })
    expect(await response.text()).toBe('ok')
    expect(sockets[0]).toHaveKeepalive(expected)
    await agent.close()
  })

  it('control: undici alone sets idle 60 s, interval 1 s, count 10', async () => {
    const server = await listen(http.createServer((_request, response) => response.end('ok')))
    const { buildConnector } = await import('undici')
    const connect = buildConnector({})
    const sockets: net.Socket[] = []
    const agent = new Agent({
      connect: (options, callback) => connect(options, (e, s) => (s && sockets.push(s as net.Socket), callback(e as Error, s as never))),
    })
    await (await request(`http://127.0.0.1:${server.port}/`, { dispatcher: agent })).body.text()
    expect(sockets[0]).toHaveKeepalive({ idle: 60_000, interval: 1_000, count: 10 })
    await agent.close()
  })

  const otherNode = process.env.TCP_KEEPALIVE_OTHER_NODE ?? ''
  it.skipIf(!canRun('TCP_KEEPALIVE_OTHER_NODE (undici 8 needs Node 22.19+)', otherNode !== '' && existsSync(otherNode)))(
    'undici 8, on a Node that runs it, installed beside the package as an app would have it',
    { timeout: 20_000 },
    () => {
      // An app's node_modules: this package (built files only), its dependency, and undici 8.
      const app = tempDir('undici8')
      const modules = path.join(app, 'node_modules')
      const pkg = path.join(modules, 'tcp-keepalive')
      mkdirSync(pkg, { recursive: true })
      cpSync(path.join(root, 'package.json'), path.join(pkg, 'package.json'))
      cpSync(path.join(root, 'dist'), path.join(pkg, 'dist'), { recursive: true })
      const binding = bindingPath()! // a local build or a prebuild: copied to the same place
      cpSync(binding, path.join(pkg, path.relative(root, binding)))
      symlinkSync(path.join(root, 'node_modules', 'node-gyp-build'), path.join(modules, 'node-gyp-build'))
      symlinkSync(path.join(root, 'node_modules', 'undici8'), path.join(modules, 'undici'))
      const script = `
          const http = require('node:http')
          const { Agent, request } = require('undici')
          const { keepaliveConnector, readKeepalive } = require('tcp-keepalive')
          const server = http.createServer((q, s) => s.end('ok')).listen(0, '127.0.0.1', async () => {
            const connect = keepaliveConnector(${JSON.stringify(settings)})
            let socket
            const agent = new Agent({ connect: (o, cb) => connect(o, (e, s) => { socket = s; cb(e, s) }) })
            const { body } = await request('http://127.0.0.1:' + server.address().port + '/', { dispatcher: agent })
            await body.text()
            console.log(JSON.stringify({ undici: require('undici/package.json').version, state: readKeepalive(socket) }))
            await agent.close(); server.close()
          })`
      const out = JSON.parse(execFileSync(otherNode, ['-e', script], { cwd: app, encoding: 'utf8' }))
      expect(out.undici).toMatch(/^8\./)
      expect(out.state).toEqual(expected)
    },
  )
})

describe('a Unix socket passes every integration untouched, with one warning each', () => {
  /** The TcpKeepaliveWarning texts emitted while `run` runs. */
  async function warningsDuring(run: () => Promise<void>): Promise<string[]> {
    const spy = vi.spyOn(process, 'emitWarning')
    try {
      await run()
      return spy.mock.calls.map(([text]) => String(text))
    } finally {
      spy.mockRestore()
    }
  }
  const answer = (_request: http.IncomingMessage, response: http.ServerResponse) => response.end('ok')
  /** Two requests over the Unix socket at `socketPath`, each on its own connection. */
  async function twoRequests(socketPath: string, agent?: http.Agent): Promise<void> {
    for (let i = 0; i < 2; i++) {
      const [response] = (await once(http.get({ socketPath, path: '/', agent }), 'response')) as [http.IncomingMessage]
      response.setEncoding('utf8')
      let body = ''
      for await (const chunk of response) body += chunk
      expect(body).toBe('ok')
    }
  }

  it('keepaliveServer listening on a path, with static options or a function: connections are served', async () => {
    for (const options of [settings, () => settings]) {
      const socketPath = path.join(tempDir('unix-server'), 'http.sock')
      const server = await listen(keepaliveServer(http.createServer(answer), options), socketPath)
      const warnings = await warningsDuring(() => twoRequests(socketPath))
      expect(warnings.length).toBeLessThanOrEqual(1) // once per process: the first run says it
      server.close()
    }
  })

  it('keepaliveServer says so once', async () => {
    const socketPath = path.join(tempDir('unix-server'), 'http.sock')
    // A fresh process: the warning is once per process.
    const script = `
      const http = require('node:http')
      const { keepaliveServer } = require(${JSON.stringify(root)})
      process.on('warning', (warning) => console.log(warning.code + ': ' + warning.message))
      const server = keepaliveServer(http.createServer((q, r) => r.end('ok')), { idle: 30000 }).listen(${JSON.stringify(socketPath)}, async () => {
        for (let i = 0; i < 2; i++) await new Promise((done) => http.get({ socketPath: ${JSON.stringify(socketPath)}, agent: false }, (r) => r.resume().on('end', done)))
        server.close()
      })`
    const output = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })
    expect(output.trim().split('\n')).toEqual([
      'TCP_KEEPALIVE_NOT_TCP: tcp-keepalive: keepaliveServer lets connections over a Unix socket pass without keepalive',
    ])
  })

  it('keepaliveAgent shared by socketPath and TCP requests: the first pass, the second are configured', async () => {
    const socketPath = path.join(tempDir('unix-agent'), 'http.sock')
    await listen(http.createServer(answer), socketPath)
    const agent = keepaliveAgent(new http.Agent({ keepAlive: false }), settings)
    const warnings = await warningsDuring(() => twoRequests(socketPath, agent))
    expect(warnings.filter((text) => text.includes('keepaliveAgent')).length).toBeLessThanOrEqual(1)
    const tcpServer = await listen(http.createServer(answer))
    const request = http.get({ host: '127.0.0.1', port: tcpServer.port, agent })
    const [socket] = (await once(request, 'socket')) as [net.Socket]
    await once(socket, 'connect')
    expect(readKeepalive(socket)).toEqual(expected)
    ;((await once(request, 'response')) as [http.IncomingMessage])[0].resume()
    agent.destroy()
  })

  it('keepaliveConnector with connect: { socketPath }: requests are served', async () => {
    const socketPath = path.join(tempDir('unix-undici'), 'http.sock')
    await listen(http.createServer(answer), socketPath)
    const agent = new Agent({ connect: keepaliveConnector(settings, { socketPath }) })
    for (let i = 0; i < 2; i++) {
      const { body } = await request('http://localhost/', { dispatcher: agent })
      expect(await body.text()).toBe('ok')
    }
    await agent.close()
  })
})

describe('tcp-keepalive/vitest', () => {
  it('passes on a partial match and fails with a readable diff', async () => {
    const { client } = await tcpPair()
    configureKeepalive(client, { idle: 30_000, count: 3 })
    expect(client).toHaveKeepalive({ idle: 30_000, count: 3 })
    expect(client).not.toHaveKeepalive({ idle: 31_000 })
    let message = ''
    try {
      expect(client).toHaveKeepalive({ idle: 60_000, count: 3 })
    } catch (error) {
      message = (error as Error).message
    }
    expect(message).toContain('expected the socket to have keepalive')
    expect(message).toMatch(/- +"idle": 60000/)
    expect(message).toMatch(/\+ +"idle": 30000/)
  })
})

describe('readTcpInfo', () => {
  it('reports the state, round-trip time and time since data was sent and received', async () => {
    const { client, accepted } = await tcpPair()
    accepted.write('hello')
    await once(client, 'data')
    const info = readTcpInfo(client)
    expect(info).toMatchObject({ state: 'ESTABLISHED', probes: 0, retransmits: 0 })
    expect(info.rtt).toBeGreaterThan(0)
    expect(info.lastDataReceived).toBeLessThan(1_000)
    accepted.end()
    await once(client, 'end')
    expect(readTcpInfo(client).state).toBe('CLOSE_WAIT')
  })

  it('refuses what is not a connected TCP socket, like readKeepalive', async () => {
    const { client } = await tcpPair()
    client.destroy()
    expect(() => readTcpInfo(client)).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_CLOSED' }))
    expect(() => readTcpInfo(1_000_000)).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'getsockopt' }))
  })
})
