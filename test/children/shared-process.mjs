// shared-process.cjs as an ES module: imports are hoisted, so an app's
// `import 'tcp-keepalive'` loads it before the code that starts its tracer.
// Here the two are imported in TK_ORDER (OpenTelemetry through its ESM loader
// hook, registered first as its docs say).
import { register } from 'node:module'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const { seen, start } = require('./neighbour.cjs')
const { TK_NEIGHBOUR: neighbour, TK_ORDER: order, TK_MODE: mode } = process.env
const settings = { idle: 31_000, interval: 4_000, count: 5 }

if (neighbour === 'otel') register('@opentelemetry/instrumentation/hook.mjs', import.meta.url)
let keepalive
if (order === 'keepalive-first' || mode === 'preload') keepalive = await import('tcp-keepalive')
if (mode === 'code' || order === 'keepalive-first') start[neighbour]() // else a preload started it
if (order === 'neighbour-first' && mode === 'code') keepalive = await import('tcp-keepalive')
const net = await import('node:net')
require('./phases.cjs').run(net.default, keepalive, seen, mode, settings)
