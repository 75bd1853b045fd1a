// The LVS + nginx incident in the network lab, with the distribution's nginx:
// a middlebox forgets flows idle 3 s, the upstream answers after 6 s. Fixed by
// `tcp-keepalive apply` on the running nginx. Needs root and nginx; under CI=true it must run.
import { describe, expect, it } from 'vitest'
import { formatTable } from '../lib/cli/format.js'
import { labUnavailableReason } from '../lib/lab/netns.js'
import { nginxScenario, nginxUnavailableReason } from '../lib/lab/nginx.js'
import { canRun } from './helpers.js'

const unavailable = labUnavailableReason() ?? nginxUnavailableReason()
const runs = canRun(`the network lab with nginx: ${unavailable}`, unavailable === null)

describe.skipIf(!runs)('nginx behind a forgetting middlebox, repaired by tcp-keepalive apply', () => {
  it(
    'without keepalive the answer never arrives; after apply on the running nginx it does, for a waiting request and a new connection, as with so_keepalive',
    { timeout: 30_000 },
    async () => {
      const scenario = nginxScenario()
      const measurements = await scenario.run()
      const ms = (value: number | null) => (value === null ? '-' : `${value} ms`)
      const rows = measurements.map((m) => [m.label, m.expected, m.outcome, ms(m.measuredMs), ms(m.boundMs), m.ok ? 'ok' : 'FAILED'])
      console.log(`${scenario.title}\n${formatTable(['connection', 'expected', 'outcome', 'measured', 'bound', ''], rows)}\n`)

      const [apply, waiting, fresh, control, untouched] = measurements
      expect(apply.label).toMatch(/^tcp-keepalive apply \d+ \d+ --port 80 idle=1s interval=1s count=3 \(no restart\)$/)
      expect(apply.outcome).toMatch(/^exit 0, \d+ ms into the wait: 2 sockets set, timer armed, same pids$/)
      expect(apply.ok).toBe(true)
      for (const arrived of [waiting, fresh, control]) {
        expect(arrived.outcome).toBe('received')
        expect(arrived.measuredMs).toBeGreaterThanOrEqual(6_000)
        expect(arrived.measuredMs).toBeLessThanOrEqual(7_000)
      }
      expect(untouched).toMatchObject({ outcome: 'nothing arrived', measuredMs: null, ok: true })
      expect(measurements.every((m) => m.ok)).toBe(true)
    },
  )
})
