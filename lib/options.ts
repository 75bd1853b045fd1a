// Validation of user options and the one conversion of units: milliseconds in,
// rounded up to what the platform can hold.
import { incompatibleOptions, invalidArgType, invalidArgValue, outOfRange } from './errors.js'

/** Options of {@link configureKeepalive}. Times are milliseconds, like Node's. */
export interface KeepaliveOptions {
  /** Turn keepalive on or off. Default `true`. `false` cannot be combined with `idle`, `interval` or `count`. */
  enable?: boolean
  /** Silence before the first probe, in ms (`TCP_KEEPIDLE`; `TCP_KEEPALIVE` on macOS). Rounded up to whole seconds. */
  idle?: number
  /** Time between unanswered probes, in ms (`TCP_KEEPINTVL`). Rounded up to whole seconds. */
  interval?: number
  /** Unanswered probes before the kernel drops the connection (`TCP_KEEPCNT`). */
  count?: number
  /** How long sent data may stay unacknowledged before the connection is dropped, in ms (`TCP_USER_TIMEOUT`); `0` restores the kernel default. */
  userTimeout?: number
  /** Throw `ERR_KEEPALIVE_UNSUPPORTED` instead of warning when a field cannot be applied here. Default `false`. */
  strict?: boolean
}

/** The kernel-level fields, in the order the native layer uses. */
export const FIELDS = ['enable', 'idle', 'interval', 'count', 'userTimeout'] as const
export type Field = (typeof FIELDS)[number]
export type TimingField = 'idle' | 'interval' | 'count'
const TIMING_FIELDS: readonly TimingField[] = ['idle', 'interval', 'count']

/**
 * Validated settings: `enable` as a boolean, the others in ms (probes for
 * count) already rounded up to the platform's unit. Absent = leave as is.
 */
export interface Settings {
  enable?: boolean
  idle?: number
  interval?: number
  count?: number
  userTimeout?: number
}

/** What one numeric field accepts: kernel units `min`..`max`, each `unitMs` ms long (1 for count). */
export interface FieldLimits {
  min: number
  max: number
  unitMs: number
}
export type Limits = Partial<Record<Exclude<Field, 'enable'>, FieldLimits>>

const KNOWN_KEYS = new Set<string>([...FIELDS, 'strict'])

/** The smallest and largest whole value accepted for a field, in the units users pass (ms, or probes for count). */
export function acceptedRange(limits: FieldLimits): { min: number; max: number } {
  return { min: limits.min > 0 ? 1 : 0, max: limits.max * limits.unitMs }
}

function describeRange(field: Exclude<Field, 'enable'>, limits: FieldLimits): string {
  const { min, max } = acceptedRange(limits)
  const lower = field === 'count' ? `an integer >= ${min}` : min > 0 ? '> 0' : '>= 0'
  return Number.isFinite(max) ? `${lower} && <= ${max}` : lower
}

/**
 * Checks `options` completely before anything touches a socket and returns
 * the settings to write plus the `strict` flag. Fields this platform cannot
 * set are still checked for type and sign, and left to the caller to report.
 */
export function validateOptions(options: unknown, limits: Limits): { settings: Settings; strict: boolean } {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalidArgType('options', 'of type object', options)
  }
  const given = options as Record<string, unknown>
  for (const key of Object.keys(given)) {
    if (!KNOWN_KEYS.has(key)) {
      throw invalidArgValue(`options.${key}`, given[key], `is unknown; known options are ${[...KNOWN_KEYS].join(', ')}`)
    }
  }

  const settings: Settings = {}
  for (const field of FIELDS) {
    const value = given[field]
    if (value === undefined) continue
    if (field === 'enable') {
      if (typeof value !== 'boolean') throw invalidArgType('options.enable', 'of type boolean', value)
      settings.enable = value
      continue
    }
    settings[field] = checkNumber(field, value, limits[field] ?? UNKNOWN_LIMITS[field])
  }
  if (Object.keys(settings).length === 0) {
    throw invalidArgValue('options', options, `must set at least one of ${FIELDS.join(', ')}`)
  }

  if (settings.enable === false) {
    const timing = TIMING_FIELDS.find((field) => settings[field] !== undefined)
    if (timing) throw incompatibleOptions('enable: false', timing)
  } else {
    settings.enable = true
  }

  const strict = given.strict ?? false
  if (typeof strict !== 'boolean') throw invalidArgType('options.strict', 'of type boolean', strict)
  return { settings, strict }
}

function checkNumber(field: Exclude<Field, 'enable'>, value: unknown, limits: FieldLimits): number {
  const name = `options.${field}`
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value)
  const { max } = acceptedRange(limits)
  const valid =
    Number.isFinite(value) && (limits.min > 0 ? value > 0 : value >= 0) && value <= max && (field !== 'count' || Number.isInteger(value))
  if (!valid) throw outOfRange(name, describeRange(field, limits), value)
  // Round up: a 1500 ms idle must not probe sooner than asked (Node truncates it to 1 s).
  return Math.ceil(value / limits.unitMs) * limits.unitMs
}

// For a field the running platform cannot set: only the sign and, for count,
// integrality are checked (the field is then reported as unsupported), so a
// negative idle is an error everywhere, not only where idle is supported.
const UNKNOWN_LIMITS: Required<Limits> = {
  idle: { min: 1, max: Infinity, unitMs: 1 },
  interval: { min: 1, max: Infinity, unitMs: 1 },
  count: { min: 1, max: Infinity, unitMs: 1 },
  userTimeout: { min: 0, max: Infinity, unitMs: 1 },
}
