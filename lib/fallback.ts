// The fallback backend: Node's own socket.setKeepAlive, used where the native
// binding cannot be (no fd on Windows, binary failed to load, or forced).
import net = require('node:net')
import type { Backend } from './backend.js'
import type { FieldLimits, Limits } from './options.js'

/** The setKeepAlive the prototype holds at load (Node's own, or a wrapper another library put over it before). */
export const nodeSetKeepAlive = net.Socket.prototype.setKeepAlive as (
  this: net.Socket,
  enable: boolean,
  initialDelay?: number,
  interval?: number,
  count?: number,
) => net.Socket

/** Node's own method under wrappers that link to what they wrap, as shimmer's `__original` does. */
function innermost(method: unknown): { length: number } {
  let inner = method as { length: number; __original?: unknown }
  for (let depth = 0; depth < 100 && typeof inner.__original === 'function'; depth++) inner = inner.__original as typeof inner
  return inner
}

/** Node 24.19+ and 26.4+ take setKeepAlive(enable, initialDelay, interval, count) (or one options object). */
export const nodeSetsIntervalAndCount = innermost(nodeSetKeepAlive).length >= 4

/** The runtime whose setKeepAlive this is, as its users name it. */
export function runtimeName(): string {
  const { bun, deno } = process.versions as { bun?: string; deno?: string }
  return deno ? `Deno ${deno}` : bun ? `Bun ${bun}` : `Node ${process.version}`
}

/** Why interval and count cannot be set through this runtime's setKeepAlive(enable, delay). */
function intervalAndCountWhy(): string {
  // libuv writes interval 1 s and count 10 with every idle; Deno and Bun leave the system's values.
  if (process.versions.deno || process.versions.bun) return `${runtimeName()}'s setKeepAlive sets only the idle time`
  return `${runtimeName()}'s setKeepAlive forces interval 1 s and count 10 (Node 24.19+ and 26.4+ take them)`
}

// Node passes whole seconds (it truncates ms) and counts to libuv as C ints.
// The kernel's own bounds are unknown without the binding, and Node ignores
// the kernel's refusal, so readKeepalive reports nothing in this mode.
const SECONDS: FieldLimits = { min: 1, max: 2 ** 31 - 1, unitMs: 1000 }
const PROBES: FieldLimits = { min: 1, max: 2 ** 31 - 1, unitMs: 1 }

export function fallbackBackend(reason: string): Backend {
  const limits: Limits = nodeSetsIntervalAndCount ? { idle: SECONDS, interval: SECONDS, count: PROBES } : { idle: SECONDS }
  return {
    native: false,
    reason,
    limits,
    canRead: false,
    acceptedSocketsInherit: false, // there is no listening fd to configure
    writesAllFields: true,
    unsupported(settings) {
      const missing: ReturnType<Backend['unsupported']> = []
      if (settings.userTimeout !== undefined) {
        missing.push({ field: 'userTimeout', why: `${runtimeName().split(' ')[0]}'s setKeepAlive has no user timeout` })
      }
      for (const field of ['interval', 'count'] as const) {
        if (settings[field] === undefined) continue
        if (!nodeSetsIntervalAndCount) {
          missing.push({
            field,
            why: intervalAndCountWhy(),
          })
        } else if (settings.idle === undefined) {
          missing.push({ field, why: "Node's setKeepAlive applies interval and count only together with idle" })
        }
      }
      return missing
    },
    // Writes the socket's whole configured settings: Node cannot change one
    // field alone. idle 0 means "leave it" to Node; an idle without interval
    // and count makes libuv reset them to 1 s and 10.
    apply({ socket }, settings) {
      if (socket === null) throw new Error('unreachable: the fallback needs a socket')
      if (settings.enable === false) nodeSetKeepAlive.call(socket, false)
      else if (nodeSetsIntervalAndCount) nodeSetKeepAlive.call(socket, true, settings.idle ?? 0, settings.interval, settings.count)
      else nodeSetKeepAlive.call(socket, true, settings.idle ?? 0)
    },
    read: () => ({ enabled: null, idle: null, interval: null, count: null, userTimeout: null }),
  }
}
