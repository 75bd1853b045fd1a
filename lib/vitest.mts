// tcp-keepalive/vitest: a matcher for vitest, registered on import.
//
//   import 'tcp-keepalive/vitest'
//   expect(socket).toHaveKeepalive({ idle: 30_000, count: 3 })
import { expect } from 'vitest'
import { type KeepaliveState, type KeepaliveTarget, readKeepalive } from './index.mjs'

/** The matcher this module adds to vitest's `expect`. */
export interface KeepaliveMatchers<R = unknown> {
  /**
   * The kernel holds these keepalive values for the socket or fd (read with
   * readKeepalive). Only the fields given are compared; times in ms.
   */
  toHaveKeepalive(expected: Partial<KeepaliveState>): R
}

declare module 'vitest' {
  // `T = any` must match vitest's own declaration of Matchers.
  interface Matchers<T = any> extends KeepaliveMatchers<T> {}
}

expect.extend({
  toHaveKeepalive(received: unknown, expected: Partial<KeepaliveState>) {
    const held = readKeepalive(received as KeepaliveTarget)
    const compared = Object.fromEntries(Object.keys(expected).map((field) => [field, held[field as keyof KeepaliveState]]))
    const pass = this.equals(compared, expected)
    const what = `keepalive ${this.utils.printExpected(expected)}`
    return {
      pass,
      actual: compared,
      expected,
      message: () =>
        pass
          ? `expected the socket not to have ${what}`
          : `expected the socket to have ${what}\n\n${this.utils.diff(expected, compared) ?? ''}`,
    }
  },
})
