// Network namespaces for the lab: created with unique names, always removed
// (on close, on process exit, on Ctrl-C), and leftovers of a crashed run are
// swept before new ones are made. Needs root and iproute2.
import { execFileSync } from 'node:child_process'
import { readFileSync, readlinkSync } from 'node:fs'

/**
 * Every lab namespace is named tka<pid>x<start>x<pidns>x<n><role>: its owner's
 * pid, that process's start time (clock ticks after boot: a reused pid has
 * another) and its PID namespace's inode (a run in another PID namespace has
 * the same pids, or cannot see ours). Unique beyond a pid, and a sweep can tell
 * a live owner from a dead one.
 */
const NAME = /^tka(\d+)x(\d+)x(\d+)x\d+[a-z]+$/
let sequence = 0
const live = new Set<string>()
/** Run on close, on exit and on a signal, after the namespaces go: what a run made outside them (nginx's temp dir). */
const teardowns = new Set<() => void>()

export function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

/** Runs a command inside a namespace, with `input` on its stdin. */
export function inNamespace(namespace: string, command: string[], input = ''): string {
  return execFileSync('ip', ['netns', 'exec', namespace, ...command], { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] })
}

/** Network namespaces and their mounts need these (capabilities(7) bit numbers). */
const LAB_CAPABILITIES = { CAP_NET_ADMIN: 12n, CAP_SYS_ADMIN: 21n }

/** Why the lab cannot run here, or null when it can. */
export function labUnavailableReason(): string | null {
  if (process.platform !== 'linux') return `the network lab needs Linux network namespaces (this is ${process.platform})`
  if (process.getuid?.() !== 0) return 'the network lab needs root (network namespaces, veth, nftables)'
  // Root in a default container lacks both: `ip netns add` would fail half-way with EPERM.
  const effective = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]
  const lacking = Object.entries(LAB_CAPABILITIES)
    .filter(([, bit]) => effective === undefined || ((BigInt(`0x${effective}`) >> bit) & 1n) === 0n)
    .map(([name]) => name)
  if (lacking.length > 0) {
    return `the network lab needs ${lacking.join(' and ')} (root in a container lacks them: docker run --cap-add NET_ADMIN --cap-add SYS_ADMIN, or --privileged)`
  }
  for (const [command, args, install] of [
    ['ip', ['-V'], 'iproute2'],
    ['nft', ['--version'], 'nftables'],
  ] as const) {
    try {
      execFileSync(command, args, { stdio: 'ignore' })
    } catch {
      return `the network lab needs the ${command} command (apt-get install ${install})`
    }
  }
  return null
}

/** A fresh set of namespace names for one lab, e.g. { client: 'tka123x1c', ... }. */
export function createNamespaces<R extends string>(roles: readonly R[]): Record<R, string> {
  sweepLeftovers()
  installCleanup()
  sequence += 1
  const names = {} as Record<R, string>
  for (const role of roles) {
    const name = `tka${process.pid}x${startTime(process.pid)}x${pidNamespace()}x${sequence}${role}`
    live.add(name) // before creating it, so a failure half-way is still cleaned up
    ip('netns', 'add', name)
    ip('-n', name, 'link', 'set', 'lo', 'up')
    names[role] = name
  }
  return names
}

/** Deletes a namespace after killing whatever still runs in it. */
export function deleteNamespace(name: string): void {
  try {
    for (const pid of ip('netns', 'pids', name).split('\n').filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL')
      } catch {
        // already gone
      }
    }
    ip('netns', 'del', name)
  } catch {
    // already gone
  }
  live.delete(name)
}

/**
 * Deletes the namespaces of crashed runs: only those whose owner was in this
 * PID namespace and is gone (no such pid, or another process under it). A
 * run in another PID namespace may be live: its namespaces are never touched.
 */
function sweepLeftovers(): void {
  for (const line of ip('netns', 'list').split('\n')) {
    const name = line.split(' ')[0]
    const [, pid, start, namespace] = NAME.exec(name) ?? []
    if (namespace === undefined || namespace !== pidNamespace()) continue
    if (startTime(Number(pid)) !== start) deleteNamespace(name)
  }
}

/** The process's start time in clock ticks after boot (/proc/<pid>/stat field 22), or '' when it is gone. */
function startTime(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] // fields after the command name start at field 3
  } catch {
    return ''
  }
}

/** This process's PID namespace, by inode ("pid:[4026531836]" -> "4026531836"). */
function pidNamespace(): string {
  return /\d+/.exec(readlinkSync('/proc/self/ns/pid'))![0]
}

/** Registers what a run must remove even when a signal ends it; call the returned function once removed normally. */
export function onTeardown(teardown: () => void): () => void {
  installCleanup()
  teardowns.add(teardown)
  return () => teardowns.delete(teardown)
}

function tearDown(): void {
  for (const name of [...live]) deleteNamespace(name)
  for (const teardown of [...teardowns]) {
    teardowns.delete(teardown)
    try {
      teardown()
    } catch {
      // best effort: the next one still runs
    }
  }
}

let cleanupInstalled = false
function installCleanup(): void {
  if (cleanupInstalled) return
  cleanupInstalled = true
  process.once('exit', tearDown)
  // SIGHUP: the ssh session that ran it dropped. A signal skips every `finally`: what they would remove is registered.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      tearDown()
      process.kill(process.pid, signal) // the default action, now that the handler is gone
    })
  }
}
