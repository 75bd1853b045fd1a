// What a configured socket must hold, and who asked for it; and keeping it
// applied: once it connects, and again after every socket.setKeepAlive(true,
// ...), which Node's http.Agent (on each reuse), undici, pg and mysql2 call,
// and which makes libuv rewrite idle, interval 1 s and count 10.
// setKeepAlive(false) still turns keepalive off.
//
// Precedence, one rule whatever the order of calls: a field is taken from the
// most specific layer that sets it. The socket's own configureKeepalive wins
// over an integration made for its server, agent or connector
// (keepaliveServer, keepaliveAgent, keepaliveConnector), which wins over the
// process-wide rules (keepaliveProcess, the preload).
//
// One wrapper on net.Socket.prototype.setKeepAlive, installed by the first
// configured socket, rather than one per socket: a closure per socket costs on
// the accept path. Sockets never configured pay one property lookup per
// setKeepAlive call.
import net = require('node:net')
import { isProxy } from 'node:util/types'
import { nodeSetsIntervalAndCount } from './fallback.js'
import { sharedHook } from './hook.js'
import { copied, merged, noSettings, overlay, type Settings } from './options.js'
import { isUnbound } from './target.js'
import { survived } from './warn.js'

/** Who set a field. A higher layer is more specific: it wins. */
export const PROCESS = 0
export const INTEGRATION = 1
export const OWN = 2
export type Layer = typeof PROCESS | typeof INTEGRATION | typeof OWN

/** A configured socket: what it must hold, and where it is. */
export interface SocketState {
  /** What each layer set on this socket, indexed by Layer (the shared NOTHING until a layer sets a field). */
  layers: [Readonly<Settings>, Readonly<Settings>, Readonly<Settings>]
  awaitingConnect: boolean
  /** setKeepAlive(false) came after the last configure, while connecting: connect turns keepalive off. */
  offAtConnect: boolean
  /** Decides the process-wide rules' settings when the socket connects (set by keepaliveProcess), or null. */
  atConnect: ((socket: net.Socket, state: SocketState) => void) | null
  /** The socket turned out not to take TCP_USER_TIMEOUT (Multipath TCP): the field is left out of every write. */
  lacksUserTimeout: boolean
}

// The state lives on the socket under a symbol, non-enumerable: util.inspect
// and console.log of a program's sockets, Object.keys and spreads show nothing
// of ours. On a fresh socket a property costs ~60 ns where a WeakMap entry
// made every configured connection several times costlier (measured with
// bench/first-call.mjs and bench/process.mjs). http2's socket proxy forwards
// reads to the real socket, and the state is defined on that one. A socket
// that takes no new property (Object.preventExtensions) gets a WeakMap entry.
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

/** Node's owner_symbol, by which a handle names its socket; found on the first proxy met. */
let ownerSymbol: symbol | undefined

/** The socket an http2 socket proxy stands for: the one its handle names. */
function behindProxy(proxy: net.Socket): object | undefined {
  const handle = (proxy as { _handle?: object | null })._handle
  if (handle == null) return undefined
  ownerSymbol ??= Object.getOwnPropertySymbols(handle).find((key) => key.description === 'owner_symbol')
  return ownerSymbol === undefined ? undefined : (handle as Record<symbol, object | undefined>)[ownerSymbol]
}

/** Defines `key` on `owner` as a property that util.inspect, Object.keys and spreads do not show. */
function hide(owner: object, key: symbol, value: unknown): void {
  Object.defineProperty(owner, key, { value, writable: true, configurable: true, enumerable: false })
}

/** A layer that set nothing: shared by every state until the layer sets a field (one object fewer per socket each). */
const NOTHING: Readonly<Settings> = Object.freeze(noSettings())

/** The socket's state, made (empty) if it has none. */
export function stateFor(socket: net.Socket, known = stateOf(socket)): SocketState {
  if (known !== undefined) return known
  const state: SocketState = {
    layers: [NOTHING, NOTHING, NOTHING],
    awaitingConnect: false,
    offAtConnect: false,
    atConnect: null,
    lacksUserTimeout: false,
  }
  const owner = (isProxy(socket) && behindProxy(socket)) || socket
  if (Object.isExtensible(owner)) hide(owner, STATE, state)
  else (inextensible ??= new WeakMap()).set(socket, state)
  return state
}

/** Everything the socket must hold: each field from the most specific layer that sets it. */
export function effective(state: SocketState): Readonly<Settings> {
  const [process, integration, own] = state.layers
  // Only the process-wide rules set anything (the common case): their layer is the answer, no copy.
  if (integration === NOTHING && own === NOTHING && !state.lacksUserTimeout) return process
  const settings = overlay(overlay(overlay(noSettings(), process), integration), own)
  if (state.lacksUserTimeout) settings.userTimeout = undefined
  return settings
}

/** The fields of `settings`, set by `layer`, that no more specific layer of `state` overrides: what to write now. */
export function winning(state: SocketState | undefined, layer: Layer, settings: Readonly<Settings>): Readonly<Settings> {
  if (state === undefined || layer === OWN) return settings
  if (state.layers[INTEGRATION] === NOTHING && state.layers[OWN] === NOTHING) return settings // nothing above: all of them
  const shown = copied(settings)
  for (let above = layer + 1; above <= OWN; above++) {
    const higher = state.layers[above]
    if (higher.enable !== undefined) shown.enable = undefined
    if (higher.idle !== undefined) shown.idle = undefined
    if (higher.interval !== undefined) shown.interval = undefined
    if (higher.count !== undefined) shown.count = undefined
    if (higher.userTimeout !== undefined) shown.userTimeout = undefined
  }
  return shown
}

/** Whether any field is set. */
export function isEmpty(settings: Settings): boolean {
  return (
    settings.enable === undefined &&
    settings.idle === undefined &&
    settings.interval === undefined &&
    settings.count === undefined &&
    settings.userTimeout === undefined
  )
}

/** Writes settings to a socket (whose state is given) outside a configure call; failures are the writer's to handle. */
export type Writer = (socket: net.Socket, settings: Readonly<Settings>, state: SocketState) => void

let write: Writer = () => {
  throw new Error('unreachable: keepalive.ts registers the writer at load')
}

/** Sets how settings are written outside a configure call (the core registers it once). */
export function setWriter(writer: Writer): void {
  write = writer
}

/**
 * Records `settings` as what `layer` set on `socket` (the fields a call just
 * wrote, or will write on connect when `pending`). From then on every field
 * is written on 'connect' (before any user listener) and again after each
 * setKeepAlive call that enables keepalive.
 */
export function record(socket: net.Socket, state: SocketState, layer: Layer, settings: Settings, pending: boolean): void {
  stickyHook.install()
  // A copy: a layer may be shared (NOTHING, or the settings a listening socket gave every socket it accepted).
  state.layers[layer] = merged(state.layers[layer], settings)
  state.offAtConnect = false
  if (pending) awaitConnect(socket, state)
}

/** Whether two settings set the same fields to the same values. */
export function sameSettings(a: Settings, b: Settings): boolean {
  return a.enable === b.enable && a.idle === b.idle && a.interval === b.interval && a.count === b.count && a.userTimeout === b.userTimeout
}

/**
 * Records `settings` (shared, never changed) as what `layer` set on a socket
 * nothing configured before, which holds them already (inherited from its
 * listening socket). No copy, no system call. False when the socket has a state.
 */
export function adoptFresh(socket: net.Socket, layer: Layer, settings: Readonly<Settings>): boolean {
  if (stateOf(socket) !== undefined) return false
  stickyHook.install()
  stateFor(socket, undefined).layers[layer] = settings
  return true
}

/**
 * Replaces what `layer` set on the socket (the process-wide rules decide
 * anew for each connection a socket makes); written by the caller.
 */
export function setLayer(state: SocketState, layer: Layer, settings: Readonly<Settings>): void {
  stickyHook.install()
  state.layers[layer] = settings
}

/**
 * Makes sure the socket writes what it must hold when it connects, before any
 * user 'connect' listener: one listener per socket, whatever the number of
 * calls, rules or connect attempts.
 */
export function awaitConnect(socket: net.Socket, state: SocketState): void {
  if (state.awaitingConnect) return
  state.awaitingConnect = true
  // One function for every socket, not a once-wrapped closure per socket (that costs on each outgoing connection).
  socket.prependListener('connect', onConnect)
}

function onConnect(this: net.Socket): void {
  try {
    this.removeListener('connect', onConnect)
    const state = stateOf(this)
    if (state === undefined) return
    state.awaitingConnect = false
    const decide = state.atConnect
    state.atConnect = null
    decide?.(this, state)
    // Everything configured, also when setKeepAlive(false) came while connecting (then with keepalive
    // off): a later setKeepAlive(true) then needs only what Node's write changes put back.
    let settings = effective(state)
    if (state.offAtConnect) settings = merged(settings, DISABLE)
    if (!isEmpty(settings)) write(this, settings, state)
  } catch (error) {
    survived("tcp-keepalive's 'connect' listener", error)
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

/**
 * Node's own record of the last setKeepAlive it applied (kSetKeepAlive,
 * kSetKeepAliveInitialDelay, and on 24.19+ interval and count), by which it
 * skips a call that changes nothing. Found on the first socket that calls it;
 * empty where the runtime keeps none (Bun, Deno): then every call is taken as written.
 */
let nodeRecord: symbol[] | null = null

/** Node's kSetKeepAlive, looked for on the first socket asked about; null where the runtime keeps none. */
let kSetKeepAlive: symbol | null | undefined

/**
 * Whether Node turned keepalive on for this socket (its setKeepAlive, or a
 * server's keepAlive option): then libuv wrote its own idle, interval and count.
 */
export function nodeEnabledKeepalive(socket: net.Socket): boolean {
  kSetKeepAlive ??= Object.getOwnPropertySymbols(socket).find((key) => key.description === 'kSetKeepAlive') ?? null
  return kSetKeepAlive !== null && (socket as unknown as Record<symbol, unknown>)[kSetKeepAlive] === true
}

function recordOf(socket: object): symbol[] {
  return Object.getOwnPropertySymbols(socket).filter((key) => key.description?.startsWith('kSetKeepAlive'))
}

function snapshot(socket: object, keys: symbol[]): unknown[] {
  return keys.map((key) => (socket as Record<symbol, unknown>)[key])
}

/** Configured idle, interval and count: what libuv's write of a setKeepAlive(true, ...) changed. */
function rewrittenByNode(settings: Settings): Settings {
  return { enable: undefined, idle: settings.idle, interval: settings.interval, count: settings.count, userTimeout: undefined }
}

// On top of whatever setKeepAlive is there when the first socket is configured
// (an APM agent's wrapper keeps seeing every call), and never removed: the
// sockets configured so far stay sticky for their lives. Only what Node's call
// changed is written back: nothing when Node skipped it (http.Agent repeats the
// same call on every reuse of a pooled socket), and never the user timeout,
// which Node does not touch.
const stickyHook = sharedHook(net.Socket.prototype, 'setKeepAlive', (self, inner, args) => {
  const socket = self as net.Socket
  let configured: ReturnType<typeof configuredOf>
  let before: unknown[] = []
  try {
    configured = configuredOf(socket)
    if (configured !== undefined) before = snapshot(socket, nodeRecord ?? recordOf(socket))
  } catch (error) {
    survived("tcp-keepalive's setKeepAlive wrapper", error)
    configured = undefined
  }
  if (configured === undefined) return inner.apply(socket, args)
  const result = inner.apply(socket, args)
  try {
    afterSetKeepAlive(socket, configured, args, before)
  } catch (error) {
    survived("tcp-keepalive's setKeepAlive wrapper", error)
  }
  return result
})

/** Puts back, after Node's setKeepAlive call, what Node's write changed on a configured socket. */
function afterSetKeepAlive(
  socket: net.Socket,
  configured: { socket: net.Socket; state: SocketState },
  args: unknown[],
  before: unknown[],
): void {
  nodeRecord ??= recordOf(socket) // Node 24.19+ adds interval and count to it at the first call
  const { state } = configured
  const on = enables(args)
  if (state.awaitingConnect) {
    // Node applies its own call at connect, and then the connect listener writes: say what to write.
    state.offAtConnect = !on
    return
  }
  const after = snapshot(socket, nodeRecord)
  const nodeWrote = nodeRecord.length === 0 || nodeRecord.length !== before.length || after.some((value, i) => value !== before[i])
  let settings: Settings
  if (!on) {
    // Node skips setKeepAlive(false) when it believes keepalive is off, and
    // it never saw our writes: turn it off ourselves.
    if (nodeWrote) return
    settings = DISABLE
  } else {
    if (!nodeWrote) return // the kernel holds what it held: ours
    const wanted = effective(state)
    settings = wanted.enable === false ? DISABLE : rewrittenByNode(wanted)
  }
  if (!isEmpty(settings)) write(configured.socket, settings, state)
}
