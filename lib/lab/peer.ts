// A lab host's program: run inside a network namespace as
//   node peer.js '<json config>'
// It reports what happens as JSON lines on stdout (PeerEvent) and takes
// commands as JSON lines on stdin (PeerCommand). Times are Date.now().
import net from 'node:net'
import readline from 'node:readline'
import { configureKeepalive, type KeepaliveOptions, readTcpInfo } from '../index.js'

/**
 * push: send a line delayMs after accepting; reply: answer each request line delayMs later (and a
 * 'ping' line at once with 'pong'); hold: do nothing; sink: read and discard, without reporting data;
 * close-idle: close (FIN) a connection that sent nothing for delayMs, as servers with an idle timeout do.
 */
export interface Listener {
  port: number
  mode: 'push' | 'reply' | 'hold' | 'sink' | 'close-idle'
  delayMs?: number
  /** Applied to each accepted connection before anything else happens on it. */
  keepalive?: KeepaliveOptions
}

export interface Connection {
  name: string
  port: number
  keepalive?: KeepaliveOptions
  /** Sent right after connecting, like a query. */
  request?: string
  /** Report each change of TCP_INFO's unanswered-probe count and backoff (polled every 20 ms). */
  watchProbes?: boolean
  /**
   * An application heartbeat: send 'ping' every intervalMs; when nothing at all arrives within
   * deadlineMs of a ping, fail the connection with code HEARTBEAT_TIMEOUT.
   */
  heartbeat?: { intervalMs: number; deadlineMs: number }
  /** Open this many such connections, named `${name} #1` ... (default one, named `name`). */
  copies?: number
}

/** A TCP proxy: each connection accepted on `port` is piped to a new connection to upstream. */
export interface Proxy {
  port: number
  upstream: { host: string; port: number }
}

export type PeerConfig =
  | { role: 'server'; host: string; listeners: Listener[] }
  | { role: 'client'; host: string; connections: Connection[] }
  | { role: 'proxy'; host: string; proxies: Proxy[] }

export type PeerEvent =
  | { event: 'ready'; at: number }
  | { event: 'connected'; name: string; localPort: number; at: number }
  | { event: 'data'; name: string; text: string; at: number }
  | { event: 'written'; name: string; at: number }
  | { event: 'probes'; name: string; probes: number; at: number }
  | { event: 'backoff'; name: string; backoff: number; at: number }
  | { event: 'error'; name: string; code: string; at: number }
  | { event: 'close'; name: string; open: number; at: number }

/** write: send the text; flood: send `bytes` bytes at once (reported 'written' once all left). */
export type PeerCommand = { cmd: 'write'; name: string; data: string } | { cmd: 'flood'; name: string; bytes: number }

function emit(event: PeerEvent): void {
  process.stdout.write(`${JSON.stringify(event)}\n`)
}

/** Reports a socket's data (or discards it, or leaves it to a pipe), errors and close; keeps it in `sockets` while open. */
function watch(name: string, socket: net.Socket, sockets: Map<string, net.Socket>, data: 'report' | 'discard' | 'pipe' = 'report'): void {
  sockets.set(name, socket)
  if (data === 'report') {
    socket.setEncoding('utf8')
    socket.on('data', (text: string) => emit({ event: 'data', name, text, at: Date.now() }))
  }
  if (data === 'discard') socket.resume()
  socket.on('error', (error: NodeJS.ErrnoException) => emit({ event: 'error', name, code: error.code ?? error.message, at: Date.now() }))
  socket.on('close', () => {
    sockets.delete(name)
    emit({ event: 'close', name, open: sockets.size, at: Date.now() })
  })
}

/** The server's name for the connection from a client's local port. */
export function serverSideName(port: number, clientPort: number): string {
  return `${port}<-${clientPort}`
}

/**
 * Runs `task` once Date.now() has reached `startAt + delayMs`. A plain
 * setTimeout counts from the event loop's cached clock, which can be a few ms
 * behind Date.now(), so it may fire before the reported time plus the delay.
 */
function after(startAt: number, delayMs: number, task: () => void): void {
  const remaining = startAt + delayMs - Date.now()
  if (remaining <= 0) task()
  else setTimeout(() => after(startAt, delayMs, task), remaining)
}

async function serve(host: string, listeners: Listener[], sockets: Map<string, net.Socket>): Promise<void> {
  await Promise.all(
    listeners.map(
      ({ port, mode, delayMs = 0, keepalive }) =>
        new Promise<void>((resolve, reject) => {
          const server = net.createServer((socket) => {
            if (keepalive) configureKeepalive(socket, keepalive)
            const name = serverSideName(port, socket.remotePort!)
            watch(name, socket, sockets, mode === 'sink' ? 'discard' : 'report')
            const connectedAt = Date.now()
            emit({ event: 'connected', name, localPort: port, at: connectedAt })
            if (mode === 'push') after(connectedAt, delayMs, () => socket.write('push\n'))
            if (mode === 'reply') replyToLines(socket, delayMs)
            if (mode === 'close-idle') socket.setTimeout(delayMs, () => socket.end()) // data, never keepalive probes, resets it
          })
          server.once('error', reject)
          server.listen(port, host, resolve)
        }),
    ),
  )
}

/** 'ping' lines are answered at once with 'pong'; any other line with 'reply' delayMs after it arrived. */
function replyToLines(socket: net.Socket, delayMs: number): void {
  let pending = ''
  socket.on('data', (text: string) => {
    const lines = (pending + text).split('\n')
    pending = lines.pop()!
    for (const line of lines) {
      if (line === 'ping') socket.write('pong\n')
      else after(Date.now(), delayMs, () => socket.write('reply\n'))
    }
  })
}

async function connect(host: string, connections: Connection[], sockets: Map<string, net.Socket>): Promise<void> {
  const each = connections.flatMap(({ copies, ...connection }) =>
    copies === undefined
      ? [connection]
      : Array.from({ length: copies }, (_, i) => ({ ...connection, name: `${connection.name} #${i + 1}` })),
  )
  await Promise.all(
    each.map(async ({ name, port, keepalive, request, watchProbes, heartbeat }) => {
      const socket = net.connect(port, host)
      if (keepalive) configureKeepalive(socket, keepalive) // applied on connect
      watch(name, socket, sockets)
      await new Promise((resolve) => socket.once('connect', resolve))
      emit({ event: 'connected', name, localPort: socket.localPort!, at: Date.now() })
      if (request !== undefined) socket.write(request)
      if (watchProbes) watchProbeCount(name, socket)
      if (heartbeat) beat(socket, heartbeat)
    }),
  )
}

function watchProbeCount(name: string, socket: net.Socket): void {
  let [lastProbes, lastBackoff] = [0, 0]
  const timer = setInterval(() => {
    if (socket.destroyed) return clearInterval(timer)
    const { probes, backoff } = readTcpInfo(socket)
    if (probes !== null && probes !== lastProbes) emit({ event: 'probes', name, probes, at: Date.now() })
    if (backoff !== null && backoff !== lastBackoff) emit({ event: 'backoff', name, backoff, at: Date.now() })
    lastProbes = probes ?? lastProbes
    lastBackoff = backoff ?? lastBackoff
  }, 20)
}

/** The application heartbeat: a ping, and a deadline for anything to come back. */
function beat(socket: net.Socket, { intervalMs, deadlineMs }: { intervalMs: number; deadlineMs: number }): void {
  let lastData = Date.now()
  socket.on('data', () => (lastData = Date.now()))
  const deadlines = new Set<NodeJS.Timeout>()
  const timer = setInterval(() => {
    const sentAt = Date.now()
    socket.write('ping\n')
    const deadline = setTimeout(() => {
      deadlines.delete(deadline)
      if (lastData >= sentAt || socket.destroyed) return
      socket.destroy(Object.assign(new Error(`no answer to a heartbeat within ${deadlineMs} ms`), { code: 'HEARTBEAT_TIMEOUT' }))
    }, deadlineMs)
    deadlines.add(deadline)
  }, intervalMs)
  socket.once('close', () => {
    clearInterval(timer)
    for (const deadline of deadlines) clearTimeout(deadline)
  })
}

/** A plain TCP proxy: both directions piped, each side closed when the other closes. */
async function proxy(host: string, proxies: Proxy[], sockets: Map<string, net.Socket>): Promise<void> {
  await Promise.all(
    proxies.map(
      ({ port, upstream }) =>
        new Promise<void>((resolve, reject) => {
          const server = net.createServer((downstream) => {
            const name = serverSideName(port, downstream.remotePort!)
            watch(name, downstream, sockets, 'pipe') // read only once the upstream connection is up
            emit({ event: 'connected', name, localPort: port, at: Date.now() })
            const up = net.connect(upstream.port, upstream.host)
            watch(`upstream of ${name}`, up, sockets, 'pipe')
            up.once('connect', () => {
              emit({ event: 'connected', name: `upstream of ${name}`, localPort: up.localPort!, at: Date.now() })
              downstream.pipe(up)
              up.pipe(downstream)
            })
            downstream.once('close', () => up.destroy())
            up.once('close', () => downstream.destroy())
          })
          server.once('error', reject)
          server.listen(port, host, resolve)
        }),
    ),
  )
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2]) as PeerConfig
  const sockets = new Map<string, net.Socket>()
  if (config.role === 'server') await serve(config.host, config.listeners, sockets)
  else if (config.role === 'proxy') await proxy(config.host, config.proxies, sockets)
  else await connect(config.host, config.connections, sockets)
  emit({ event: 'ready', at: Date.now() })

  readline.createInterface({ input: process.stdin }).on('line', (line) => {
    const command = JSON.parse(line) as PeerCommand
    const socket = sockets.get(command.name)
    const data = command.cmd === 'flood' ? Buffer.alloc(command.bytes, 'x') : command.data
    socket?.write(data, () => emit({ event: 'written', name: command.name, at: Date.now() }))
  })
  process.stdin.on('end', () => process.exit(0)) // the lab closed our stdin: stop
}

if (require.main === module) {
  main().catch((error: Error) => {
    process.stderr.write(`${error.stack}\n`)
    process.exit(1)
  })
}
