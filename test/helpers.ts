// Real sockets on loopback for the tests, and the checks that do not depend
// on our own getsockopt code.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import http2 from 'node:http2'
import net from 'node:net'
import path from 'node:path'
import tls from 'node:tls'
import { once } from 'node:events'

const fixtures = path.join(__dirname, 'fixtures')
export const tlsOptions = {
  key: readFileSync(path.join(fixtures, 'key.pem')),
  cert: readFileSync(path.join(fixtures, 'cert.pem')),
}

/** Everything opened by the helpers; `closeAll` in afterEach releases it. */
const open: Array<() => void> = []
export function closeAll(): void {
  for (const close of open.splice(0)) close()
}

/** Listens on a free loopback port, or on a Unix socket when `address` is a path (then `port` is 0). */
export async function listen<S extends net.Server>(server: S, address = '127.0.0.1'): Promise<S & { port: number }> {
  if (path.isAbsolute(address)) server.listen(address)
  else server.listen(0, address)
  await once(server, 'listening')
  open.push(() => server.close())
  const bound = server.address()
  return Object.assign(server, { port: typeof bound === 'object' && bound ? bound.port : 0 })
}

/** A connected client socket and the server's accepted end of it. */
export async function tcpPair(): Promise<{ client: net.Socket; accepted: net.Socket; server: net.Server }> {
  const server = await listen(net.createServer())
  const accepted = once(server, 'connection')
  const client = net.connect(server.port, '127.0.0.1')
  open.push(() => client.destroy())
  await once(client, 'connect')
  const [socket] = (await accepted) as [net.Socket]
  open.push(() => socket.destroy())
  return { client, accepted: socket, server }
}

export async function tlsPair(): Promise<{ client: tls.TLSSocket; accepted: tls.TLSSocket }> {
  const server = await listen(tls.createServer(tlsOptions))
  const accepted = once(server, 'secureConnection')
  const client = tls.connect({ port: server.port, host: '127.0.0.1', ca: tlsOptions.cert, servername: 'localhost' })
  open.push(() => client.destroy())
  await once(client, 'secureConnect')
  const [socket] = (await accepted) as [tls.TLSSocket]
  open.push(() => socket.destroy())
  return { client, accepted: socket }
}

/** The client and server session sockets of an http2 connection: http2's Proxy objects, as users get them. */
export async function http2Pair(secure: boolean): Promise<{ client: net.Socket; accepted: net.Socket }> {
  const server = await listen(secure ? http2.createSecureServer(tlsOptions) : http2.createServer())
  const serverSession = once(server, 'session')
  const session = http2.connect(`${secure ? 'https' : 'http'}://localhost:${server.port}`, { ca: tlsOptions.cert })
  open.push(() => session.destroy())
  await once(session, 'connect')
  const [accepted] = (await serverSession) as [http2.ServerHttp2Session]
  open.push(() => accepted.destroy())
  return { client: session.socket as net.Socket, accepted: accepted.socket as net.Socket }
}

/**
 * The file descriptor behind a Node socket, server or dgram socket. Node keeps
 * it on the internal handle: `_handle`, or for dgram on Node 26+ only in its
 * private state object.
 */
export function fdOf(owner: unknown): number {
  const { _handle } = owner as { _handle?: { fd: number } }
  if (_handle) return _handle.fd
  const state = Object.getOwnPropertySymbols(owner).find((key) => key.description === 'state symbol')
  const fd = state && (owner as Record<symbol, { handle?: { fd?: number } }>)[state].handle?.fd
  if (typeof fd !== 'number') throw new Error('fdOf: this Node keeps no fd where the tests look for it')
  return fd
}

/**
 * `count` connections to `port` whose handshakes complete while this process
 * is busy (a client process run to its end): they wait in the accept queue,
 * holding what the listening socket held then.
 */
export function queueConnections(port: number, count: number): void {
  const client = `let left = ${count}; for (let i = 0; i < ${count}; i++) require('node:net').connect(${port}, '127.0.0.1', () => --left || process.exit())`
  execFileSync(process.execPath, ['-e', client])
}

/** A new temporary directory, removed with everything else in `closeAll`. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `tcp-keepalive-${prefix}-`))
  open.push(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** A pinned tool's binary (scripts/tools.sh path NAME), or '' where it is not installed. */
export function toolPath(name: string): string {
  try {
    return execFileSync(path.join(__dirname, '..', 'scripts', 'tools.sh'), ['path', name], { encoding: 'utf8' }).trim()
  } catch {
    return ''
  }
}

export function hasCommand(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/**
 * Whether a test that needs `what` can run. On a developer's machine a
 * missing requirement skips the test; under CI=true it is a failure.
 */
export function canRun(what: string, available: boolean): boolean {
  if (!available && process.env.CI === 'true') throw new Error(`CI=true, but this test cannot run: it needs ${what}`)
  return available
}

/** What the kernel holds for the client end of an accepted connection, found by ports among this process's fds (read from outside with `inspect`). */
export function clientSideOf(accepted: net.Socket): unknown {
  const bin = path.join(__dirname, '..', 'dist', 'cli', 'main.js')
  const { sockets } = JSON.parse(execFileSync(process.execPath, [bin, 'inspect', String(process.pid), '--json'], { encoding: 'utf8' })) as {
    sockets: Array<{ local: string; remote: string; keepalive: unknown }>
  }
  const [{ keepalive }] = sockets.filter(
    ({ local, remote }) => local === `127.0.0.1:${accepted.remotePort}` && remote === `127.0.0.1:${accepted.localPort}`,
  )
  return keepalive
}
