// `tcp-keepalive demo --network`: the lab scenarios run live (root, Linux),
// with progress against the expected time, then one table of outcomes.
import type { Writable } from 'node:stream'
import { labUnavailableReason } from '../lab/netns.js'
import { allScenarios, type Measurement, type Scenario } from '../lab/scenarios.js'
import { CommandError, UsageError } from './command.js'
import { formatDuration, formatTable } from './format.js'

/**
 * With `json`, no progress: one JSON document of every scenario's measurements at the end. `only`: the ids of the
 * scenarios to run (all by default).
 */
export async function networkDemo(out: Writable & { isTTY?: boolean }, json = false, only?: string[]): Promise<number> {
  const scenarios = allScenarios()
  const unknown = only?.filter((id) => !scenarios.some((scenario) => scenario.id === id))
  if (unknown?.length) {
    throw new UsageError(`--scenario: unknown '${unknown.join("', '")}'; scenarios: ${scenarios.map(({ id }) => id).join(', ')}`)
  }
  const chosen = only ? scenarios.filter(({ id }) => only.includes(id)) : scenarios
  const unavailable = labUnavailableReason()
  if (unavailable) throw new CommandError(`--network: ${unavailable}`)

  const results: Array<{ scenario: Scenario; measurements: Measurement[] }> = []
  const allOk = () => results.every(({ measurements }) => measurements.every((m) => m.ok))
  if (json) {
    for (const scenario of chosen) results.push({ scenario, measurements: await scenario.run() })
    const scenarios = results.map(({ scenario: { id, title }, measurements }) => ({ id, title, measurements }))
    out.write(`${JSON.stringify({ ok: allOk(), scenarios }, null, 2)}\n`)
    return allOk() ? 0 : 1
  }
  for (const scenario of chosen) {
    const started = Date.now()
    const progress = () => `  ${scenario.title}: ${formatDuration(Date.now() - started)} of about ${formatDuration(scenario.expectedMs)}`
    let timer: NodeJS.Timeout | undefined
    if (out.isTTY) timer = setInterval(() => out.write(`\r${progress()}\x1b[K`), 100)
    else out.write(`  ${scenario.title} (about ${formatDuration(scenario.expectedMs)})...\n`)
    try {
      results.push({ scenario, measurements: await scenario.run() })
    } finally {
      clearInterval(timer)
    }
    const result = results.at(-1)!
    const verdict = result.measurements.every((m) => m.ok) ? 'as expected' : 'NOT as expected'
    const overwrite = out.isTTY ? '\r\x1b[K' : '' // replace the progress line
    out.write(`${overwrite}  ${scenario.title}: ${verdict} (${formatDuration(Date.now() - started)})\n`)
  }

  const rows = results.flatMap(({ scenario, measurements }) =>
    measurements.map((m, i) => [
      i === 0 ? scenario.title : '',
      m.label,
      m.outcome,
      m.measuredMs === null ? '-' : `${m.measuredMs} ms`,
      m.expected,
      m.ok ? 'ok' : 'FAILED',
    ]),
  )
  out.write(`\n${formatTable(['scenario', 'connection', 'outcome', 'measured', 'expected', ''], rows)}\n`)
  for (const { scenario, measurements } of results) {
    for (const { label, timeline } of measurements) {
      if (!timeline?.length) continue
      out.write(`\nProbe timeline (TCP_INFO), ${scenario.title.toLowerCase()}, ${label}:\n`)
      out.write(`  ${'0 ms'.padStart(8)}  last packet, then silence\n`)
      for (const { atMs, what } of timeline) out.write(`  ${`${atMs} ms`.padStart(8)}  ${what}\n`)
    }
  }
  return allOk() ? 0 : 1
}
