// tcp-keepalive/vitest from require(): vitest is ESM only, and so is this
// matcher. Say so plainly instead of Node's generic ESM error.
const error = new Error(
  "tcp-keepalive/vitest is ESM only, like vitest: import 'tcp-keepalive/vitest' in a test file that is an ES module " +
    '(.mts/.mjs, or "type": "module"), as vitest runs them.',
)
throw Object.assign(error, { code: 'ERR_REQUIRE_ESM' })
