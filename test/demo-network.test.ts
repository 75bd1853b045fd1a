// tcp-keepalive demo --network: every lab scenario run live by the command a
// user runs, as text and as JSON. (The scenarios' own assertions are in
// lab.test.ts; this proves the command around them.) Needs root and network
// namespaces; under CI=true it must run.
import { describe, expect, it } from 'vitest'
import { labUnavailableReason } from '../lib/lab/netns.js'
import { allScenarios } from '../lib/lab/scenarios.js'
import { canDropRoot, expectOneLineFailure, run } from './cli-run.js'
import { canRun } from './helpers.js'

describe('tcp-keepalive demo --network', () => {
  const unavailable = labUnavailableReason()

  it.skipIf(!canRun(`the network lab: ${unavailable}`, unavailable === null))(
    'runs the lab scenarios chosen with --scenario live and ends with a table of outcomes (all of them: --json below)',
    { timeout: 300_000 },
    () => {
      const { code, stdout } = run(['demo', '--network', '--scenario', 'dead-peer,nginx,measure'])
      expect(code, stdout).toBe(0)
      expect(stdout.match(/: as expected \(/g)).toHaveLength(3)
      expect(stdout).toMatch(/^ +middlebox resets flows idle 3 s \(LVS\) +forgets after \d+–\d+ ms \(reset\)/m)
      expect(stdout).toMatch(/^Dead peer: the server's link is cut while idle +idle 1 s, interval 1 s, count 2 +ETIMEDOUT +\d+ ms/m)
      expect(stdout).toMatch(/^ +kernel defaults \(keepalive on\) +still open +- /m)
      expect(stdout).toMatch(
        /^nginx behind a middlebox .* +tcp-keepalive apply \d+ \d+ --port 80 idle=1s interval=1s count=3 \(no restart\) +exit 0, /m,
      )
    },
  )

  it.skipIf(!canRun(`the network lab: ${unavailable}`, unavailable === null))(
    '--json: one JSON document of every measurement, no progress lines',
    { timeout: 300_000 },
    () => {
      const { code, stdout } = run(['demo', '--network', '--json'])
      const { ok, scenarios } = JSON.parse(stdout)
      // The rows that failed, named, before the verdict: a failure says which scenario and what happened.
      type Row = { ok: boolean; label: string; outcome: string }
      const failed = scenarios.flatMap(({ id, measurements }: { id: string; measurements: Row[] }) =>
        measurements.filter((m) => !m.ok).map((m) => `${id}: ${m.label}: ${m.outcome}`),
      )
      expect(failed).toEqual([])
      expect(code).toBe(0)
      expect(ok).toBe(true)
      expect(scenarios.map((scenario: { id: string }) => scenario.id)).toEqual(allScenarios().map((scenario) => scenario.id))
      for (const id of ['hung-peer-idle', 'hung-peer-data', 'per-hop', 'lossy-link']) {
        const { measurements } = scenarios.find((scenario: { id: string }) => scenario.id === id)
        expect(measurements.length).toBeGreaterThanOrEqual(3) // with their control rows
        expect(measurements.every((m: { ok: boolean }) => m.ok)).toBe(true)
      }
      const lossy = scenarios.find((scenario: { id: string }) => scenario.id === 'lossy-link')
      expect(lossy.measurements[0].falseDrops).toMatchObject({ measured: expect.any(Number), predicted: expect.any(Number) })
      // HTTP Keep-Alive is not TCP keepalive: each failing row with its control.
      for (const id of ['http-incident', 'http-proxy-reuse', 'http-client-reuse']) {
        const { measurements } = scenarios.find((scenario: { id: string }) => scenario.id === id)
        expect(measurements.length).toBeGreaterThanOrEqual(2)
        expect(measurements.every((m: { ok: boolean }) => m.ok)).toBe(true)
      }
      const proxyReuse = scenarios.find((scenario: { id: string }) => scenario.id === 'http-proxy-reuse')
      expect(proxyReuse.measurements[0].reuseRace).toMatchObject({ failed: expect.any(Number), requests: expect.any(Number) })
      const deadPeer = scenarios.find((scenario: { id: string }) => scenario.id === 'dead-peer')
      expect(deadPeer.measurements[0]).toMatchObject({ outcome: 'ETIMEDOUT', ok: true, measuredMs: expect.any(Number) })
    },
  )

  it('--scenario: only with --network, and only known ids (exit 2, the list)', () => {
    expectOneLineFailure(run(['demo', '--scenario', 'measure']), 2, '--scenario goes with --network')
    expectOneLineFailure(
      run(['demo', '--network', '--scenario', 'measure,dead-peers']),
      2,
      "--scenario: unknown 'dead-peers'; scenarios: middlebox, dead-peer,",
    )
  })

  it.skipIf(!canDropRoot)('as an unprivileged user: exit 1 with one line, not a stack trace', () => {
    expectOneLineFailure(run(['demo', '--network'], {}, 'nobody'), 1, 'tcp-keepalive demo: --network: the network lab needs root')
  })
})
