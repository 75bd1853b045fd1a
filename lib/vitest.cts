// tcp-keepalive/vitest from require(): vitest is ESM only, and so is this
// matcher. Say so plainly instead of Node's generic ESM error.
// The types are the ESM module's: a CommonJS-typed test file (`"type": "commonjs"`) that imports
// 'tcp-keepalive/vitest' is typed through this file, and vitest runs it as ESM, where the matcher exists.
export type { KeepaliveMatchers } from './vitest.mjs' with { 'resolution-mode': 'import' }

const error = new Error(
  "tcp-keepalive/vitest is ESM only, like vitest: import 'tcp-keepalive/vitest' in a test file that is an ES module " +
    '(.mts/.mjs, or "type": "module"), as vitest runs them.',
)
throw Object.assign(error, { code: 'ERR_REQUIRE_ESM' })
