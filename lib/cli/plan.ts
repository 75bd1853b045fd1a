// `tcp-keepalive plan`: from the network's idle timeout, the detection bound
// and its loss rate to settings, printed with the reasoning and ready to paste.
import { parseArgs } from 'node:util'
import { parseDuration } from '../environment.js'
import { IDLE_TIMEOUT_PRESETS, type IdleTimeoutPreset, planKeepalive } from '../plan.js'
import { type Command, UsageError } from './command.js'

const HELP = `Usage: tcp-keepalive plan [--idle-timeout <duration> | --preset <name>] [--detect-within <duration>] [--count <n>]
                          [--loss <percent> [--connections <n>] [--false-drops-per-year <n>]] [--json]

Turns "the network forgets idle flows after T", "find a dead peer within D"
and "the link loses p of its packets" into idle, interval, count and
userTimeout, with the reasoning. Durations take ms, s, m or h (350s, 4m).

Options:
  --idle-timeout <d>   The middlebox (NAT, firewall, load balancer) forgets idle flows after this
  --preset <name>      A published idle timeout instead: ${Object.keys(IDLE_TIMEOUT_PRESETS).join(', ')}
  --detect-within <d>  Find a dead peer within this
  --count <n>          Unanswered probes before giving up (default 3; with --loss, the smallest from 3 up within the budget)
  --loss <p%>          Packets lost each way (e.g. 1%): the expected false drops of healthy connections
  --connections <n>    How many connections the false-drop budget is for (default 1)
  --false-drops-per-year <n>
                       Expected false drops a year allowed over all connections (default 1)
  --json               Print the plan as JSON
  -h, --help           Show this help
`

export const plan: Command = {
  summary: "Plan keepalive settings from the network's idle timeout and how fast to find a dead peer",
  help: HELP,
  async run(argv, out) {
    const { values } = parseArgs({
      args: argv,
      options: {
        'idle-timeout': { type: 'string' },
        preset: { type: 'string' },
        'detect-within': { type: 'string' },
        count: { type: 'string' },
        loss: { type: 'string' },
        connections: { type: 'string' },
        'false-drops-per-year': { type: 'string' },
        json: { type: 'boolean', default: false },
      },
    })
    const duration = (flag: 'idle-timeout' | 'detect-within') => {
      const text = values[flag]
      if (text === undefined) return undefined
      const ms = parseDuration(text)
      if (ms === null) throw new UsageError(`--${flag} takes a duration with ms, s, m or h (e.g. 350s), got '${text}'`)
      // planKeepalive's floor, in the flag's words rather than "request.idleTimeout >= 2000 (ms)".
      if (ms < 2_000) throw new UsageError(`--${flag} is at least 2s (a probe needs a second before it), got '${text}'`)
      return ms
    }
    if (values.preset !== undefined && values['idle-timeout'] !== undefined)
      throw new UsageError('give --idle-timeout or --preset, not both')
    let idleTimeout = duration('idle-timeout')
    let middlebox: string | undefined
    if (values.preset !== undefined) {
      if (!Object.hasOwn(IDLE_TIMEOUT_PRESETS, values.preset)) {
        throw new UsageError(`unknown preset '${values.preset}'; presets: ${Object.keys(IDLE_TIMEOUT_PRESETS).join(', ')}`)
      }
      ;({ idleTimeout, what: middlebox } = IDLE_TIMEOUT_PRESETS[values.preset as IdleTimeoutPreset])
    }
    const detectWithin = duration('detect-within')
    if (idleTimeout === undefined && detectWithin === undefined)
      throw new UsageError('give --idle-timeout (or --preset), --detect-within, or both')
    // ASCII digits only: Number() would take '0x10' or ' 3', and \d in a /u-less pattern is ASCII anyway.
    const whole = (flag: 'count' | 'connections', what: string) => {
      const text = values[flag]
      if (text === undefined) return undefined
      if (!/^[0-9]+$/.test(text)) throw new UsageError(`--${flag} takes a whole number of ${what}, got '${text}'`)
      return Number(text)
    }
    const count = whole('count', 'probes')
    const connections = whole('connections', 'connections')
    let loss: number | undefined
    if (values.loss !== undefined) {
      const match = /^([0-9]+(?:\.[0-9]+)?)%$/.exec(values.loss)
      if (!match) throw new UsageError(`--loss takes a percentage (e.g. 1% or 0.5%), got '${values.loss}'`)
      loss = Number(match[1]) / 100
    }
    let falseDropsPerYear: number | undefined
    const budget = values['false-drops-per-year']
    if (budget !== undefined) {
      if (!/^[0-9]+(?:\.[0-9]+)?$/.test(budget))
        throw new UsageError(`--false-drops-per-year takes a number (e.g. 1 or 0.1), got '${budget}'`)
      falseDropsPerYear = Number(budget)
    }
    if (loss === undefined && (connections !== undefined || falseDropsPerYear !== undefined))
      throw new UsageError('--connections and --false-drops-per-year need --loss')
    let planned: ReturnType<typeof planKeepalive>
    try {
      planned = planKeepalive({ idleTimeout, detectWithin, count, loss, connections, falseDropsPerYear })
    } catch (error) {
      throw new UsageError((error as Error).message)
    }
    const { idle, interval, userTimeout, reasoning, falseDrops } = planned
    const options = { idle, interval, count: planned.count, userTimeout }
    if (values.json) {
      const plan = { middlebox: middlebox ?? null, options, detection: planned.detection, falseDrops, reasoning }
      out.write(`${JSON.stringify(plan, null, 2)}\n`)
      return 0
    }
    const s = (ms: number) => `${ms / 1000}s`
    if (middlebox) out.write(`${middlebox}\n\n`)
    out.write(`${reasoning.map((line) => `- ${line}`).join('\n')}\n\n`)
    out.write(`configureKeepalive(socket, ${JSON.stringify(options).replace(/"/g, '').replace(/,/g, ', ').replace(/:/g, ': ')})\n`)
    out.write(`TCP_KEEPALIVE="idle=${s(idle)} interval=${s(interval)} count=${planned.count} user-timeout=${s(userTimeout)}"\n`)
    return 0
  },
}
