// Keeps a socket's configured settings applied: once it connects, and again
// after every socket.setKeepAlive(true, ...), which Node's http.Agent (on each
// reuse), undici, pg and mysql2 call, and which makes libuv rewrite idle,
// interval 1 s and count 10. setKeepAlive(false) still turns keepalive off.
//
// One wrapper on net.Socket.prototype, installed by the first configured
// socket, rather than one per socket: a closure per socket costs on the
// accept path. Sockets never configured pay one property lookup per
// setKeepAlive call.
import net from 'node:net'
import { nodeSetKeepAlive, nodeSetsIntervalAndCount } from './fallback.js'
import { noSettings, overlay, type Settings } from './options.js'
import { isUnbound, type ResolvedTarget } from './target.js'

/** A configured socket: what it must hold, and where it is. */
export interface SocketState extends ResolvedTarget {
  /** The union of every configureKeepalive call on this socket. */
  settings: Settings
  awaitingConnect: boolean
  /** setKeepAlive(false) came after the last configure, while connecting: connect turns keepalive off. */
  offAtConnect: boolean
}

// The state lives on the socket under a symbol: on a fresh accepted socket a
// property costs ~60 ns where a WeakMap entry costs ~400 ns. (http2's socket
// proxy forwards it to the real socket.) A socket that takes no new property
// (Object.preventExtensions) gets a WeakMap entry instead.
const STATE = Symbol('tcp-keepalive')
let inextensible: WeakMap<object, SocketState> | null = null

type WithState = net.Socket & { [STATE]?: SocketState }

/** The state of a socket configured before, or undefined (also for an http2 socket whose session is gone). */
export function stateOf(socket: net.Socket): SocketState | undefined {
  try {
    return (socket as WithState)[STATE] ?? inextensible?.get(socket)
  } catch (error) {
    if (isUnbound(error)) return undefined // socketTarget reports it as closed
    throw error
  }
}

function attach(socket: net.Socket, state: SocketState): void {
  if (Object.isExtensible(socket)) (socket as WithState)[STATE] = state
  else (inextensible ??= new WeakMap()).set(socket, state)
}

/** Writes settings to a socket (whose state is given); errors are the writer's to handle. */
export type Writer = (socket: net.Socket, settings: Settings, state: SocketState) => void

let write: Writer = () => {
  throw new Error('unreachable: keepalive.ts registers the writer at load')
}

/** Sets how settings are written outside a configure call (the core registers it once). */
export function setWriter(writer: Writer): void {
  write = writer
}

let installed = false

/**
 * Records `settings` (the fields a call just wrote) into what `socket` must
 * hold (`known`: its state, if it has one already): everything configured is written on 'connect' (before any user
 * listener) when `pending`, and after each setKeepAlive call that enables keepalive.
 */
export function keepApplied(socket: net.Socket, known: SocketState | undefined, settings: Settings, pending: boolean): void {
  if (!installed) {
    installed = true
    net.Socket.prototype.setKeepAlive = stickySetKeepAlive
  }
  let state = known
  if (state === undefined) {
    state = { settings: noSettings(), awaitingConnect: false, offAtConnect: false, handle: null, target: null }
    attach(socket, state)
  }
  overlay(state.settings, settings)
  state.offAtConnect = false
  if (pending && !state.awaitingConnect) {
    const connecting = state
    connecting.awaitingConnect = true
    socket.prependOnceListener('connect', () => {
      connecting.awaitingConnect = false
      write(socket, connecting.offAtConnect ? DISABLE : connecting.settings, connecting)
    })
  }
}

/** Whether a setKeepAlive call turns keepalive on, read the way the running Node reads it. */
function enables(args: unknown[]): boolean {
  const [first] = args
  const takesOptions = nodeSetsIntervalAndCount && typeof first === 'object' && first !== null
  return Boolean(takesOptions ? (first as { enable?: unknown }).enable : first)
}

const DISABLE: Settings = { ...noSettings(), enable: false }

/**
 * The configured socket a setKeepAlive call acts on: this one, or the one a
 * TLSSocket wraps (tls.connect({ socket }), new tls.TLSSocket(socket)): both
 * share one fd, and the wrapped one was configured.
 */
function configuredOf(socket: net.Socket): { socket: net.Socket; state: SocketState } | undefined {
  const state = stateOf(socket)
  if (state !== undefined) return { socket, state }
  const parent = (socket as { _parent?: unknown })._parent
  if (!(parent instanceof net.Socket)) return undefined
  const parentState = stateOf(parent)
  return parentState && { socket: parent, state: parentState }
}

function stickySetKeepAlive(this: net.Socket, ...args: unknown[]): net.Socket {
  const result = (nodeSetKeepAlive as (...args: unknown[]) => net.Socket).apply(this, args)
  const configured = configuredOf(this)
  if (configured === undefined) return result
  const { socket, state } = configured
  if (state.awaitingConnect) {
    // Node applies its own call at connect, and then the connect listener writes: say what to write.
    state.offAtConnect = !enables(args)
  } else {
    // Node skips setKeepAlive(false) when it believes keepalive is off, and
    // it never saw our writes: turn it off ourselves.
    write(socket, enables(args) ? state.settings : DISABLE, state)
  }
  return result
}
