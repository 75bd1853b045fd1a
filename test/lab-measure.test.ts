// tcp-keepalive measure on paths whose truth the lab sets: which layer forgets
// an idle connection, how, and a range that holds the true value. Needs root
// and network namespaces; under CI=true it must run.
import { spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import type { IdleTimeoutReport } from '../lib/idle-timeout.js'
import { Lab } from '../lib/lab/lab.js'
import { CLI } from '../lib/lab/measure.js'
import { measurePath, measurePathScenario, resolutionMs } from '../lib/lab/measure-path.js'
import { labUnavailableReason } from '../lib/lab/netns.js'
import { canRun } from './helpers.js'

const unavailable = labUnavailableReason()
const runs = canRun(`the network lab: ${unavailable}`, unavailable === null)

describe.skipIf(!runs)(`tcp-keepalive measure in the network lab${runs ? '' : ` (skipped: ${unavailable})`}`, () => {
  it(
    'tells a silent middlebox, a resetting one, a server that closes and a path that keeps, each with its range',
    { timeout: 90_000 },
    async () => {
      const rows = await measurePathScenario().run()
      for (const row of rows) console.log(`${row.label}: ${row.outcome} (${row.measuredMs} ms)`)
      const report = (start: string) => rows.find((row) => row.label.startsWith(start))!.measure!.report
      for (const [start, how] of [
        ['middlebox forgets flows idle 3 s, silently', 'silent'],
        ['middlebox resets flows idle 3 s', 'reset'],
      ] as const) {
        const { forgetsAfter, serverClosesAfter, plan, how: found } = report(start)
        expect(found).toBe(how)
        expect(forgetsAfter!.low).toBeLessThanOrEqual(3_000)
        expect(forgetsAfter!.high).toBeGreaterThanOrEqual(3_000)
        expect(forgetsAfter!.high - forgetsAfter!.low).toBeLessThanOrEqual(resolutionMs(forgetsAfter!.high))
        expect(serverClosesAfter).toBeNull()
        // 2-3 s leaves no room for 3 probes 1 s apart before the box forgets: no plan, and the note says why.
        expect(plan).toBeNull()
      }
      const server = report('server closes connections idle 2 s')
      expect(server).toMatchObject({ forgetsAfter: null, how: null })
      expect(server.serverClosesAfter!.low).toBeLessThanOrEqual(2_000)
      expect(server.serverClosesAfter!.high).toBeGreaterThanOrEqual(2_000)
      expect(server.serverClosesAfter!.high - server.serverClosesAfter!.low).toBeLessThanOrEqual(200)
      const keeps = report('nothing forgets within --max 10s')
      expect(keeps).toMatchObject({ forgetsAfter: null, how: null, serverClosesAfter: null, maxMs: 10_000 })
      expect(keeps.elapsedMs).toBeLessThanOrEqual(10_000)
      expect(rows.every((row) => row.ok)).toBe(true)
    },
  )

  it(
    'refines: a box that forgets after 10 s is found between two whole seconds, and its plan keeps a flow alive',
    { timeout: 120_000 },
    async () => {
      const row = await measurePath({
        label: 'middlebox forgets flows idle 10 s, silently',
        lab: { forgetIdleFlowsAfterSeconds: 10 },
        listener: { port: 8001, mode: 'hold' },
        maxMs: 60_000,
        truth: { forgetsAfter: 10_000, how: 'silent', serverClosesAfter: null },
      })
      const report = row.measure!.report
      console.log(row.outcome, report.forgetsAfter, report.plan)
      expect(row.ok).toBe(true)
      expect(report.rounds).toBeGreaterThanOrEqual(2) // the first round's geometric grid leaves a gap of several seconds
      expect(report.forgetsAfter!.low).toBeGreaterThanOrEqual(9_000)
      // The plan measure prints is what plan prints for the lower end.
      const planned = spawnSync(process.execPath, [CLI, 'plan', '--idle-timeout', `${report.plan!.idleTimeout / 1000}s`, '--json'], {
        encoding: 'utf8',
      })
      expect(JSON.parse(planned.stdout).options).toEqual(report.plan!.options)
      // And the line it prints does what it says: a client under the preload with it gets data the server sends
      // after 12 s of silence through that box (without keepalive the box forgets the flow: lab.test.ts).
      const setting = /^TCP_KEEPALIVE="(.*)"$/.exec(report.plan!.line)![1]
      const lab = new Lab({ forgetIdleFlowsAfterSeconds: 10 })
      try {
        await lab.start('server', { role: 'server', host: lab.serverAddress, listeners: [{ port: 8001, mode: 'push', delayMs: 12_000 }] })
        const connections = [{ name: 'pooled', port: 8001 }]
        const client = await lab.start('client', { role: 'client', host: lab.serverAddress, connections }, { preload: setting })
        const data = await client.next((event) => event.event === 'data' || event.event === 'error', 15_000)
        expect(data).toMatchObject({ event: 'data', text: 'push\n' })
      } finally {
        lab.close()
      }
    },
  )

  it('a target that cannot be reached: exit 1 with one line (no route; a dead host)', { timeout: 30_000 }, () => {
    const lab = new Lab()
    try {
      const [command, ...prefix] = lab.namespaceCommand('client')
      const measure = (target: string) => spawnSync(command, [...prefix, process.execPath, CLI, 'measure', target], { encoding: 'utf8' })
      lab.cutLink('server') // the server host is gone: SYNs go out and nothing answers
      const dead = measure(`${lab.serverAddress}:8001`)
      expect(dead.status).toBe(1)
      expect(dead.stderr).toBe(
        `tcp-keepalive measure: ${lab.serverAddress}:8001: connect ETIMEDOUT ${lab.serverAddress}:8001 (no answer within 5 s)\n`,
      )
      // An address the client host has no route to (the lab's own documentation range, inside its namespace).
      spawnSync('ip', ['-n', prefix[2], 'route', 'del', 'default'])
      const noRoute = measure(`${lab.serverAddress}:8001`)
      expect(noRoute.status).toBe(1)
      expect(noRoute.stderr).toMatch(/^tcp-keepalive measure: \S+: connect ENETUNREACH /)
    } finally {
      lab.close()
    }
  })
})

export type { IdleTimeoutReport }
