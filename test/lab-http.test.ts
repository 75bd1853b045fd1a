// HTTP Keep-Alive is not TCP keepalive, in the network lab: the LVS incident with a Node http server,
// and the two reuse races (a proxy's upstream pool, a client's pool) counted over idle gaps swept across
// the closing side's timeout, on a path with a 100 ms RTT. Needs root, nginx and python3 (the delay
// line); under CI=true it must run.
import { execFileSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { formatTable } from '../lib/cli/format.js'
import { httpClientReuseScenario, httpIncidentScenario, httpProxyReuseScenario, PROXY_ROWS } from '../lib/lab/http-scenarios.js'
import { Lab } from '../lib/lab/lab.js'
import { delayRouter } from '../lib/lab/http-delay.js'
import { labUnavailableReason } from '../lib/lab/netns.js'
import { nginxUnavailableReason } from '../lib/lab/nginx.js'
import type { Measurement, Scenario } from '../lib/lab/scenarios.js'
import { canRun } from './helpers.js'

function python3UnavailableReason(): string | null {
  try {
    execFileSync('python3', ['--version'], { stdio: 'ignore' })
    return null
  } catch {
    return 'the delay line needs python3'
  }
}

const labUnavailable = labUnavailableReason()
const runs = canRun(`the network lab: ${labUnavailable}`, labUnavailable === null)
const racesUnavailable = labUnavailable ?? nginxUnavailableReason() ?? python3UnavailableReason()
const racesRun = canRun(`the network lab with nginx and python3: ${racesUnavailable}`, racesUnavailable === null)

async function run(scenario: Scenario): Promise<Measurement[]> {
  const measurements = await scenario.run()
  const rows = measurements.map((m) => [
    m.label,
    m.expected,
    m.outcome,
    m.measuredMs === null ? '-' : `${m.measuredMs} ms`,
    m.ok ? 'ok' : 'FAILED',
  ])
  console.log(`${scenario.title}\n${formatTable(['row', 'expected', 'outcome', 'measured', ''], rows)}\n`)
  return measurements
}

describe.skipIf(!runs)('HTTP Keep-Alive is not TCP keepalive: the incident', () => {
  it(
    'behind a middlebox resetting flows idle 3 s, a 6 s answer never arrives with keepAliveTimeout raised; with keepaliveServer it does',
    { timeout: 30_000 },
    async () => {
      const [plain, raised, keepalive] = await run(httpIncidentScenario(3))
      for (const row of [plain, raised]) {
        // The client hears nothing; the server's answer met the middlebox's RST.
        expect(row).toMatchObject({ outcome: "nothing within 8 s, the connection still open; the server's socket: ECONNRESET", ok: true })
      }
      expect(raised.label).toContain('keepAliveTimeout = 120_000')
      expect(keepalive.outcome).toBe('answered 200')
      expect(keepalive.measuredMs).toBeGreaterThanOrEqual(6_000)
      expect(keepalive.measuredMs).toBeLessThanOrEqual(7_000)
      expect(keepalive.ok).toBe(true)
    },
  )
})

describe.skipIf(!racesRun)('HTTP Keep-Alive is not TCP keepalive: the reuse races (RTT 100 ms)', () => {
  it('the delay line gives the path its round-trip time, both ways', { timeout: 20_000 }, async () => {
    const lab = new Lab()
    try {
      await delayRouter(lab, 50)
      const script = `require('node:net').createServer((s) => s.pipe(s)).listen(7000, '${lab.serverAddress}', () => console.log('up'))`
      const echo = lab.spawn('server', [process.execPath, '-e', script])
      await new Promise((resolve) => echo.stdout!.once('data', resolve))
      // Five round trips on one connection, timed in the client's namespace.
      const client = `
        const socket = require('node:net').connect(7000, '${lab.serverAddress}', async () => {
          const rtts = []
          for (let i = 0; i < 5; i++) {
            const start = performance.now()
            socket.write('x')
            await new Promise((resolve) => socket.once('data', resolve))
            rtts.push(performance.now() - start)
          }
          console.log(JSON.stringify(rtts))
          process.exit(0)
        })`
      const out = execFileSync(
        lab.namespaceCommand('client')[0],
        [...lab.namespaceCommand('client').slice(1), process.execPath, '-e', client],
        {
          encoding: 'utf8',
        },
      )
      const rtts = JSON.parse(out) as number[]
      console.log('round trips through the delay line (ms):', rtts.map((rtt) => rtt.toFixed(1)).join(', '))
      for (const rtt of rtts) {
        expect(rtt).toBeGreaterThanOrEqual(100)
        expect(rtt).toBeLessThan(150)
      }
    } finally {
      lab.close()
    }
  })

  it(
    "a proxy reusing upstream connections: POSTs at gaps across the server's keepAliveTimeout get some 502s; with it above the proxy's idle, none",
    { timeout: 90_000 },
    async () => {
      const measurements = await run(httpProxyReuseScenario())
      expect(measurements).toHaveLength(PROXY_ROWS.length)
      expect(PROXY_ROWS[0].races).toBe(true) // the first row races; the same POSTs go to every row's server
      const requests = measurements[0].reuseRace!.requests
      expect(requests).toBeGreaterThanOrEqual(100)
      PROXY_ROWS.forEach(({ races }, i) => {
        const { label, outcome, reuseRace, ok } = measurements[i]
        const race = reuseRace!
        console.log(`${label}: ${race.failed} of ${race.requests} got 502, at gaps ${race.failedGapsMs.join(', ') || '-'} ms`)
        expect(race.requests).toBe(requests)
        if (races) {
          expect(race.failed).toBeGreaterThan(0)
          expect(race.kinds).toEqual({ 502: race.failed })
          expect(outcome).toMatch(/nginx: [1-9]\d* x upstream prematurely closed/)
        } else {
          // A control: every POST on a reused upstream connection, not one 502.
          expect(race).toMatchObject({ failed: 0, reused: requests })
        }
        expect(ok).toBe(true)
      })
    },
  )

  it(
    "pooled clients reusing sockets the server closes unannounced: http.Agent and undici lose some requests; with their idle timeout below the server's, none",
    { timeout: 60_000 },
    async () => {
      const [agent, agentBelow, undici, undiciBelow] = await run(httpClientReuseScenario())
      for (const [row, kind] of [
        [agent, 'ECONNRESET (socket hang up)'],
        [undici, 'UND_ERR_SOCKET (other side closed)'],
      ] as const) {
        const race = row.reuseRace!
        console.log(`${row.label}: ${race.failed} of ${race.requests} failed, at gaps ${race.failedGapsMs.join(', ')} ms`)
        expect(race.requests).toBeGreaterThanOrEqual(100)
        expect(race.failed).toBeGreaterThan(0)
        expect(Object.keys(race.kinds)).toEqual([kind])
        expect(row.ok).toBe(true)
      }
      for (const row of [agentBelow, undiciBelow]) {
        // Still reusing sockets idle less than its own timeout, and never one the server closed.
        expect(row.reuseRace).toMatchObject({ failed: 0, reused: expect.any(Number) })
        expect(row.reuseRace!.reused).toBeGreaterThan(0)
        expect(row.ok).toBe(true)
      }
    },
  )
})
