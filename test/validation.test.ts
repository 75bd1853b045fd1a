// Bad input: the error class, code and message users will match on, and
// proof that a rejected call wrote nothing.
import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { configureKeepalive, readKeepalive } from '../lib/index.js'
import { closeAll, tcpPair } from './helpers.js'

afterEach(closeAll)

type Case = [string, unknown, RegExp]

const badOptions: Array<[string, unknown, typeof TypeError | typeof RangeError, string, RegExp]> = [
  [
    'a string idle',
    { idle: '5000' },
    TypeError,
    'ERR_INVALID_ARG_TYPE',
    /^The "options.idle" property must be of type number. Received type string \('5000'\)$/,
  ],
  ['a null count', { count: null }, TypeError, 'ERR_INVALID_ARG_TYPE', /"options.count" property must be of type number. Received null/],
  ['a string enable', { enable: 'yes' }, TypeError, 'ERR_INVALID_ARG_TYPE', /"options.enable" property must be of type boolean/],
  [
    'a null enable',
    { enable: null },
    TypeError,
    'ERR_INVALID_ARG_TYPE',
    /"options.enable" property must be of type boolean. Received null/,
  ],
  [
    'a null strict',
    { idle: 1000, strict: null },
    TypeError,
    'ERR_INVALID_ARG_TYPE',
    /"options.strict" property must be of type boolean. Received null/,
  ],
  [
    'a string strict',
    { idle: 1000, strict: 'yes' },
    TypeError,
    'ERR_INVALID_ARG_TYPE',
    /"options.strict" property must be of type boolean/,
  ],
  [
    'NaN',
    { idle: NaN },
    RangeError,
    'ERR_OUT_OF_RANGE',
    /^The value of "options.idle" is out of range. It must be > 0 && <= 32767000. Received NaN$/,
  ],
  ['Infinity', { interval: Infinity }, RangeError, 'ERR_OUT_OF_RANGE', /"options.interval" .* Received Infinity$/],
  ['-Infinity', { userTimeout: -Infinity }, RangeError, 'ERR_OUT_OF_RANGE', /"options.userTimeout" .* Received -Infinity$/],
  ['a negative idle', { idle: -1 }, RangeError, 'ERR_OUT_OF_RANGE', /"options.idle" .* Received -1$/],
  ['a zero idle', { idle: 0 }, RangeError, 'ERR_OUT_OF_RANGE', /"options.idle" .* Received 0$/],
  ['a zero interval', { interval: 0 }, RangeError, 'ERR_OUT_OF_RANGE', /"options.interval" .* Received 0$/],
  [
    'a zero count',
    { count: 0 },
    RangeError,
    'ERR_OUT_OF_RANGE',
    /^The value of "options.count" is out of range. It must be an integer >= 1 && <= 127. Received 0$/,
  ],
  ['a fractional count', { count: 2.5 }, RangeError, 'ERR_OUT_OF_RANGE', /"options.count" .* Received 2.5$/],
  ['a count above 127', { count: 128 }, RangeError, 'ERR_OUT_OF_RANGE', /"options.count" .* <= 127. Received 128$/],
  ['an idle above 32767 s', { idle: 32_767_001 }, RangeError, 'ERR_OUT_OF_RANGE', /"options.idle" .* <= 32767000. Received 32767001$/],
  ['an interval above 32767 s', { interval: 40_000_000 }, RangeError, 'ERR_OUT_OF_RANGE', /"options.interval"/],
  [
    'a userTimeout above 2^31-1',
    { userTimeout: 2 ** 31 },
    RangeError,
    'ERR_OUT_OF_RANGE',
    /^The value of "options.userTimeout" is out of range. It must be >= 0 && <= 2147483647. Received 2147483648$/,
  ],
  ['a negative userTimeout', { userTimeout: -1 }, RangeError, 'ERR_OUT_OF_RANGE', /"options.userTimeout"/],
  [
    'an idle so small it rounds to 0 s',
    { idle: 5e-324 },
    RangeError,
    'ERR_OUT_OF_RANGE',
    /^The value of "options.idle" is out of range. It must be > 0 && <= 32767000 and not so small that it rounds to 0. Received 5e-324$/,
  ],
  ['an interval so small it rounds to 0 s', { interval: 2e-321 }, RangeError, 'ERR_OUT_OF_RANGE', /rounds to 0. Received 2e-321$/],
  [
    'a huge unknown key, cut in the message',
    { ['x'.repeat(1_000_000)]: 1 },
    TypeError,
    'ERR_INVALID_ARG_VALUE',
    /^The "options.x{40}\.\.\. \(1000000 characters\)" property is unknown; known options are .{0,80} Received 1$/,
  ],
  [
    'a typo',
    { intervall: 5000 },
    TypeError,
    'ERR_INVALID_ARG_VALUE',
    /^The "options.intervall" property is unknown; known options are enable, idle, interval, count, userTimeout, strict. Received 5000$/,
  ],
  ['no fields', {}, TypeError, 'ERR_INVALID_ARG_VALUE', /must set at least one of enable, idle, interval, count, userTimeout/],
  ['only undefined fields', { idle: undefined }, TypeError, 'ERR_INVALID_ARG_VALUE', /must set at least one/],
  ['only strict', { strict: true }, TypeError, 'ERR_INVALID_ARG_VALUE', /must set at least one/],
  [
    'enable: false with idle',
    { enable: false, idle: 1000 },
    TypeError,
    'ERR_INCOMPATIBLE_OPTION_PAIR',
    /^Option "enable: false" cannot be used in combination with option "idle"$/,
  ],
  ['enable: false with count', { enable: false, count: 3 }, TypeError, 'ERR_INCOMPATIBLE_OPTION_PAIR', /option "count"/],
  ['null options', null, TypeError, 'ERR_INVALID_ARG_TYPE', /^The "options" argument must be of type object. Received null$/],
  [
    'a number as options',
    5000,
    TypeError,
    'ERR_INVALID_ARG_TYPE',
    /"options" argument must be of type object. Received type number \(5000\)/,
  ],
  ['an array as options', [1], TypeError, 'ERR_INVALID_ARG_TYPE', /Received an instance of Array/],
]

describe('options', () => {
  it.each(badOptions)('rejects %s', async (_name, options, ErrorType, code, message) => {
    const { client } = await tcpPair()
    configureKeepalive(client, { idle: 20_000, interval: 4_000, count: 6, userTimeout: 9_000 })
    const before = readKeepalive(client)
    const error = catchError(() => configureKeepalive(client, options as never))
    expect(error).toBeInstanceOf(ErrorType)
    expect(error).toMatchObject({ code })
    expect(error.message).toMatch(message)
    expect(readKeepalive(client)).toEqual(before)
  })

  it('accepts the smallest value that rounds up to a whole second', async () => {
    const { client } = await tcpPair()
    configureKeepalive(client, { idle: 1e-300, interval: 0.001 })
    expect(readKeepalive(client)).toMatchObject({ idle: 1_000, interval: 1_000 })
  })

  it('checks every field before writing any', async () => {
    const { client } = await tcpPair()
    const before = readKeepalive(client)
    expect(() => configureKeepalive(client, { idle: 5_000, interval: 5_000, count: 500 })).toThrow(RangeError)
    expect(readKeepalive(client)).toEqual(before)
  })
})

const badTargets: Case[] = [
  ['null', null, /^The "target" argument must be an instance of net.Socket or of type number. Received null$/],
  ['undefined', undefined, /Received undefined$/],
  ['a plain object', { _handle: { fd: 1 } }, /Received an instance of Object$/],
  ['a string fd', '5', /Received type string \('5'\)$/],
  ['a server', net.createServer(), /Received an instance of Server$/],
]

describe('targets', () => {
  it.each(badTargets)('rejects %s with ERR_INVALID_ARG_TYPE', (_name, target, message) => {
    for (const call of [() => configureKeepalive(target as never, { idle: 1000 }), () => readKeepalive(target as never)]) {
      const error = catchError(call)
      expect(error).toBeInstanceOf(TypeError)
      expect(error).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' })
      expect(error.message).toMatch(message)
    }
  })

  it.each([-1, 1.5, 2 ** 31, NaN])('rejects fd %d with ERR_OUT_OF_RANGE', (fd) => {
    const error = catchError(() => configureKeepalive(fd, { idle: 1000 }))
    expect(error).toBeInstanceOf(RangeError)
    expect(error).toMatchObject({ code: 'ERR_OUT_OF_RANGE' })
    expect(error.message).toMatch(/^The value of "target" is out of range. It must be an integer >= 0 && <= 2147483647/)
  })

  it('checks the options before the target state', async () => {
    const { client } = await tcpPair()
    client.destroy()
    expect(catchError(() => configureKeepalive(client, { idle: -5 }))).toMatchObject({ code: 'ERR_OUT_OF_RANGE' })
  })
})

function catchError(call: () => unknown): Error & { code?: string } {
  try {
    call()
  } catch (error) {
    return error as Error
  }
  throw new Error('expected the call to throw')
}
