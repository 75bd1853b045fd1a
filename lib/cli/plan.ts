// `tcp-keepalive plan`: from the network's idle timeout and the detection
// bound to settings, printed with the reasoning and ready to paste.
import { parseArgs } from 'node:util'
import { parseDuration } from '../environment.js'
import { IDLE_TIMEOUT_PRESETS, type IdleTimeoutPreset, planKeepalive } from '../plan.js'
import { type Command, UsageError } from './command.js'

const HELP = `Usage: tcp-keepalive plan [--idle-timeout <duration> | --preset <name>] [--detect-within <duration>] [--count <n>] [--json]

Turns "the network forgets idle flows after T" and "find a dead peer within D"
into idle, interval, count and userTimeout, with the reasoning. Durations take
ms, s, m or h (350s, 4m).

Options:
  --idle-timeout <d>   The middlebox (NAT, firewall, load balancer) forgets idle flows after this
  --preset <name>      A published idle timeout instead: ${Object.keys(IDLE_TIMEOUT_PRESETS).join(', ')}
  --detect-within <d>  Find a dead peer within this
  --count <n>          Unanswered probes before giving up (default 3)
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
        json: { type: 'boolean', default: false },
      },
    })
    const duration = (flag: 'idle-timeout' | 'detect-within') => {
      const text = values[flag]
      if (text === undefined) return undefined
      const ms = parseDuration(text)
      if (ms === null) throw new UsageError(`--${flag} takes a duration with ms, s, m or h (e.g. 350s), got '${text}'`)
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
    const count = values.count === undefined ? undefined : /^\d+$/.test(values.count) ? Number(values.count) : NaN
    let planned: ReturnType<typeof planKeepalive>
    try {
      planned = planKeepalive({ idleTimeout, detectWithin, count })
    } catch (error) {
      throw new UsageError((error as Error).message)
    }
    const { idle, interval, userTimeout, reasoning } = planned
    const options = { idle, interval, count: planned.count, userTimeout }
    if (values.json) {
      out.write(`${JSON.stringify({ middlebox: middlebox ?? null, options, detection: planned.detection, reasoning }, null, 2)}\n`)
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
