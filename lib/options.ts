// Validation of user options and the one conversion of units: milliseconds in,
// rounded up to what the platform can hold.
import { incompatibleOptions, invalidArgType, invalidArgValue, outOfRange } from './errors.js'

/**
 * Options of {@link configureKeepalive}. Times are milliseconds, like Node's.
 * `enable: false` cannot be combined with `idle`, `interval` or `count` (a type error here, `ERR_INCOMPATIBLE_OPTION_PAIR` at run time).
 */
export type KeepaliveOptions = KeepaliveOn | KeepaliveOff

/** Keepalive on (the default), with the probe timing to write. */
export interface KeepaliveOn extends CommonOptions {
  /** Turn keepalive on or off. Default `true`. */
  enable?: true
  /** Silence before the first probe, in ms (`TCP_KEEPIDLE`; `TCP_KEEPALIVE` on macOS). Rounded up to whole seconds. */
  idle?: number
  /** Time between unanswered probes, in ms (`TCP_KEEPINTVL`). Rounded up to whole seconds. */
  interval?: number
  /** Unanswered probes before the kernel drops the connection (`TCP_KEEPCNT`). */
  count?: number
}

/** Keepalive off: no probe timing. */
export interface KeepaliveOff extends CommonOptions {
  /** Turn keepalive off. */
  enable: false
  idle?: undefined
  interval?: undefined
  count?: undefined
}

interface CommonOptions {
  /** How long sent data may stay unacknowledged before the connection is dropped, in ms (`TCP_USER_TIMEOUT`); `0` restores the kernel default. */
  userTimeout?: number
  /** Throw `ERR_KEEPALIVE_UNSUPPORTED` instead of warning when a field cannot be applied here. Default `false`. */
  strict?: boolean
}

/** The kernel-level fields, in the order the native layer uses. */
export const FIELDS = ['enable', 'idle', 'interval', 'count', 'userTimeout'] as const
export type Field = (typeof FIELDS)[number]

/**
 * Validated settings: `enable` as a boolean, the others in ms (probes for
 * count) already rounded up to the platform's unit. `undefined` = leave as
 * is. Every property is always present (one object shape for the hot path).
 */
export interface Settings {
  enable: boolean | undefined
  idle: number | undefined
  interval: number | undefined
  count: number | undefined
  userTimeout: number | undefined
}

/** Writes the defined fields of `later` onto `settings`, and returns it. */
export function overlay(settings: Settings, later: Settings): Settings {
  if (later.enable !== undefined) settings.enable = later.enable
  if (later.idle !== undefined) settings.idle = later.idle
  if (later.interval !== undefined) settings.interval = later.interval
  if (later.count !== undefined) settings.count = later.count
  if (later.userTimeout !== undefined) settings.userTimeout = later.userTimeout
  return settings
}

/**
 * A new object with each field of `later` where it is defined, else of
 * `earlier`. (Written out: an object spread of differently shaped settings,
 * some frozen, costs several times as much on the configure path.)
 */
export function merged(earlier: Readonly<Settings>, later: Readonly<Settings>): Settings {
  return {
    enable: later.enable !== undefined ? later.enable : earlier.enable,
    idle: later.idle !== undefined ? later.idle : earlier.idle,
    interval: later.interval !== undefined ? later.interval : earlier.interval,
    count: later.count !== undefined ? later.count : earlier.count,
    userTimeout: later.userTimeout !== undefined ? later.userTimeout : earlier.userTimeout,
  }
}

/** A copy of `settings`, in the one shape (see {@link merged}). */
export function copied(settings: Readonly<Settings>): Settings {
  const { enable, idle, interval, count, userTimeout } = settings
  return { enable, idle, interval, count, userTimeout }
}

/** Settings that change nothing yet. */
export function noSettings(): Settings {
  return { enable: undefined, idle: undefined, interval: undefined, count: undefined, userTimeout: undefined }
}

/** What one numeric field accepts: kernel units `min`..`max`, each `unitMs` ms long (1 for count). */
export interface FieldLimits {
  min: number
  max: number
  unitMs: number
}
export type Limits = Partial<Record<Exclude<Field, 'enable'>, FieldLimits>>

/** Keys of KeepaliveOptions; anything else is rejected. */
function isKnownKey(key: string): boolean {
  switch (key) {
    case 'enable':
    case 'idle':
    case 'interval':
    case 'count':
    case 'userTimeout':
    case 'strict':
      return true
    default:
      return false
  }
}
const KNOWN_KEYS = [...FIELDS, 'strict'].join(', ')

/** An unknown key is shown cut to this many characters (it may be huge). */
const SHOWN_KEY_LENGTH = 40

/** The smallest and largest whole value accepted for a field, in the units users pass (ms, or probes for count). */
export function acceptedRange(limits: FieldLimits): { min: number; max: number } {
  return { min: limits.min > 0 ? 1 : 0, max: limits.max * limits.unitMs }
}

function describeRange(field: Exclude<Field, 'enable'>, limits: FieldLimits): string {
  const { min, max } = acceptedRange(limits)
  const lower = field === 'count' ? `an integer >= ${min}` : min > 0 ? '> 0' : '>= 0'
  return Number.isFinite(max) ? `${lower} && <= ${max}` : lower
}

/** Validated options: what to write, and whether an unsupported field is an error. */
export interface Validated {
  settings: Settings
  strict: boolean
}

/**
 * Checks `options` completely before anything touches a socket and returns
 * the settings to write plus the `strict` flag. Fields this platform cannot
 * set are still checked for type and sign, and left to the caller to report.
 * One pass, no intermediate arrays: this runs on every configure call.
 */
export function validateOptions(options: unknown, limits: Limits): Validated {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalidArgType('options', 'of type object', options)
  }
  const given = options as KeepaliveOptions
  for (const key in given) {
    if (!isKnownKey(key) && Object.hasOwn(given, key)) throw unknownKey(key, (given as Record<string, unknown>)[key])
  }
  const { enable, idle, interval, count, userTimeout, strict = false } = given
  if (enable !== undefined && typeof enable !== 'boolean') throw invalidArgType('options.enable', 'of type boolean', enable)
  if (typeof strict !== 'boolean') throw invalidArgType('options.strict', 'of type boolean', strict)
  const settings: Settings = {
    enable,
    idle: idle === undefined ? undefined : checkNumber('idle', idle, limits.idle),
    interval: interval === undefined ? undefined : checkNumber('interval', interval, limits.interval),
    count: count === undefined ? undefined : checkNumber('count', count, limits.count),
    userTimeout: userTimeout === undefined ? undefined : checkNumber('userTimeout', userTimeout, limits.userTimeout),
  }
  const timing =
    settings.idle !== undefined ? 'idle' : settings.interval !== undefined ? 'interval' : settings.count !== undefined ? 'count' : null
  if (enable === false) {
    if (timing !== null) throw incompatibleOptions('enable: false', timing)
  } else {
    if (enable === undefined && timing === null && settings.userTimeout === undefined) {
      throw invalidArgValue('options', options, `must set at least one of ${FIELDS.join(', ')}`)
    }
    settings.enable = true
  }
  return { settings, strict }
}

function unknownKey(key: string, value: unknown): TypeError {
  const shown = key.length > SHOWN_KEY_LENGTH ? `${key.slice(0, SHOWN_KEY_LENGTH)}... (${key.length} characters)` : key
  return invalidArgValue(`options.${shown}`, value, `is unknown; known options are ${KNOWN_KEYS}`)
}

function checkNumber(field: Exclude<Field, 'enable'>, value: unknown, limits: FieldLimits = UNKNOWN_LIMITS[field]): number {
  if (typeof value !== 'number') throw invalidArgType(`options.${field}`, 'of type number', value)
  const { unitMs } = limits
  // Round up: a 1500 ms idle must not probe sooner than asked (Node truncates it to 1 s).
  const units = Math.ceil(value / unitMs)
  // Bounds hold in the kernel's unit, after rounding: 5e-324 ms is > 0 but rounds to 0 s.
  const valid =
    Number.isFinite(value) &&
    units >= limits.min &&
    units <= limits.max &&
    (limits.min > 0 || value >= 0) &&
    (field !== 'count' || Number.isInteger(value))
  if (!valid) {
    const tooSmall = value > 0 && units === 0 ? ' and not so small that it rounds to 0' : ''
    throw outOfRange(`options.${field}`, describeRange(field, limits) + tooSmall, value)
  }
  return units * unitMs
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
