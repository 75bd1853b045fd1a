// Property tests (fast-check) of the whole options x target space, with the
// kernel as the oracle: a valid call reads back exactly the request rounded
// up to the platform's unit and leaves the fields it was not given alone; a
// rejected call throws a coded TypeError/RangeError/Error and changes nothing.
// `npm test` runs a few thousand cases; `npm run fuzz` runs 100 000+ (CI too).
import dgram from 'node:dgram'
import { closeSync, openSync } from 'node:fs'
import net from 'node:net'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { deadPeerDetectionMs } from '../lib/detection.js'
import { configureKeepalive, type KeepaliveState, keepaliveSupport, planKeepalive, readKeepalive } from '../lib/index.js'
import { closeAll, fdOf, tcpPair } from './helpers.js'

/** Cases per property: TCP_KEEPALIVE_FUZZ_RUNS (npm run fuzz), else a few thousand. */
const RUNS = Number(process.env.TCP_KEEPALIVE_FUZZ_RUNS ?? 2_000)
/** ~0.2 ms per case on a slow machine, and room to spare. */
const timeout = 20_000 + RUNS
const NUMERIC = ['idle', 'interval', 'count', 'userTimeout'] as const
type Numeric = (typeof NUMERIC)[number]
const ranges = keepaliveSupport.ranges as Required<typeof keepaliveSupport.ranges>

// ---- The model: what a call must do, written from docs/api.md, not from lib/options.ts.

type Outcome = { ok: true; expect: Partial<KeepaliveState> } | { ok: false; code: string; name: string }

const reject = (code: string, name = 'TypeError'): Outcome => ({ ok: false, code, name })

function model(options: unknown): Outcome {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) return reject('ERR_INVALID_ARG_TYPE')
  const given = options as Record<string, unknown>
  const known = new Set(['enable', ...NUMERIC, 'strict'])
  if (Object.keys(given).some((key) => !known.has(key))) return reject('ERR_INVALID_ARG_VALUE')
  if (given.enable !== undefined && typeof given.enable !== 'boolean') return reject('ERR_INVALID_ARG_TYPE')
  if (given.strict !== undefined && typeof given.strict !== 'boolean') return reject('ERR_INVALID_ARG_TYPE')
  const expect: Partial<KeepaliveState> = {}
  for (const field of NUMERIC) {
    const value = given[field]
    if (value === undefined) continue
    if (typeof value !== 'number') return reject('ERR_INVALID_ARG_TYPE')
    const { min, max, unitMs } = ranges[field]
    const rounded = Math.ceil(value / unitMs) * unitMs // rounded up to the unit
    const valid = Number.isFinite(value) && rounded >= min && rounded <= max && value >= 0 && (field !== 'count' || Number.isInteger(value))
    if (!valid) return reject('ERR_OUT_OF_RANGE', 'RangeError')
    expect[field] = rounded === 0 ? 0 : rounded // -0 reads back as 0
  }
  const timing = expect.idle !== undefined || expect.interval !== undefined || expect.count !== undefined
  if (given.enable === false && timing) return reject('ERR_INCOMPATIBLE_OPTION_PAIR')
  if (given.enable === undefined && !timing && expect.userTimeout === undefined) return reject('ERR_INVALID_ARG_VALUE')
  return { ok: true, expect: { ...expect, enabled: given.enable !== false } }
}

// ---- Generators: values at and around every bound, of every type.

function numberFor(field: Numeric): fc.Arbitrary<unknown> {
  const { min, max, unitMs } = ranges[field]
  const edges = [0, -0, 1, -1, min, max, max + 1, max - 1, min * unitMs, unitMs - 1, unitMs + 1, 5e-324, 1e-323, 0.5, 1.5]
  return fc.oneof(
    { weight: 24, arbitrary: fc.integer({ min: min > 0 ? 1 : 0, max }) },
    { weight: 3, arbitrary: fc.constantFrom(...edges, NaN, Infinity, -Infinity, Number.MAX_VALUE, Number.MIN_VALUE) },
    { weight: 2, arbitrary: fc.double() },
    { weight: 1, arbitrary: fc.oneof(fc.string(), fc.boolean(), fc.constant(null), fc.bigInt(), fc.object()) },
  )
}

const options: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 20,
    arbitrary: fc.record(
      {
        enable: fc.oneof(
          { weight: 20, arbitrary: fc.constant(true) },
          { weight: 4, arbitrary: fc.constant(false) },
          { weight: 1, arbitrary: fc.anything() },
        ),
        idle: numberFor('idle'),
        interval: numberFor('interval'),
        count: numberFor('count'),
        userTimeout: numberFor('userTimeout'),
        strict: fc.oneof({ weight: 20, arbitrary: fc.boolean() }, { weight: 1, arbitrary: fc.anything() }),
      },
      { requiredKeys: [] },
    ),
  },
  { weight: 1, arbitrary: fc.dictionary(fc.string({ maxLength: 60 }), fc.anything(), { minKeys: 1, maxKeys: 3 }) },
  { weight: 1, arbitrary: fc.anything() },
)

// ---- Targets: the connected socket (as a socket and as an fd) and everything that is not one.

let client: net.Socket
let accepted: net.Socket
const others: Array<{ name: string; target: unknown; code: string }> = []
const closers: Array<() => void> = []

beforeAll(async () => {
  ;({ client, accepted } = await tcpPair())
  const udp = dgram.createSocket('udp4')
  udp.bind(0, '127.0.0.1')
  await new Promise((resolve) => udp.once('listening', resolve))
  const file = openSync(__filename, 'r')
  closers.push(
    () => udp.close(),
    () => closeSync(file),
  )
  const destroyed = new net.Socket()
  destroyed.destroy()
  others.push(
    { name: 'a UDP fd', target: fdOf(udp), code: 'ERR_KEEPALIVE_NOT_TCP' },
    { name: 'a file fd', target: file, code: 'ERR_KEEPALIVE_NOT_TCP' },
    { name: 'an fd not open', target: 1_000_000, code: 'EBADF' },
    { name: 'a destroyed socket', target: destroyed, code: 'ERR_SOCKET_CLOSED' },
    { name: 'a negative fd', target: -1, code: 'ERR_OUT_OF_RANGE' },
    { name: 'a fractional fd', target: 1.5, code: 'ERR_OUT_OF_RANGE' },
    { name: 'NaN', target: NaN, code: 'ERR_OUT_OF_RANGE' },
    { name: 'an fd past int', target: 2 ** 31, code: 'ERR_OUT_OF_RANGE' },
    { name: 'a string', target: '5', code: 'ERR_INVALID_ARG_TYPE' },
    { name: 'null', target: null, code: 'ERR_INVALID_ARG_TYPE' },
    { name: 'a plain object', target: { _handle: { fd: 1 } }, code: 'ERR_INVALID_ARG_TYPE' },
  )
})
afterAll(() => {
  for (const close of closers.splice(0)) close()
  closeAll()
})

const CODED = new Set(['ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_VALUE', 'ERR_OUT_OF_RANGE', 'ERR_INCOMPATIBLE_OPTION_PAIR'])

/** Runs the call; returns its error, or null. Anything but a coded error fails the property. */
function attempt(call: () => unknown): (Error & { code?: string }) | null {
  try {
    call()
    return null
  } catch (error) {
    if (!(error instanceof Error) || typeof (error as { code?: unknown }).code !== 'string') throw error
    return error as Error & { code: string }
  }
}

describe(`properties (${RUNS} cases each)`, () => {
  const tally = { accepted: 0, rejected: 0 }

  it(
    'a connected TCP socket, by socket or by fd: valid options read back rounded up, the rest unchanged; invalid ones change nothing',
    { timeout },
    () => {
      fc.assert(
        fc.property(options, fc.boolean(), (given, byFd) => {
          const target = byFd ? fdOf(client) : client
          const before = readKeepalive(client)
          const peerBefore = readKeepalive(accepted)
          const outcome = model(given)
          const error = attempt(() => configureKeepalive(target, given as never))
          const after = readKeepalive(client)
          tally[outcome.ok ? 'accepted' : 'rejected']++
          if (outcome.ok) {
            expect(error).toBeNull()
            expect(after).toEqual({ ...before, ...outcome.expect })
          } else {
            expect(error).toMatchObject({ code: outcome.code, name: outcome.name })
            expect(CODED.has(error!.code!)).toBe(true)
            expect(after).toEqual(before)
          }
          expect(readKeepalive(accepted)).toEqual(peerBefore) // the other end is another socket
        }),
        { numRuns: RUNS },
      )
      console.log(`properties: ${tally.accepted} valid calls read back as asked, ${tally.rejected} rejected calls changed nothing`)
    },
  )

  it(
    'anything that is not a connected TCP socket: a coded error, for valid and invalid options alike, and no socket changed',
    { timeout },
    () => {
      fc.assert(
        fc.property(fc.nat({ max: 100 }), options, (pick, given) => {
          const { target, code } = others[pick % others.length]
          const before = [readKeepalive(client), readKeepalive(accepted)]
          const error = attempt(() => configureKeepalive(target as never, given as never))
          expect(error).not.toBeNull()
          // The target is checked first, then the options: either may be what is reported.
          const optionsError = model(given)
          expect([code, ...(optionsError.ok ? [] : [optionsError.code])]).toContain(error!.code)
          expect([readKeepalive(client), readKeepalive(accepted)]).toEqual(before)
          const readError = attempt(() => readKeepalive(target as never))
          expect(readError?.code).toBe(code)
        }),
        { numRuns: RUNS },
      )
    },
  )
})

// ---- planKeepalive over its whole input space: every plan it returns is what the kernel holds.

/** A duration in ms: absent, anywhere from below the 2 s floor to far past every kernel bound, or not one. */
const planDuration: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: fc.constant(undefined) },
  { weight: 8, arbitrary: fc.integer({ min: 2_000, max: 4 * 3_600_000 }) },
  { weight: 6, arbitrary: fc.double({ min: 3.2, max: 16, noNaN: true }).map((exponent) => 10 ** exponent) }, // 1.6 s .. 1e16 ms
  {
    weight: 2,
    arbitrary: fc.constantFrom(1_999, 2_000, 2_001, 2_999.5, 65_534_000, 65_536_000, 2 ** 31, 4_294_967_295_000, Number.MAX_SAFE_INTEGER),
  },
  { weight: 1, arbitrary: fc.constantFrom(NaN, Infinity, -Infinity, -1, 0, Number.MAX_VALUE, '60s', null, true) },
)

const planRequest = fc.record(
  {
    idleTimeout: planDuration,
    detectWithin: planDuration,
    count: fc.oneof(
      { weight: 6, arbitrary: fc.constant(undefined) },
      { weight: 6, arbitrary: fc.integer({ min: 1, max: 127 }) },
      { weight: 1, arbitrary: fc.constantFrom(0, 128, 1.5, -1, NaN, '3', null) },
    ),
    loss: fc.oneof(
      { weight: 6, arbitrary: fc.constant(undefined) },
      { weight: 6, arbitrary: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }) },
      { weight: 3, arbitrary: fc.double({ min: -9, max: -0.01, noNaN: true }).map((exponent) => 10 ** exponent) },
      { weight: 1, arbitrary: fc.constantFrom(0, 1, 1.01, -0.01, NaN, '1%', null) },
    ),
    connections: fc.oneof(
      { weight: 6, arbitrary: fc.constant(undefined) },
      { weight: 4, arbitrary: fc.integer({ min: 1, max: 1_000_000_000 }) },
      { weight: 1, arbitrary: fc.constantFrom(0, -1, 1.5, 2 ** 53, NaN, '10') },
    ),
    falseDropsPerYear: fc.oneof(
      { weight: 6, arbitrary: fc.constant(undefined) },
      { weight: 4, arbitrary: fc.double({ min: -6, max: 6, noNaN: true }).map((exponent) => 10 ** exponent) },
      { weight: 1, arbitrary: fc.constantFrom(0, -1, Infinity, NaN, '1') },
    ),
  },
  { requiredKeys: [] },
)

/** Whether the request itself is well formed (the documented bounds), whatever the network makes possible. */
function wellFormed(request: Record<string, unknown>): boolean {
  const duration = (value: unknown) => value === undefined || (typeof value === 'number' && Number.isFinite(value) && value >= 2_000)
  const { idleTimeout, detectWithin, count, loss, connections, falseDropsPerYear } = request
  return (
    duration(idleTimeout) &&
    duration(detectWithin) &&
    (idleTimeout !== undefined || detectWithin !== undefined) &&
    (count === undefined || (Number.isInteger(count) && (count as number) >= 1 && (count as number) <= 127)) &&
    (loss === undefined || (typeof loss === 'number' && loss >= 0 && loss < 1)) &&
    (connections === undefined || (Number.isSafeInteger(connections) && (connections as number) >= 1)) &&
    (falseDropsPerYear === undefined ||
      (typeof falseDropsPerYear === 'number' && falseDropsPerYear > 0 && Number.isFinite(falseDropsPerYear)))
  )
}

describe(`planKeepalive (${RUNS} cases)`, () => {
  it(
    'every plan round-trips through configureKeepalive -> readKeepalive exactly and meets its bounds; the rest is a coded error',
    { timeout },
    () => {
      const tally = { planned: 0, cannot: 0, malformed: 0 }
      fc.assert(
        fc.property(planRequest, (request) => {
          let plan: ReturnType<typeof planKeepalive> | undefined
          const error = attempt(() => (plan = planKeepalive(request as never)))
          if (!wellFormed(request)) {
            tally.malformed++
            expect(error).toMatchObject({ code: expect.stringMatching(/^ERR_(OUT_OF_RANGE|INVALID_ARG_TYPE|INVALID_ARG_VALUE)$/) })
            return
          }
          if (error) {
            // Well formed but not possible on this network: said so, with the numbers, never a bad plan.
            tally.cannot++
            expect(error).toMatchObject({ code: 'ERR_KEEPALIVE_PLAN', name: 'RangeError' })
            expect(error.message).not.toMatch(/NaN|Infinity|undefined/)
            return
          }
          tally.planned++
          const { idle, interval, count, userTimeout, detection, falseDrops, reasoning } = plan!
          const options = { idle, interval, count, userTimeout }
          expect(attempt(() => configureKeepalive(client, options))).toBeNull()
          expect(readKeepalive(client)).toEqual({ enabled: true, ...options })
          expect(detection).toBe(deadPeerDetectionMs({ enabled: true, ...options }))
          expect(userTimeout).toBe(idle + interval * count)
          const { idleTimeout, detectWithin, loss } = request as { idleTimeout?: number; detectWithin?: number; loss?: number }
          if (detectWithin !== undefined) expect(idle + interval * count).toBeLessThanOrEqual(detectWithin)
          if (idleTimeout !== undefined) expect(idle + interval * (count - 1)).toBeLessThan(idleTimeout)
          if (request.count !== undefined) expect(count).toBe(request.count)
          if (loss === undefined) expect(falseDrops).toBeNull()
          else if (request.count === undefined) expect(falseDrops!.withinBudget).toBe(true)
          expect(reasoning.join('\n')).not.toMatch(/NaN|Infinity|undefined/)
        }),
        { numRuns: RUNS },
      )
      console.log(
        `planKeepalive: ${tally.planned} plans read back exactly, ${tally.cannot} refused as impossible, ${tally.malformed} malformed`,
      )
      expect(tally.planned).toBeGreaterThan(RUNS / 4) // the property is about plans, not about refusals
    },
  )
})
