// `tcp-keepalive plan`: from the network's idle timeout, the detection bound
// and its loss rate to settings, printed with the reasoning and ready to paste.
import { parseArgs } from 'node:util'
import { parseDuration } from '../environment.js'
import { type KeepalivePlan, type LayerPlan, planLayers, tcpKeepaliveLine } from '../plan.js'
import { type Behind, IDLE_TIMEOUT_PRESETS, PRESET_NAMES } from '../presets.js'
import { type Command, UsageError } from './command.js'

const HELP = `Usage: tcp-keepalive plan [--behind <preset> | --idle-timeout <duration> [--layer tcp|http]] [--detect-within <duration>]
                          [--count <n>] [--loss <percent> [--connections <n>] [--false-drops-per-year <n>]]
                          [--json | --format sysctl|kubernetes]

Turns "the box in front forgets idle connections after T", "find a dead peer
within D" and "the link loses p of its packets" into settings for each layer:
TCP keepalive (idle, interval, count, userTimeout, with the reasoning), a Node
server's keepAliveTimeout and headersTimeout, and Node clients' idle-socket
timeout. Durations take ms, s, m or h (350s, 4m).

Options:
  --behind <name>      A box whose idle timeout its vendor publishes: ${PRESET_NAMES}
  --preset <name>      The same as --behind
  --idle-timeout <d>   The box (NAT, firewall, load balancer, proxy) forgets idle connections after this
  --layer tcp|http     What that box is: tcp passes TCP through (keepalive probes count as activity, the default),
                       http terminates HTTP (only data counts: TCP keepalive does not keep it open)
  --detect-within <d>  Find a dead peer within this
  --count <n>          Unanswered probes before giving up (default 3; with --loss, the smallest from 3 up within the budget)
  --loss <p%>          Packets lost each way (e.g. 1%): the expected false drops of healthy connections
  --connections <n>    How many connections the false-drop budget is for (default 1)
  --false-drops-per-year <n>
                       Expected false drops a year allowed over all connections (default 1)
  --json               Print the plan as JSON
  --format <f>         Print only the TCP plan as sysctl.d lines (sysctl) or a pod's securityContext (kubernetes),
                       for workloads that cannot load this package
  -h, --help           Show this help
`

/** The kernel's keepalive defaults (whole seconds), per network namespace, for sockets that enable SO_KEEPALIVE and set no values of their own. */
function sysctls(tcp: KeepalivePlan): Array<[string, number]> {
  return [
    ['net.ipv4.tcp_keepalive_time', tcp.idle / 1000],
    ['net.ipv4.tcp_keepalive_intvl', tcp.interval / 1000],
    ['net.ipv4.tcp_keepalive_probes', tcp.count],
  ]
}

function sysctlFile(tcp: KeepalivePlan): string {
  return (
    '# sysctl.d: the kernel defaults for sockets that enable SO_KEEPALIVE and set no values of their own, in this network namespace\n' +
    `# (TCP_USER_TIMEOUT, user-timeout=${tcp.userTimeout / 1000}s here, has no sysctl: it is set per socket)\n` +
    sysctls(tcp)
      .map(([name, value]) => `${name} = ${value}\n`)
      .join('')
  )
}

function kubernetesBlock(tcp: KeepalivePlan): string {
  return (
    "# In a pod's spec: the pod's kernel defaults for sockets that enable SO_KEEPALIVE (safe sysctls since Kubernetes 1.29, kernel 4.5+)\n" +
    'securityContext:\n  sysctls:\n' +
    sysctls(tcp)
      .map(([name, value]) => `    - name: ${name}\n      value: "${value}"\n`)
      .join('')
  )
}

/** JS object literals as printed for the user to paste: { keepAliveTimeout: 65000, headersTimeout: 66000 }. */
function literal(object: object): string {
  return `{ ${Object.entries(object)
    .map(([key, value]) => `${key}: ${JSON.stringify(value)}`)
    .join(', ')} }`
}

function text(planned: LayerPlan): string {
  const { box, tcp, httpServer, httpClient, notes } = planned
  let out = ''
  if (box?.source) out += `${box.what}\n${box.source}\n\n`
  if (tcp) {
    const { idle, interval, count, userTimeout } = tcp
    out += `${tcp.reasoning.map((line) => `- ${line}`).join('\n')}\n\n`
    out += `configureKeepalive(socket, ${JSON.stringify({ idle, interval, count, userTimeout }).replace(/"/g, '').replace(/,/g, ', ').replace(/:/g, ': ')})\n`
    out += `${tcpKeepaliveLine(tcp)}\n`
  }
  if (httpServer && httpClient) {
    out += `${tcp ? '\n' : ''}${notes.map((line) => `- ${line}`).join('\n')}\n\n`
    out += `http.createServer(${literal(httpServer)})\n`
    out += `new http.Agent(${literal({ keepAlive: true, timeout: httpClient.idleSocketTimeout })})\n`
    out += `new undici.Agent(${literal({ keepAliveTimeout: httpClient.idleSocketTimeout, keepAliveMaxTimeout: httpClient.idleSocketTimeout })})\n`
  }
  return out
}

export const plan: Command = {
  summary: 'Plan TCP keepalive and HTTP keep-alive timeouts from the idle timeout of the box in front',
  help: HELP,
  async run(argv, out) {
    const { values } = parseArgs({
      args: argv,
      options: {
        behind: { type: 'string' },
        preset: { type: 'string' },
        'idle-timeout': { type: 'string' },
        layer: { type: 'string' },
        'detect-within': { type: 'string' },
        count: { type: 'string' },
        loss: { type: 'string' },
        connections: { type: 'string' },
        'false-drops-per-year': { type: 'string' },
        json: { type: 'boolean', default: false },
        format: { type: 'string' },
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
    const named = values.behind ?? values.preset
    if ([values.behind, values.preset, values['idle-timeout']].filter((given) => given !== undefined).length > 1)
      throw new UsageError('give one of --behind, --preset or --idle-timeout')
    if (values.layer !== undefined && values['idle-timeout'] === undefined)
      throw new UsageError('--layer goes with --idle-timeout (a preset has its own)')
    if (values.layer !== undefined && values.layer !== 'tcp' && values.layer !== 'http')
      throw new UsageError(`--layer takes tcp or http, got '${values.layer}'`)
    if (values.format !== undefined && values.format !== 'sysctl' && values.format !== 'kubernetes')
      throw new UsageError(`--format takes sysctl or kubernetes, got '${values.format}'`)
    if (values.format !== undefined && values.json) throw new UsageError('give --json or --format, not both')
    let behind: Behind | undefined
    if (named !== undefined) {
      if (!Object.hasOwn(IDLE_TIMEOUT_PRESETS, named)) throw new UsageError(`unknown preset '${named}'; presets: ${PRESET_NAMES}`)
      behind = named as Behind
    }
    const idleTimeout = duration('idle-timeout')
    if (idleTimeout !== undefined) behind = { idleTimeout, kind: (values.layer ?? 'tcp') as 'tcp' | 'http' }
    const detectWithin = duration('detect-within')
    if (behind === undefined && detectWithin === undefined)
      throw new UsageError('give --behind (or --idle-timeout), --detect-within, or both')
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
    let planned: LayerPlan
    try {
      planned = planLayers({ behind, detectWithin, count, loss, connections, falseDropsPerYear })
    } catch (error) {
      throw new UsageError((error as Error).message)
    }
    const { box, tcp } = planned
    if (values.format !== undefined) {
      if (!tcp)
        throw new UsageError(
          `--format ${values.format} prints the TCP plan, and TCP keepalive does not keep an HTTP box's connections open: give --detect-within for one that finds dead peers`,
        )
      out.write(values.format === 'sysctl' ? sysctlFile(tcp) : kubernetesBlock(tcp))
      return 0
    }
    if (values.json) {
      const json = {
        middlebox: box?.source ? box.what : null,
        options: tcp && { idle: tcp.idle, interval: tcp.interval, count: tcp.count, userTimeout: tcp.userTimeout },
        detection: tcp?.detection ?? null,
        falseDrops: tcp?.falseDrops ?? null,
        reasoning: tcp?.reasoning ?? [],
        box: box && { name: box.name, kind: box.kind, idleTimeout: box.idleTimeout, source: box.source },
        tcpKeepaliveHelps: planned.tcpKeepaliveHelps,
        httpServer: planned.httpServer,
        httpClient: planned.httpClient,
        notes: planned.notes,
      }
      out.write(`${JSON.stringify(json, null, 2)}\n`)
      return 0
    }
    out.write(text(planned))
    return 0
  },
}
