// `tcp-keepalive measure <host>:<port>`: how long the path, and separately the
// server, keep an idle connection, found with keepalive probes alone.
import { parseArgs } from 'node:util'
import { parseDuration } from '../environment.js'
import { type IdleTimeoutReport, measureIdleTimeout, type MeasureProgress, type Range } from '../idle-timeout.js'
import { type Command, CommandError, UsageError } from './command.js'
import { formatDuration } from './format.js'

const HELP = `Usage: tcp-keepalive measure <host>:<port> [--max <duration>] [--connections <n>] [--json]

Finds how long the network path to a TCP server keeps an idle connection
(a NAT, firewall or load balancer that forgets idle flows), and separately
whether the server closes idle connections itself. It sends no data: a few
connections at once, each with its own keepalive idle, and watches which
keepalive probes are answered, dropped (ETIMEDOUT) or reset (ECONNRESET).
The result is a range as narrow as the kernel's whole-second idle allows.

Options:
  --max <d>          Longest the measurement may take (default 15m); a path that
                     forgets later than this is reported as not forgetting
  --connections <n>  Connections open at once (default 8, 2 to 64)
  --json             Print the report as JSON
  -h, --help         Show this help
`

/** host:port, [v6]:port. */
function parseTarget(text: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):([0-9]+)$/.exec(text)
  const port = match ? Number(match[3]) : NaN
  if (!match || !(port >= 1 && port <= 65_535)) {
    throw new UsageError(`the target is <host>:<port> (e.g. db.internal:5432 or [::1]:8080), got '${text}'`)
  }
  return { host: match[1] ?? match[2], port }
}

/** Exact to the ms below 10 min (a range's ends are measured, not rounded), in minutes above. */
const duration = (ms: number) => (ms < 600_000 ? `${ms / 1000} s` : formatDuration(ms))
const range = ({ low, high }: Range) => `more than ${duration(low)} and at most ${duration(high)}`
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`

export const measure: Command = {
  summary: 'Measure how long the path and the server keep an idle connection (keepalive probes, no data)',
  help: HELP,
  async run(argv, out) {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        max: { type: 'string' },
        connections: { type: 'string' },
        json: { type: 'boolean', default: false },
      },
    })
    if (positionals.length !== 1) throw new UsageError('give one target, <host>:<port>')
    const { host, port } = parseTarget(positionals[0])
    let max: number | undefined
    if (values.max !== undefined) {
      max = parseDuration(values.max) ?? undefined
      if (max === undefined) throw new UsageError(`--max takes a duration with ms, s, m or h (e.g. 10m), got '${values.max}'`)
      if (max < 5000) throw new UsageError(`--max must be at least 5s, got '${values.max}'`)
    }
    let connections: number | undefined
    if (values.connections !== undefined) {
      connections = /^[0-9]+$/.test(values.connections) ? Number(values.connections) : NaN
      if (!(connections >= 2 && connections <= 64)) {
        throw new UsageError(`--connections takes a whole number from 2 to 64, got '${values.connections}'`)
      }
    }

    // On a terminal, one line that says which round runs and how much of the budget is used, redrawn each second.
    const live = !values.json && out.isTTY === true
    const started = Date.now()
    let round: MeasureProgress | undefined
    const redraw = () => {
      if (!round) return
      const idles = round.idles.map((idle) => formatDuration(idle)).join(', ')
      out.write(
        `\r\x1b[Kround ${round.round}: idle ${idles} (${formatDuration(Date.now() - started)} of at most ${formatDuration(round.maxMs)})`,
      )
    }
    const ticker = live ? setInterval(redraw, 1000) : undefined
    let report: IdleTimeoutReport
    try {
      report = await measureIdleTimeout({
        host,
        port,
        max,
        connections,
        onProgress: live
          ? (progress) => {
              round = progress
              redraw()
            }
          : undefined,
      })
    } catch (error) {
      const { code } = error as NodeJS.ErrnoException
      if (typeof code === 'string' && !code.startsWith('ERR_')) throw new CommandError(`${positionals[0]}: ${(error as Error).message}`)
      throw error
    } finally {
      clearInterval(ticker)
      if (live) out.write('\r\x1b[K')
    }
    if (values.json) {
      out.write(`${JSON.stringify(report, null, 2)}\n`)
      return 0
    }
    out.write(
      `${positionals[0]} (${report.target.address}): ${plural(report.connections, 'connection')} in ${plural(report.rounds, 'round')}, ${formatDuration(report.elapsedMs)}\n\n`,
    )
    const { forgetsAfter, how, serverClosesAfter } = report
    out.write(
      forgetsAfter
        ? `The path forgets an idle flow after ${range(forgetsAfter)}: ${how === 'reset' ? 'it resets it (ECONNRESET at the next probe), as LVS does' : 'silently (probes dropped, ETIMEDOUT), as a NAT or firewall does'}.\n`
        : `The path: no idle flow forgotten${report.survivedIdle > 0 ? ` (probes answered after ${duration(report.survivedIdle)} idle)` : ''}.\n`,
    )
    out.write(
      serverClosesAfter
        ? `The server closes idle connections itself after ${range(serverClosesAfter)}.\n`
        : 'The server: closed no idle connection while measuring.\n',
    )
    for (const note of report.notes) out.write(`- ${note}\n`)
    if (report.plan)
      out.write(`\nKeep such flows known (tcp-keepalive plan --idle-timeout ${report.plan.idleTimeout / 1000}s):\n${report.plan.line}\n`)
    return 0
  },
}
