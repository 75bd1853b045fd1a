// The tcp-keepalive command as a user runs it: the built bin in a child process.
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { formatDuration } from '../lib/cli/format.js'
import { deadPeerDetectionMs } from '../lib/detection.js'

const bin = path.join(__dirname, '..', 'dist', 'cli', 'main.js')

function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  const result = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, ...env } })
  return { code: result.status, stdout: result.stdout, stderr: result.stderr }
}

describe('tcp-keepalive', () => {
  it('prints usage: exit 0 with --help, 2 without a command or with an unknown one', () => {
    expect(run(['--help'])).toMatchObject({ code: 0, stdout: expect.stringContaining('Usage: tcp-keepalive <command>') })
    expect(run([])).toMatchObject({ code: 2, stderr: expect.stringContaining('Usage: tcp-keepalive <command>') })
    expect(run(['frobnicate'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/^tcp-keepalive: unknown command 'frobnicate'/) })
  })
})

describe('tcp-keepalive demo', () => {
  it('prints one row per profile with the values the kernel holds', () => {
    const { code, stdout } = run(['demo'])
    expect(code).toBe(0)
    expect(stdout).toMatch(/^tcp-keepalive: native binding/)
    expect(stdout).toMatch(/^kernel defaults +no +2 h +1 min 15 s +9 +default +- +never \(keepalive off\)$/m)
    expect(stdout).toMatch(/^fast dead-peer detection +yes +10 s +5 s +3 +25 s +\S+ s +25 s$/m)
    expect(stdout).toMatch(/^rounded up to seconds +yes +2 s +1 s /m)
  })

  it('--json: the kernel values, an armed ss timer per enabled row, and detection times derived from them', () => {
    const { code, stdout } = run(['demo', '--json', '--idle', '20000', '--count', '4', '--user-timeout', '30000'])
    expect(code).toBe(0)
    const { support, rows } = JSON.parse(stdout)
    expect(support.native).toBe(true)
    const byName = Object.fromEntries(rows.map((row: { profile: string }) => [row.profile, row]))
    expect(byName['Node alone'].kernel).toMatchObject({ enabled: true, idle: 60_000, interval: 1_000, count: 10 })
    expect(byName['behind AWS NLB (350 s idle)'].kernel).toMatchObject({ idle: 300_000, interval: 15_000, count: 3 })
    expect(byName['sticky (as http.Agent reuse)'].kernel).toMatchObject({ idle: 45_000, count: 4 })
    expect(byName['your settings'].kernel).toMatchObject({ enabled: true, idle: 20_000, count: 4, userTimeout: 30_000 })
    for (const row of rows) {
      expect(row.deadPeerDetection).toBe(deadPeerDetectionMs(row.kernel))
      if (row.kernel.enabled) {
        expect(row.ssTimer).toBeGreaterThan(0)
        expect(row.ssTimer).toBeLessThanOrEqual(row.kernel.idle)
      } else {
        expect(row.ssTimer).toBeNull()
      }
    }
  })

  it('rejects bad arguments with exit 2 and a one-line reason, no stack trace', () => {
    for (const [args, reason] of [
      [['demo', '--idle', 'abc'], "--idle must be a number, got 'abc'"],
      [['demo', '--idle=-5'], 'The value of "options.idle" is out of range'],
      [['demo', '--count', '1.5'], 'It must be an integer >= 1 && <= 127. Received 1.5'],
      [['demo', '--bogus'], "Unknown option '--bogus'"],
    ] as const) {
      const { code, stderr } = run([...args])
      expect(code).toBe(2)
      expect(stderr).toContain(reason)
      expect(stderr).not.toMatch(/^\s+at /m)
    }
  })

  it('in fallback mode says so and reads nothing back', () => {
    const { code, stdout } = run(['demo'], { TCP_KEEPALIVE_FORCE_FALLBACK: '1', NODE_NO_WARNINGS: '1' })
    expect(code).toBe(0)
    expect(stdout).toContain("fallback to Node's setKeepAlive (TCP_KEEPALIVE_FORCE_FALLBACK=1 is set)")
    // Our read reports nothing; ss shows the 60 s idle Node applied, already ticking down.
    expect(stdout).toMatch(/^Node alone +\? +- +- +- +- +(5\d(\.\d)? s|1 min) +-$/m)
  })
})

describe('formatDuration', () => {
  it.each([
    [null, '-'],
    [500, '500 ms'],
    [4_500, '4.5 s'],
    [59_999, '59.9 s'],
    [60_000, '1 min'],
    [330_000, '5 min 30 s'],
    [7_200_000, '2 h'],
    [7_199_999, '1 h 59 min 59 s'],
  ])('%s ms → %s', (ms, text) => expect(formatDuration(ms)).toBe(text))
})

describe('deadPeerDetectionMs', () => {
  const on = { enabled: true, idle: 10_000, interval: 5_000, count: 3, userTimeout: 0 }
  it.each([
    [on, 25_000],
    [{ ...on, userTimeout: 25_000 }, 25_000],
    [{ ...on, userTimeout: 12_000 }, 15_000], // at least one probe must be unanswered
    [{ ...on, userTimeout: 1_000 }, 15_000],
    [{ ...on, userTimeout: 40_000 }, 40_000], // count is ignored once a user timeout is set
    [{ ...on, userTimeout: 41_000 }, 45_000],
    [{ ...on, enabled: false }, null],
    [{ ...on, idle: null }, null],
  ])('%o → %s', (state, expected) => {
    expect(deadPeerDetectionMs(state)).toBe(expected)
  })
})
