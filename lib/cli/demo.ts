// `tcp-keepalive demo`: a loopback server gives each accepted connection its
// own keepalive settings, then prints what the kernel holds for each.
import { once } from 'node:events'
import net from 'node:net'
import { parseArgs } from 'node:util'
import { deadPeerDetectionMs } from '../detection.js'
import { parseDuration } from '../environment.js'
import { configureKeepalive, keepaliveSupport, type KeepaliveOptions, type KeepaliveState, readKeepalive } from '../index.js'
import { formatDuration, formatTable } from './format.js'
import { hasSs, ssKeepaliveTimer } from './ss.js'
import { type Command, UsageError } from './command.js'
import { allScenarios } from '../lab/scenarios.js'
import { networkDemo } from './network-demo.js'

interface Profile {
  name: string
  /** What the server does to its accepted socket, as code. */
  asked: string
  apply(socket: net.Socket): void
}

const configure = (name: string, options: KeepaliveOptions): Profile => ({
  name,
  asked: `configureKeepalive(${JSON.stringify(options).replace(/"/g, '').replace(/,/g, ', ').replace(/:/g, ': ')})`,
  apply: (socket) => configureKeepalive(socket, options),
})

const PROFILES: Profile[] = [
  { name: 'kernel defaults', asked: '(nothing)', apply: () => {} },
  { name: 'Node alone', asked: 'socket.setKeepAlive(true, 60000)', apply: (socket) => socket.setKeepAlive(true, 60_000) },
  configure('behind AWS NLB (350 s idle)', { idle: 300_000, interval: 15_000, count: 3 }),
  configure('fast dead-peer detection', { idle: 10_000, interval: 5_000, count: 3, userTimeout: 25_000 }),
  configure('rounded up to seconds', { idle: 1_500, interval: 1 }),
  {
    name: 'sticky (as http.Agent reuse)',
    asked: 'configureKeepalive({idle: 45000, count: 4}) then socket.setKeepAlive(true, 1000)',
    apply: (socket) => configureKeepalive(socket, { idle: 45_000, count: 4 }).setKeepAlive(true, 1_000),
  },
]

/** Words joined by ', ', in lines of at most `width` characters indented by `indent`. */
function wrapped(words: string[], indent: number, width: number): string {
  const lines: string[] = []
  for (const word of words) {
    const last = lines.length - 1
    if (last >= 0 && indent + lines[last].length + word.length + 2 <= width) lines[last] += `, ${word}`
    else lines.push(word)
  }
  return lines.map((line, i) => `${' '.repeat(indent)}${line}${i < lines.length - 1 ? ',' : ''}`).join('\n')
}

/** Built when asked: listing the lab's scenarios builds them, which no other command needs. */
const help = () => `Usage: tcp-keepalive demo [options]

Starts a server on 127.0.0.1, connects one client per profile, gives each
accepted connection its own keepalive settings and prints what the kernel
holds for each, read back with getsockopt and checked against ss -tnoi.

Options:
  --idle <d>            Add a row with your own settings: idle time (30s, 500ms, 2m)
  --interval <d>          ... time between probes
  --count <n>             ... unanswered probes before the connection is dropped
  --user-timeout <d>      ... TCP_USER_TIMEOUT
  --json                Print the rows (with --network: the measurements) as JSON
  --network             Instead: run the network lab live (Linux, root): a middlebox
                        that forgets idle flows, a dead peer, a rebooted peer, data in
                        flight on a cut link, a server detecting a cut client, what
                        keepalive cannot see, the nginx incident, measure on known
                        paths, and HTTP Keep-Alive against TCP keepalive
  --scenario <ids>      With --network: only these scenarios, comma-separated:
${wrapped(
  allScenarios().map(({ id }) => id),
  24,
  80,
)}
  -h, --help            Show this help
`

interface Row {
  profile: string
  asked: string
  kernel: KeepaliveState
  /** The keepalive timer ss reports, ms; null when none is armed or ss is missing. */
  ssTimer: number | null
  deadPeerDetection: number | null
}

export const demo: Command = {
  summary: 'Show per-connection keepalive settings on a loopback server, read back from the kernel',
  get help() {
    return help()
  },
  async run(argv, out) {
    const { values } = parseArgs({
      args: argv,
      options: {
        idle: { type: 'string' },
        interval: { type: 'string' },
        count: { type: 'string' },
        'user-timeout': { type: 'string' },
        json: { type: 'boolean', default: false },
        network: { type: 'boolean', default: false },
        scenario: { type: 'string' },
      },
    })
    if (values.scenario !== undefined && !values.network) throw new UsageError('--scenario goes with --network')
    if (values.network) return networkDemo(out, values.json, values.scenario?.split(','))
    const profiles = [...PROFILES]
    const custom = customOptions(values)
    if (custom) profiles.push(configure('your settings', custom))

    const rows = await runProfiles(profiles)
    if (values.json) {
      out.write(`${JSON.stringify({ support: keepaliveSupport, rows }, null, 2)}\n`)
      return 0
    }
    out.write(`${describeMode()}\n\n`)
    out.write(
      `${formatTable(
        ['profile', 'on', 'idle', 'interval', 'count', 'user timeout', 'ss timer', 'dead peer dropped after'],
        rows.map(({ profile, kernel, ssTimer, deadPeerDetection }) => [
          profile,
          kernel.enabled === null ? '?' : kernel.enabled ? 'yes' : 'no',
          formatDuration(kernel.idle),
          formatDuration(kernel.interval),
          kernel.count === null ? '-' : String(kernel.count),
          kernel.userTimeout === 0 ? 'default' : formatDuration(kernel.userTimeout),
          formatDuration(ssTimer),
          kernel.enabled === false ? 'never (keepalive off)' : formatDuration(deadPeerDetection),
        ]),
      )}\n\n`,
    )
    out.write(`What each server connection did:\n${rows.map(({ profile, asked }) => `  ${profile}: ${asked}`).join('\n')}\n`)
    return 0
  },
}

/** The flags in the grammar of every command: durations as 30s or 500ms (parseDuration), count as a whole number. */
function customOptions(values: Record<string, unknown>): KeepaliveOptions | null {
  const options: KeepaliveOptions = {}
  const fields = { idle: 'idle', interval: 'interval', count: 'count', 'user-timeout': 'userTimeout' } as const
  for (const [flag, field] of Object.entries(fields)) {
    const text = values[flag]
    if (typeof text !== 'string') continue
    const value = field === 'count' ? (/^[0-9]+$/.test(text) ? Number(text) : null) : parseDuration(text)
    if (value === null) {
      throw new UsageError(
        field === 'count'
          ? `--count takes a whole number of probes, got '${text}'`
          : `--${flag} takes a duration with ms, s, m or h (e.g. 30s), got '${text}'`,
      )
    }
    options[field] = value
  }
  return Object.keys(options).length > 0 ? options : null
}

async function runProfiles(profiles: Profile[]): Promise<Row[]> {
  const server = net.createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as net.AddressInfo
  const ss = hasSs()
  const sockets: net.Socket[] = []
  try {
    const rows: Row[] = []
    for (const profile of profiles) {
      const accepted = once(server, 'connection')
      const client = net.connect(port, '127.0.0.1')
      sockets.push(client)
      const [socket] = (await accepted) as [net.Socket]
      sockets.push(socket)
      try {
        profile.apply(socket)
      } catch (error) {
        // A bad --idle etc. is the user's input: report it like a usage error.
        if (error instanceof RangeError || error instanceof TypeError) throw new UsageError(error.message)
        throw error
      }
      const kernel = readKeepalive(socket)
      rows.push({
        profile: profile.name,
        asked: profile.asked,
        kernel,
        ssTimer: ss ? ssKeepaliveTimer(port, socket.remotePort) : null,
        deadPeerDetection: deadPeerDetectionMs(kernel),
      })
    }
    return rows
  } finally {
    for (const socket of sockets) socket.destroy()
    server.close()
  }
}

function describeMode(): string {
  if (keepaliveSupport.native) return 'tcp-keepalive: native binding (setsockopt/getsockopt on the socket fd)'
  return `tcp-keepalive: fallback to Node's setKeepAlive (${keepaliveSupport.reason}); the kernel's values cannot be read back`
}
