// Wrapping a method other code shares: a prototype method of Node's that APM
// agents (OpenTelemetry, dd-trace) and frameworks wrap too.
//
// - Installed on top of whatever is there at that moment, and calling it: a
//   wrapper installed before ours keeps running.
// - Removed only while ours is still on top. When another wrapper was put on
//   top of ours, ours stays in place as a pass-through: that wrapper calls ours,
//   and taking ours out would take it out too (or, restored, undo it).
// - Installed again later: the wrapper left in place is reused when it is
//   still on top or reachable through the `__original` links that shimmer (used
//   by OpenTelemetry) leaves; otherwise a new one goes on top and the old one
//   only passes through.

/** A function another wrapper made: shimmer links it to the one it wraps. */
type Linked = ((...args: never[]) => unknown) & { __original?: unknown }

export interface SharedHook {
  install(): void
  uninstall(): void
}

/**
 * Hooks `owner[key]`. `body` runs in place of the method while installed; it
 * gets the function that was on top when ours went on (call it to go on) and
 * the call's arguments.
 */
export function sharedHook<Owner extends object, Key extends keyof Owner & string>(
  owner: Owner,
  key: Key,
  body: (self: unknown, inner: (...args: unknown[]) => unknown, args: unknown[]) => unknown,
): SharedHook {
  type Method = (...args: unknown[]) => unknown
  const slot = owner as unknown as Record<string, Method>
  // The wrapper now in place (or left in place as a pass-through), and what it calls.
  let current: { wrapper: Method; inner: Method; active: boolean } | null = null

  function reachable(wrapper: Method): boolean {
    let method: unknown = slot[key]
    for (let depth = 0; depth < 100 && typeof method === 'function'; depth++) {
      if (method === wrapper) return true
      method = (method as Linked).__original
    }
    return false
  }

  return {
    install() {
      if (current?.active) return
      if (current !== null && reachable(current.wrapper)) {
        current.active = true
        return
      }
      const entry = { wrapper: null as unknown as Method, inner: slot[key], active: true }
      const wrapper = function (this: unknown, ...args: unknown[]) {
        return entry.active ? body(this, entry.inner, args) : entry.inner.apply(this, args)
      }
      // Looks like what it wraps to code that reads it (Node 24.19+ is told apart by setKeepAlive.length),
      // and links to it as shimmer does, so that a wrapper put over ours can be found under it.
      Object.defineProperty(wrapper, 'name', { value: entry.inner.name, configurable: true })
      Object.defineProperty(wrapper, 'length', { value: entry.inner.length, configurable: true })
      Object.defineProperty(wrapper, '__original', { value: entry.inner, configurable: true })
      entry.wrapper = wrapper
      slot[key] = wrapper
      current = entry
    },
    uninstall() {
      if (current === null || !current.active) return
      current.active = false
      if (slot[key] === current.wrapper) {
        slot[key] = current.inner
        current = null
      }
    },
  }
}
