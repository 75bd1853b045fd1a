// Errors shaped like Node core's: the same classes, codes and message wording,
// so callers can handle ours exactly like Node's own.
import { getSystemErrorName, inspect } from 'node:util'

type ErrorClass = new (message: string) => Error

function coded<E extends Error>(ErrorType: new (message: string) => E, code: string, message: string): E & { code: string } {
  const error = new ErrorType(message) as E & { code: string }
  error.code = code
  return error
}

/** The name of an object's class; '' when there is none, or reading it throws (a Proxy's trap). */
function constructorName(value: object): string {
  try {
    const name: unknown = value.constructor?.name
    return typeof name === 'string' ? name : ''
  } catch {
    return ''
  }
}

/** How Node's ERR_INVALID_ARG_TYPE describes the value it got. */
function describeReceived(value: unknown): string {
  if (value === null || value === undefined) return `Received ${value}`
  if (typeof value === 'function') return `Received function ${value.name || '<anonymous>'}`
  if (typeof value === 'object') {
    const name = constructorName(value)
    return name ? `Received an instance of ${name}` : `Received ${inspect(value, { depth: -1 })}`
  }
  let shown = inspect(value, { colors: false })
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`
  return `Received type ${typeof value} (${shown})`
}

/** `name` is an argument ("target") or a property ("options.idle"). */
function label(name: string): string {
  return name.includes('.') ? `The "${name}" property` : `The "${name}" argument`
}

export function invalidArgType(name: string, expected: string, value: unknown): TypeError {
  return coded(TypeError, 'ERR_INVALID_ARG_TYPE', `${label(name)} must be ${expected}. ${describeReceived(value)}`)
}

export function invalidArgValue(name: string, value: unknown, reason: string): TypeError {
  const shown = inspect(value, { depth: 1, breakLength: Infinity })
  return coded(TypeError, 'ERR_INVALID_ARG_VALUE', `${label(name)} ${reason}. Received ${shown}`)
}

export function outOfRange(name: string, range: string, value: unknown): RangeError {
  return coded(RangeError, 'ERR_OUT_OF_RANGE', `The value of "${name}" is out of range. It must be ${range}. Received ${String(value)}`)
}

export function incompatibleOptions(first: string, second: string): TypeError {
  return coded(TypeError, 'ERR_INCOMPATIBLE_OPTION_PAIR', `Option "${first}" cannot be used in combination with option "${second}"`)
}

/** Errors of this library's own, documented in docs/api.md under "Errors". */
export function keepaliveError(code: string, message: string, ErrorType: ErrorClass = Error): Error & { code: string } {
  return coded(ErrorType, code, message)
}

export interface SystemError extends Error {
  code: string
  errno: number
  syscall: string
}

/** A failed system call, as Node reports one: `setsockopt EINVAL`, with `errno` negative like libuv's. */
export function systemError(errno: number, syscall: string, detail = ''): SystemError {
  const code = getSystemErrorName(errno)
  const error = coded(Error, code, `${syscall} ${code}${detail}`) as SystemError
  error.errno = errno
  error.syscall = syscall
  return error
}
