// planKeepalive: from "the network forgets idle flows after T" and "find a dead
// peer within D" to idle, interval, count and userTimeout, with the reasoning.
import { invalidArgValue, keepaliveError, outOfRange } from './errors.js'

/** Middleboxes whose idle timeouts their vendors publish. */
export const IDLE_TIMEOUT_PRESETS = Object.freeze({
  'aws-nlb': { idleTimeout: 350_000, what: 'AWS Network Load Balancer (TCP idle timeout 350 s)' },
  'aws-nat-gateway': { idleTimeout: 350_000, what: 'AWS NAT Gateway (idle timeout 350 s)' },
  'azure-lb': { idleTimeout: 240_000, what: 'Azure Load Balancer (default TCP idle timeout 4 min)' },
  'azure-nat-gateway': { idleTimeout: 240_000, what: 'Azure NAT Gateway (default TCP idle timeout 4 min)' },
  'gcp-lb': { idleTimeout: 600_000, what: 'Google Cloud load balancers (connection tracking idle timeout 10 min)' },
} as const)
export type IdleTimeoutPreset = keyof typeof IDLE_TIMEOUT_PRESETS

export interface PlanRequest {
  /** The middlebox forgets a flow idle this long (ms). */
  idleTimeout?: number
  /** A dead peer must be found within this long (ms), idle or with data in flight. */
  detectWithin?: number
  /** Unanswered probes before giving up. Default 3: two lost probes are survived. */
  count?: number
}

/** Settings to pass to configureKeepalive (whole seconds: they read back exactly), and why. */
export interface KeepalivePlan {
  idle: number
  interval: number
  count: number
  userTimeout: number
  /** When a dead peer is found at the latest, idle or with data in flight (ms). */
  detection: number
  reasoning: string[]
}

const SECOND = 1_000
const MAX_SECONDS = 32_767
const seconds = (ms: number) => `${ms / SECOND} s`

/**
 * Plans keepalive settings:
 * - with an idle timeout T, the first probe goes out at T/2 and every probe of a
 *   lost sequence still before T: idle + interval x (count - 1) < T;
 * - with a detection bound D, idle + interval x count <= D;
 * - userTimeout = idle + interval x count: data in flight is given up on no
 *   later than an idle connection.
 * Times are whole seconds (what Linux and macOS hold), at least 1 s.
 */
export function planKeepalive(request: PlanRequest): KeepalivePlan {
  const { idleTimeout, detectWithin, count = 3 } = request
  for (const [name, value] of [
    ['idleTimeout', idleTimeout],
    ['detectWithin', detectWithin],
  ] as const) {
    if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value) || value < 2 * SECOND)) {
      throw outOfRange(`request.${name}`, '>= 2000 (ms)', value)
    }
  }
  if (!Number.isInteger(count) || count < 1 || count > 127) throw outOfRange('request.count', 'an integer >= 1 && <= 127', count)
  if (idleTimeout === undefined && detectWithin === undefined) {
    throw invalidArgValue('request', request, 'must give idleTimeout, detectWithin or both')
  }
  // Whole seconds from 1 s to the largest idle and interval every platform takes.
  const wholeSeconds = (ms: number) => Math.min(MAX_SECONDS, Math.max(1, Math.floor(ms / SECOND))) * SECOND
  const halves = [idleTimeout, detectWithin].filter((bound) => bound !== undefined).map((bound) => wholeSeconds(bound / 2))
  const idle = Math.min(...halves)
  const intervals: number[] = []
  // Every probe of a lost sequence before the middlebox forgets: idle + interval x (count - 1) < T.
  if (idleTimeout !== undefined) intervals.push(wholeSeconds((idleTimeout - idle - SECOND) / Math.max(1, count - 1)))
  if (detectWithin !== undefined) {
    const fits = Math.floor((detectWithin - idle) / count / SECOND) * SECOND
    if (fits < SECOND) {
      throw keepaliveError(
        'ERR_KEEPALIVE_PLAN',
        `cannot find a dead peer within ${seconds(detectWithin)} with ${count} probes at least 1 s apart after an idle of ${seconds(idle)}: lower the count or raise the bound`,
        RangeError,
      )
    }
    intervals.push(fits)
  }
  const interval = Math.min(...intervals)
  if (idleTimeout !== undefined && idle + interval * (count - 1) >= idleTimeout) {
    throw keepaliveError(
      'ERR_KEEPALIVE_PLAN',
      `cannot send ${count} probes at least 1 s apart before a middlebox forgets after ${seconds(idleTimeout)}: lower the count`,
      RangeError,
    )
  }
  const userTimeout = idle + interval * count

  const reasoning: string[] = []
  if (idleTimeout !== undefined) {
    reasoning.push(
      `The middlebox forgets a flow idle ${seconds(idleTimeout)}: the first probe goes out by half of that (idle ${seconds(idle)}), ` +
        `and should probes be lost the last of ${count} still goes out before it forgets ` +
        `(idle + interval x ${count - 1} = ${seconds(idle + interval * (count - 1))} < ${seconds(idleTimeout)}).`,
    )
  } else {
    reasoning.push(`No middlebox timeout given: the first probe goes out at half the detection bound (idle ${seconds(idle)}).`)
  }
  if (detectWithin !== undefined) {
    reasoning.push(
      `A dead peer is found within ${seconds(detectWithin)}: idle + interval x count = ${seconds(idle)} + ${seconds(interval)} x ${count} = ${seconds(userTimeout)}.`,
    )
  } else {
    reasoning.push(`A dead peer is found after idle + interval x count = ${seconds(userTimeout)}.`)
  }
  reasoning.push(
    `userTimeout ${seconds(userTimeout)} (= idle + interval x count): keepalive does not probe while data is in flight; ` +
      'TCP_USER_TIMEOUT gives such a connection up no later than an idle one.',
  )
  return { idle, interval, count, userTimeout, detection: userTimeout, reasoning }
}
