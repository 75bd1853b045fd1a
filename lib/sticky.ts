// Keeps a socket's configured settings applied: once it connects, and again
// after every socket.setKeepAlive(true, ...), which Node's http.Agent (on each
// reuse), undici, pg and mysql2 call, and which makes libuv rewrite idle,
// interval 1 s and count 10. setKeepAlive(false) still turns keepalive off.
import type net from 'node:net'
import { types } from 'node:util'
import { nodeSetsIntervalAndCount } from './fallback.js'
import type { Settings } from './options.js'

interface SocketState {
  /** The union of every configureKeepalive call on this socket. */
  settings: Settings
  awaitingConnect: boolean
}

const states = new WeakMap<net.Socket, SocketState>()

/** The settings configured on `socket` so far, or an empty object. */
export function configuredSettings(socket: net.Socket): Settings {
  return states.get(socket)?.settings ?? {}
}

/** Writes settings to a socket; errors are the writer's to handle. */
export type Writer = (socket: net.Socket, settings: Settings) => void

/**
 * Records `settings` as what `socket` must hold. `write` puts them on the
 * socket on 'connect' (before any user listener) when `pending`, and after
 * each setKeepAlive call that enables keepalive.
 */
export function keepApplied(socket: net.Socket, settings: Settings, pending: boolean, write: Writer): void {
  let state = states.get(socket)
  if (state === undefined) {
    state = { settings, awaitingConnect: false }
    states.set(socket, state)
    wrapSetKeepAlive(socket, write)
  }
  state.settings = settings
  if (pending && !state.awaitingConnect) {
    const connecting = state
    connecting.awaitingConnect = true
    socket.prependOnceListener('connect', () => {
      connecting.awaitingConnect = false
      write(socket, connecting.settings)
    })
  }
}

/** Whether a setKeepAlive call turns keepalive on, read the way the running Node reads it. */
function enables(args: unknown[]): boolean {
  const [first] = args
  const takesOptions = nodeSetsIntervalAndCount && typeof first === 'object' && first !== null
  return Boolean(takesOptions ? (first as { enable?: unknown }).enable : first)
}

function wrapSetKeepAlive(socket: net.Socket, write: Writer): void {
  // http2's socket proxy refuses setKeepAlive and property writes, so nothing
  // can undo the settings through it, and nothing needs wrapping.
  if (types.isProxy(socket)) return
  const original = socket.setKeepAlive
  socket.setKeepAlive = function setKeepAlive(this: net.Socket, ...args: unknown[]) {
    const result = (original as (...args: unknown[]) => net.Socket).apply(this, args)
    const state = states.get(this)
    if (state && !state.awaitingConnect) {
      // Node skips setKeepAlive(false) when it believes keepalive is off, and
      // it never saw our writes: turn it off ourselves.
      write(this, enables(args) ? state.settings : { enable: false })
    }
    return result
  }
}
