// Type-checked by `npm run typecheck`: a vitest test file in a CommonJS-typed project (vitest runs it as
// ESM, but tsc resolves 'tcp-keepalive/vitest' through the `require` condition).
import net = require('node:net')
import 'tcp-keepalive/vitest'
import { expect } from 'vitest'

expect(new net.Socket()).toHaveKeepalive({ idle: 30_000, interval: 5_000, count: 3 })
// @ts-expect-error the matcher takes keepalive fields
expect(new net.Socket()).toHaveKeepalive({ idel: 30_000 })
