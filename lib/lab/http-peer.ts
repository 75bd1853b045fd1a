// A lab host's HTTP program, for the HTTP scenarios: run inside a network namespace as
//   node http-peer.js '<json config>'
// Node http servers configured as a user would, or HTTP clients (http.Agent, undici) sending
// POSTs one after another at given idle gaps. It reports what happens as JSON lines on stdout
// (HttpPeerEvent). Times are Date.now(): every namespace shares the machine's clock.
import { once } from 'node:events'
import http from 'node:http'
import net from 'node:net'
import { keepaliveServer } from '../index.js'

export interface HttpServerConfig {
  port: number
  /** The handler answers this long after the request has arrived (default at once). */
  delayMs?: number
  /** Set on the server as a user would, before anything else (undefined: Node's default). */
  keepAliveTimeout?: number
  headersTimeout?: number
  /** keepaliveServer(server, these), after the timeouts above: whatever options it takes, but a function. */
  keepaliveServer?: Exclude<Parameters<typeof keepaliveServer>[1], (...args: never[]) => unknown>
}

/** How a lane's client pools connections: http.Agent (no options: a new connection per request) or an undici Pool. */
export type HttpClientKind = { kind: 'agent'; options?: http.AgentOptions } | { kind: 'undici'; options?: Record<string, unknown> }

/**
 * One client sending POSTs to `url` one after another: a first one, then one after each gap
 * (counted from the end of the previous answer). A request with no answer within timeoutMs fails
 * with NO_ANSWER.
 */
export interface HttpLane {
  name: string
  url: string
  client: HttpClientKind
  gapsMs: number[]
  timeoutMs: number
}

export type HttpPeerConfig = { role: 'server'; host: string; servers: HttpServerConfig[] } | { role: 'client'; lanes: HttpLane[] }

export type HttpPeerEvent =
  /** closesIdleAfterMs: when the server closes an idle kept-alive connection (keepAliveTimeout, plus Node's buffer). */
  | { event: 'ready'; servers: Array<{ port: number; keepAliveTimeout: number; headersTimeout: number; closesIdleAfterMs: number }> }
  | { event: 'connection'; port: number; at: number }
  | { event: 'request'; port: number; at: number }
  /** The server answered; its socket then failed (e.g. ECONNRESET: a middlebox's RST answered the answer). */
  | { event: 'answered'; port: number; at: number }
  | { event: 'server-error'; port: number; code: string; at: number }
  /** An idle kept-alive connection the server closed, idleMs after its last answer was written. */
  | { event: 'idle-close'; port: number; idleMs: number }
  /** i = 0 is the first request; gapMs is null for it. reused: sent on a connection that had served one before. */
  | {
      event: 'result'
      lane: string
      i: number
      gapMs: number | null
      reused: boolean
      status: number | null
      error: { code: string; message: string } | null
      sentAt: number
      at: number
    }
  | { event: 'done'; lane: string }

function emit(event: HttpPeerEvent): void {
  process.stdout.write(`${JSON.stringify(event)}\n`)
}

/**
 * How much later than keepAliveTimeout a Node server closes an idle connection. Node 22+ says
 * (server.keepAliveTimeoutBuffer, 1 s); Node 20.20 adds the same 1 s without saying: measured
 * there once, on loopback, with keepAliveTimeout 1 ms (rounded to 100 ms: jitter is not part of it).
 */
async function keepAliveTimeoutBuffer(): Promise<number> {
  const probe = http.createServer((_request, response) => response.end())
  const told = (probe as { keepAliveTimeoutBuffer?: number }).keepAliveTimeoutBuffer
  if (told !== undefined) return told
  probe.keepAliveTimeout = 1
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const socket = net.connect((probe.address() as net.AddressInfo).port, '127.0.0.1')
  socket.write('GET / HTTP/1.1\r\nHost: probe\r\n\r\n')
  await once(socket, 'data')
  const answered = Date.now()
  socket.resume()
  await once(socket, 'end')
  const closedAfterMs = Date.now() - answered
  socket.destroy()
  probe.close()
  return Math.max(0, Math.round((closedAfterMs - probe.keepAliveTimeout) / 100) * 100)
}

async function serve(host: string, configs: HttpServerConfig[]): Promise<void> {
  const buffer = await keepAliveTimeoutBuffer()
  const ready = await Promise.all(
    configs.map(async (config) => {
      const { port, delayMs = 0 } = config
      /** Per connection: when its last answer was written, and whether a request is in progress. */
      const state = new WeakMap<net.Socket, { lastAnswer?: number; busy: boolean }>()
      const server = http.createServer((request, response) => {
        emit({ event: 'request', port, at: Date.now() })
        const connection = state.get(request.socket)!
        connection.busy = true
        response.on('finish', () => Object.assign(connection, { lastAnswer: Date.now(), busy: false }))
        request.resume()
        request.on('end', () =>
          setTimeout(() => response.end('answer\n', () => emit({ event: 'answered', port, at: Date.now() })), delayMs),
        )
      })
      if (config.keepAliveTimeout !== undefined) server.keepAliveTimeout = config.keepAliveTimeout
      if (config.headersTimeout !== undefined) server.headersTimeout = config.headersTimeout
      if (config.keepaliveServer) keepaliveServer(server, config.keepaliveServer)
      server.on('connection', (socket: net.Socket) => {
        emit({ event: 'connection', port, at: Date.now() })
        const connection = { busy: false } as { lastAnswer?: number; busy: boolean }
        state.set(socket, connection)
        socket.on('close', () => {
          const { lastAnswer, busy } = connection
          if (lastAnswer !== undefined && !busy) emit({ event: 'idle-close', port, idleMs: Date.now() - lastAnswer })
        })
      })
      server.on('clientError', (error: NodeJS.ErrnoException, socket: net.Socket) => {
        emit({ event: 'server-error', port, code: error.code ?? error.message, at: Date.now() })
        socket.destroy()
      })
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(port, host, resolve)
      })
      const { keepAliveTimeout, headersTimeout } = server
      return { port, keepAliveTimeout, headersTimeout, closesIdleAfterMs: keepAliveTimeout + buffer }
    }),
  )
  emit({ event: 'ready', servers: ready })
}

/** Sends one POST; resolves with its status or error, and whether it went out on a connection used before. */
type Send = () => Promise<{ status: number | null; error: { code: string; message: string } | null; reused: boolean }>

function agentClient(url: string, options: http.AgentOptions | undefined, timeoutMs: number): Send {
  const agent = options ? new http.Agent({ maxSockets: 1, ...options }) : false
  return () =>
    new Promise((resolve) => {
      const request = http.request(url, { method: 'POST', agent, headers: { 'content-length': 5 } })
      const timer = setTimeout(() => request.destroy(Object.assign(new Error('no answer'), { code: 'NO_ANSWER' })), timeoutMs)
      const settle = (result: Awaited<ReturnType<Send>>) => {
        clearTimeout(timer)
        resolve(result)
      }
      request.on('response', (response) => {
        response.resume()
        response.on('end', () => settle({ status: response.statusCode ?? null, error: null, reused: request.reusedSocket }))
      })
      request.on('error', (error: NodeJS.ErrnoException) =>
        settle({ status: null, error: { code: error.code ?? 'ERROR', message: error.message }, reused: request.reusedSocket }),
      )
      request.end('ping\n')
    })
}

function undiciClient(url: string, options: Record<string, unknown> | undefined, timeoutMs: number): Send {
  const undici = require('undici') as typeof import('undici') // the scenario runs these lanes only where it resolves
  let connections = 0
  const connect = undici.buildConnector({})
  const origin = new URL(url)
  const pool = new undici.Pool(origin.origin, {
    connections: 1,
    ...options,
    connect: (connectOptions, callback) => {
      connections++
      return connect(connectOptions, callback)
    },
  })
  return async () => {
    const before = connections
    try {
      const { statusCode, body } = await pool.request({
        path: origin.pathname,
        method: 'POST',
        body: 'ping\n',
        signal: AbortSignal.timeout(timeoutMs),
      })
      await body.text()
      return { status: statusCode, error: null, reused: connections === before }
    } catch (caught) {
      const error = caught as NodeJS.ErrnoException
      const code = error.name === 'TimeoutError' ? 'NO_ANSWER' : (error.code ?? error.name)
      return { status: null, error: { code, message: error.message }, reused: connections === before }
    }
  }
}

async function runLane({ name, url, client, gapsMs, timeoutMs }: HttpLane): Promise<void> {
  const send = client.kind === 'agent' ? agentClient(url, client.options, timeoutMs) : undiciClient(url, client.options, timeoutMs)
  for (let i = 0; i <= gapsMs.length; i++) {
    const gapMs = i === 0 ? null : gapsMs[i - 1]
    if (gapMs !== null) await new Promise((resolve) => setTimeout(resolve, gapMs))
    const sentAt = Date.now()
    const result = await send()
    emit({ event: 'result', lane: name, i, gapMs, ...result, sentAt, at: Date.now() })
  }
  emit({ event: 'done', lane: name })
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2]) as HttpPeerConfig
  if (config.role === 'server') return serve(config.host, config.servers)
  emit({ event: 'ready', servers: [] })
  await Promise.all(config.lanes.map(runLane))
}

if (require.main === module) {
  main().catch((error: Error) => {
    process.stderr.write(`${error.stack}\n`)
    process.exit(1)
  })
}
