// A user's function that chooses options per connection (keepaliveProcess,
// keepaliveServer). Its mistakes are its own: the connection is left as it
// was, never failed nor the process crashed, and a warning names the rule once.
import { settledSettings } from './keepalive.js'
import type { Settings } from './options.js'

/** A rule's function, whatever its arguments. */
type RuleFunction = (...args: never[]) => unknown

const warned = new WeakSet<RuleFunction>()

/**
 * Calls `rule` (through `call`) and returns the settings its options stand
 * for, or undefined when it returned undefined or made a mistake: it threw,
 * returned something that is not valid options, or a Promise.
 */
export function settingsFromRule(rule: RuleFunction, integration: string, call: () => unknown): Settings | undefined {
  let chosen: unknown
  try {
    chosen = call()
  } catch (error) {
    return mistake(rule, integration, `threw ${describe(error)}`)
  }
  if (chosen === undefined) return undefined
  if (isThenable(chosen)) {
    // Nobody awaits it: a rejection must not become an unhandled one that stops the process.
    try {
      chosen.then(undefined, () => undefined)
    } catch {
      // a thenable whose then throws: nothing more to do
    }
    return mistake(rule, integration, 'returned a Promise (is it an async function?): a rule returns options or undefined, synchronously')
  }
  try {
    return settledSettings(chosen)
  } catch (error) {
    return mistake(rule, integration, `returned options that are not valid: ${describe(error)}`)
  }
}

function isThenable(value: unknown): value is { then: (onFulfilled: unknown, onRejected: () => unknown) => unknown } {
  return (
    (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function'
  )
}

function describe(error: unknown): string {
  if (error instanceof Error)
    return `${error.name}${(error as { code?: unknown }).code ? ` [${(error as { code?: unknown }).code}]` : ''}: ${error.message}`
  return String(error)
}

function mistake(rule: RuleFunction, integration: string, what: string): undefined {
  if (warned.has(rule)) return undefined
  warned.add(rule)
  const name = rule.name ? ` '${rule.name}'` : ''
  process.emitWarning(`tcp-keepalive: the ${integration} function${name} ${what}; its connections are left as they were`, {
    type: 'TcpKeepaliveWarning',
    code: 'TCP_KEEPALIVE_RULE_FAILED',
  })
  return undefined
}
