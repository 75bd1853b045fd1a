// `tcp-keepalive doctor`: what this machine and Node give the library, and a
// loopback self-test (configure -> read back -> the kernel's timer per ss).
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import net from 'node:net'
import { release } from 'node:os'
import { parseArgs } from 'node:util'
import { deadPeerDetectionMs } from '../detection.js'
import { configureKeepalive, type KeepaliveOptions, keepaliveSupport, readKeepalive } from '../index.js'
import { runtimeName } from '../fallback.js'
import { bindingPath } from '../native.js'
import type { Command } from './command.js'
import { formatDuration } from './format.js'
import { hasSs, ssConnectionKeepaliveTimer } from './ss.js'

const HELP = `Usage: tcp-keepalive doctor [--json]

Reports the platform, the runtime (Node, Bun or Deno), whether the native binding loaded (and from
where) or why not, which fields can be set and read, the kernel's keepalive
defaults, and runs a self-test on a loopback connection: configure, read
back, and compare with the keepalive timer that ss -tnoi shows.
Exits 1 when a self-test check fails.

Options:
  --json      Print the report as JSON
  -h, --help  Show this help
`

const SELF_TEST: KeepaliveOptions = { idle: 30_000, interval: 5_000, count: 3, userTimeout: 20_000 }

interface Check {
  name: string
  /** null: could not be run here (the reason is in detail). */
  ok: boolean | null
  detail: string
}

export const doctor: Command = {
  summary: 'Check the binding, the kernel defaults and a loopback self-test',
  help: HELP,
  async run(argv, out) {
    const { values } = parseArgs({ args: argv, options: { json: { type: 'boolean', default: false } } })
    const file = bindingPath()
    const report = {
      platform: `${process.platform} ${process.arch}, kernel ${release()}`,
      runtime: runtimeDescription(),
      binding: {
        inUse: keepaliveSupport.native,
        reason: keepaliveSupport.reason,
        file,
        origin: file === null ? null : file.includes('/prebuilds/') ? 'prebuild' : 'local build',
      },
      support: keepaliveSupport,
      kernelDefaults: kernelDefaults(),
      selfTest: await selfTest(),
    }
    const failed = report.selfTest.some((check) => check.ok === false)
    if (values.json) {
      out.write(`${JSON.stringify(report, null, 2)}\n`)
      return failed ? 1 : 0
    }

    const settable = (['enable', 'idle', 'interval', 'count', 'userTimeout'] as const).filter((field) => keepaliveSupport[field])
    const { binding, kernelDefaults: defaults } = report
    const lines = [
      ['platform', report.platform],
      ['runtime', report.runtime],
      [
        'binding',
        binding.inUse
          ? `native, ${binding.origin}: ${binding.file}`
          : `not in use: ${binding.reason}${binding.file ? ` (a binding exists: ${binding.file})` : ''}; using Node's setKeepAlive`,
      ],
      ['can set', settable.join(', ')],
      ['can read back', keepaliveSupport.read ? 'yes (getsockopt)' : 'no'],
      [
        'kernel defaults',
        defaults
          ? `idle ${formatDuration(defaults.idle)}, interval ${formatDuration(defaults.interval)}, count ${defaults.count}: a dead peer is found after ${formatDuration(deadPeerDetectionMs({ enabled: true, ...defaults, userTimeout: 0 }))} (/proc/sys/net/ipv4/tcp_keepalive_*)`
          : 'not readable here',
      ],
    ]
    out.write(
      `${lines.map(([name, text]) => `${name.padEnd(16)}${text}`).join('\n')}\n\nself-test on 127.0.0.1, configureKeepalive(${JSON.stringify(SELF_TEST)}):\n`,
    )
    for (const check of report.selfTest)
      out.write(`  ${check.ok === null ? 'skip' : check.ok ? 'ok  ' : 'FAIL'}  ${check.name}: ${check.detail}\n`)
    return failed ? 1 : 0
  },
}

/** "Node v20.20.2 (N-API 9)"; Bun and Deno by their own name, with the Node version they report. */
function runtimeDescription(): string {
  const name = runtimeName()
  const nodeToo = name.startsWith('Node') ? '' : `reports Node ${process.version}, `
  return `${name} (${nodeToo}N-API ${process.versions.napi})`
}

function kernelDefaults(): { idle: number; interval: number; count: number } | null {
  try {
    const sysctl = (name: string) => Number(readFileSync(`/proc/sys/net/ipv4/tcp_keepalive_${name}`, 'utf8'))
    return { idle: sysctl('time') * 1000, interval: sysctl('intvl') * 1000, count: sysctl('probes') }
  } catch {
    return null
  }
}

/** A loopback connection for the self-test, or why there is none (no free port: a check that fails, not a stack trace). */
async function loopback(server: net.Server): Promise<net.Socket | Check> {
  let client: net.Socket | undefined
  try {
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1')
    await once(client, 'connect')
    return client
  } catch (error) {
    client?.destroy()
    const { code, message } = error as NodeJS.ErrnoException
    let range = ''
    try {
      range = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().replace(/\s+/, '-')
    } catch {
      // not Linux: the message alone
    }
    const exhausted = code === 'EADDRINUSE' || code === 'EADDRNOTAVAIL'
    const detail = `${message}${exhausted && range ? `: no free port in the ephemeral range (net.ipv4.ip_local_port_range ${range})` : ''}`
    return { name: 'loopback connection', ok: false, detail }
  }
}

async function selfTest(): Promise<Check[]> {
  const server = net.createServer()
  const client = await loopback(server)
  if (!(client instanceof net.Socket)) {
    server.close()
    return [client]
  }
  try {
    const checks: Check[] = []
    const asked = { ...SELF_TEST }
    if (!keepaliveSupport.userTimeout) delete asked.userTimeout
    if (!keepaliveSupport.interval) delete asked.interval
    if (!keepaliveSupport.count) delete asked.count
    configureKeepalive(client, asked)

    if (keepaliveSupport.read) {
      const held = readKeepalive(client)
      const wanted = { enabled: true, ...asked }
      const differs = Object.entries(wanted).filter(([field, value]) => held[field as keyof typeof held] !== value)
      checks.push({
        name: 'read back',
        ok: differs.length === 0,
        detail:
          differs.length === 0
            ? 'the kernel holds every field as set'
            : `differs: ${differs.map(([field]) => `${field} ${held[field as keyof typeof held]}`).join(', ')}`,
      })
    } else {
      checks.push({ name: 'read back', ok: null, detail: 'not possible in fallback mode' })
    }

    if (process.platform !== 'linux' || !hasSs()) {
      checks.push({ name: 'ss timer', ok: null, detail: 'needs Linux and the ss command (iproute2)' })
    } else {
      const timer = ssConnectionKeepaliveTimer(client)
      const ok = timer !== null && timer <= SELF_TEST.idle! && timer > SELF_TEST.idle! - 10_000
      checks.push({
        name: 'ss timer',
        ok,
        detail: `keepalive timer ${formatDuration(timer)} (expected just under ${formatDuration(SELF_TEST.idle!)})`,
      })
    }
    return checks
  } finally {
    client.destroy()
    server.close()
  }
}
