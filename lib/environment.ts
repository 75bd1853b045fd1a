// The TCP_KEEPALIVE variable of the zero-code preload, written as an operator
// writes it: "idle=30s interval=5s count=3 user-timeout=40s ports=5432,6379".
import { keepaliveSupport, settledSettings } from './keepalive.js'
import type { KeepaliveOptions } from './options.js'

export const VARIABLE = 'TCP_KEEPALIVE'

/** What the variable asks for: the options, and the ports they are limited to (undefined: all). */
export interface ProcessSettings {
  options: KeepaliveOptions
  ports: number[] | undefined
}

const DURATION_KEYS = { idle: 'idle', interval: 'interval', 'user-timeout': 'userTimeout' } as const
const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const
const KNOWN = 'idle, interval, count, user-timeout, ports'

/** A malformed variable: the message names the token. */
export class SettingError extends Error {}

/** "30s" -> 30000; null when it is not a number followed by ms, s, m or h. */
export function parseDuration(text: string): number | null {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text)
  return match ? Math.round(Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS]) : null
}

/**
 * Parses the variable's text; null when it is empty (nothing to do). Throws
 * SettingError naming the first bad token, a value out of range included
 * (checked by the validation every call goes through).
 */
export function parseSettings(text: string): ProcessSettings | null {
  const tokens = text.trim().split(/\s+/).filter(Boolean)
  if (tokens.length === 0) return null
  const options: KeepaliveOptions = {}
  let ports: number[] | undefined
  const seen = new Set<string>()
  for (const token of tokens) {
    const bad = (why: string) => new SettingError(`${VARIABLE}: bad token ${shown(token)}: ${why}`)
    const equals = token.indexOf('=')
    if (equals <= 0) throw bad(`expected key=value, with keys ${KNOWN}`)
    const [key, value] = [token.slice(0, equals), token.slice(equals + 1)]
    if (seen.has(key)) throw bad(`${key} is given twice`)
    seen.add(key)
    if (Object.hasOwn(DURATION_KEYS, key) || key === 'count') {
      const field = key === 'count' ? 'count' : DURATION_KEYS[key as keyof typeof DURATION_KEYS]
      const number = key === 'count' ? (/^\d+$/.test(value) ? Number(value) : null) : parseDuration(value)
      if (number === null)
        throw bad(key === 'count' ? 'count is a whole number of probes' : 'a duration is a number with ms, s, m or h (e.g. 30s)')
      try {
        settledSettings({ [field]: number })
      } catch (error) {
        const range = keepaliveSupport.ranges[field]
        // In the units the user wrote (30s, count=3), not the API's field name and ms.
        if (range === undefined || (error as { code?: unknown }).code !== 'ERR_OUT_OF_RANGE') throw bad((error as Error).message)
        const limit = (ms: number) => (key === 'count' ? String(ms) : ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`)
        if (number > range.max) throw bad(`${key} is at most ${limit(range.max)}`)
        throw bad(key !== 'count' && range.min <= 1 ? `${key} is more than 0` : `${key} is at least ${limit(range.min)}`)
      }
      options[field] = number
    } else if (key === 'ports') {
      ports = value.split(',').map(Number)
      if (!/^\d+(,\d+)*$/.test(value) || ports.some((port) => port < 1 || port > 65535)) {
        throw bad('ports is a comma-separated list of port numbers (1-65535)')
      }
    } else {
      throw bad(`unknown key '${key}'; known keys are ${KNOWN}`)
    }
  }
  if (Object.keys(options).length === 0) throw new SettingError(`${VARIABLE}: ${shown(text.trim())} sets no keepalive field (${KNOWN})`)
  return { options, ports }
}

/** Text the user gave, quoted for one line of stderr: control characters escaped, at most 60 characters shown. */
function shown(text: string): string {
  // eslint-disable-next-line no-control-regex
  const escaped = (part: string) => part.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)
  return text.length <= 60 ? `'${escaped(text)}'` : `'${escaped(text.slice(0, 60))}...' (${text.length} characters)`
}
