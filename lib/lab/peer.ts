// A lab host's program: run inside a network namespace as
//   node peer.js '<json config>'
// It reports what happens as JSON lines on stdout (PeerEvent) and takes
// commands as JSON lines on stdin (PeerCommand). Times are Date.now().
import net from 'node:net'
import readline from 'node:readline'
import { configureKeepalive, type KeepaliveOptions, readTcpInfo } from '../index.js'

/** push: send a line delayMs after accepting; reply: answer each request delayMs later; hold: do nothing. */
export interface Listener {
  port: number
  mode: 'push' | 'reply' | 'hold'
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
  /** Report each change of TCP_INFO's unanswered-probe count (polled every 20 ms). */
  watchProbes?: boolean
}

export type PeerConfig =
  { role: 'server'; host: string; listeners: Listener[] } | { role: 'client'; host: string; connections: Connection[] }

export type PeerEvent =
  | { event: 'ready'; at: number }
  | { event: 'connected'; name: string; localPort: number; at: number }
  | { event: 'data'; name: string; text: string; at: number }
  | { event: 'written'; name: string; at: number }
  | { event: 'probes'; name: string; probes: number; at: number }
  | { event: 'error'; name: string; code: string; at: number }
  | { event: 'close'; name: string; open: number; at: number }

export type PeerCommand = { cmd: 'write'; name: string; data: string }

function emit(event: PeerEvent): void {
  process.stdout.write(`${JSON.stringify(event)}\n`)
}

/** Reports a socket's data, errors and close; returns the sockets still open. */
function watch(name: string, socket: net.Socket, sockets: Map<string, net.Socket>): void {
  sockets.set(name, socket)
  socket.setEncoding('utf8')
  socket.on('data', (text: string) => emit({ event: 'data', name, text, at: Date.now() }))
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
            watch(name, socket, sockets)
            const connectedAt = Date.now()
            emit({ event: 'connected', name, localPort: port, at: connectedAt })
            if (mode === 'push') after(connectedAt, delayMs, () => socket.write('push\n'))
            if (mode === 'reply') socket.on('data', () => after(Date.now(), delayMs, () => socket.write('reply\n')))
          })
          server.once('error', reject)
          server.listen(port, host, resolve)
        }),
    ),
  )
}

async function connect(host: string, connections: Connection[], sockets: Map<string, net.Socket>): Promise<void> {
  await Promise.all(
    connections.map(async ({ name, port, keepalive, request, watchProbes }) => {
      const socket = net.connect(port, host)
      if (keepalive) configureKeepalive(socket, keepalive) // applied on connect
      watch(name, socket, sockets)
      await new Promise((resolve) => socket.once('connect', resolve))
      emit({ event: 'connected', name, localPort: socket.localPort!, at: Date.now() })
      if (request !== undefined) socket.write(request)
      if (watchProbes) watchProbeCount(name, socket)
    }),
  )
}

function watchProbeCount(name: string, socket: net.Socket): void {
  let last = 0
  const timer = setInterval(() => {
    if (socket.destroyed) return clearInterval(timer)
    const { probes } = readTcpInfo(socket)
    if (probes !== null && probes !== last) emit({ event: 'probes', name, probes, at: Date.now() })
    last = probes ?? last
  }, 20)
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2]) as PeerConfig
  const sockets = new Map<string, net.Socket>()
  if (config.role === 'server') await serve(config.host, config.listeners, sockets)
  else await connect(config.host, config.connections, sockets)
  emit({ event: 'ready', at: Date.now() })

  readline.createInterface({ input: process.stdin }).on('line', (line) => {
    const command = JSON.parse(line) as PeerCommand
    const socket = sockets.get(command.name)
    socket?.write(command.data, () => emit({ event: 'written', name: command.name, at: Date.now() }))
  })
  process.stdin.on('end', () => process.exit(0)) // the lab closed our stdin: stop
}

if (require.main === module) {
  main().catch((error: Error) => {
    process.stderr.write(`${error.stack}\n`)
    process.exit(1)
  })
}
