// How long the kernel takes to drop a connection to a dead peer that was
// idle, from the keepalive settings (Linux's tcp_keepalive_timer): probes go
// out at idle, idle + interval, idle + 2 × interval, ... and the connection
// is dropped at the first probe tick k where
//   - userTimeout = 0:  k = count, or
//   - userTimeout = U:  k >= 1 and idle + k × interval >= U (count is ignored).
import type { KeepaliveState } from './backend.js'

/** ms from the last packet to the error, or null when keepalive is off or a value is unknown. */
export function deadPeerDetectionMs(state: KeepaliveState): number | null {
  const { enabled, idle, interval, count, userTimeout } = state
  if (!enabled || idle === null || interval === null || count === null) return null
  if (!userTimeout) return idle + interval * count
  const ticks = Math.max(1, Math.ceil((userTimeout - idle) / interval))
  return idle + ticks * interval
}
