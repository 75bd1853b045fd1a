// What every way of applying keepalive settings provides. Two exist: the
// native binding (native.ts) and Node's own setKeepAlive (fallback.ts).
import type net = require('node:net')
import type { Field, Limits, Settings } from './options.js'

/** Values the kernel holds: ms, or probes for count; `null` where this platform or mode cannot tell. */
export interface KeepaliveState {
  enabled: boolean | null
  idle: number | null
  interval: number | null
  count: number | null
  userTimeout: number | null
}

/**
 * Linux TCP_INFO, as readTcpInfo returns it. Times in ms. A field is null
 * where the kernel did not fill it (an older kernel's shorter struct).
 */
export interface TcpInfo {
  /** 'ESTABLISHED', 'CLOSE_WAIT', ... */
  state: string | null
  /** Keepalive (or zero-window) probes sent and not answered yet. */
  probes: number | null
  /** Backoff exponent of the retransmission or probe timer. */
  backoff: number | null
  /** Retransmissions of the data not acknowledged yet. */
  retransmits: number | null
  /** Retransmissions over the connection's life. */
  totalRetransmits: number | null
  /** Smoothed round-trip time. */
  rtt: number | null
  rttVariance: number | null
  lastDataSent: number | null
  lastDataReceived: number | null
  lastAckReceived: number | null
}

/** A socket with its fd (-1 where Node does not expose one), or a bare fd. */
export interface Target {
  socket: net.Socket | null
  fd: number
  /** The fd is known to be a TCP socket (Node's TCP handle); otherwise the native layer checks. */
  knownTcp: boolean
  /** For a socket whose fd (-1) the runtime does not expose: why the lookup by its addresses found none. */
  unfound?: string
}

export interface Backend {
  readonly native: boolean
  /** Why the native binding is not in use, or null. */
  readonly reason: string | null
  /** Fields that can be set at all, with their bounds. */
  readonly limits: Limits
  /** Whether readKeepalive can report kernel values. */
  readonly canRead: boolean
  /** Whether sockets accepted by a configured listening socket inherit its settings. */
  readonly acceptedSocketsInherit: boolean
  /** Whether apply must be given every configured field, not only the new ones (Node's setKeepAlive sets them together). */
  readonly writesAllFields: boolean
  /** The fields of `settings` this backend cannot apply, with why. */
  unsupported(settings: Settings): Array<{ field: Field; why: string }>
  /** Writes the defined fields of `settings` (all supported); throws a system error on failure. */
  apply(target: Target, settings: Settings): void
  read(target: Target): KeepaliveState
  /** Linux TCP_INFO; absent where it cannot be read. */
  readTcpInfo?(target: Target): TcpInfo
}
