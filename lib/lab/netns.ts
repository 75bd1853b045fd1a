// Network namespaces for the lab: created with unique names, always removed
// (on close, on process exit, on Ctrl-C), and leftovers of a crashed run are
// swept before new ones are made. Needs root and iproute2.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'

/** Every lab namespace is named tka<pid>x<n><role>: the pid tells whether its owner still runs. */
const NAME = /^tka(\d+)x\d+[a-z]+$/
let sequence = 0
const live = new Set<string>()

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
    const name = `tka${process.pid}x${sequence}${role}`
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

function sweepLeftovers(): void {
  for (const line of ip('netns', 'list').split('\n')) {
    const name = line.split(' ')[0]
    const owner = NAME.exec(name)?.[1]
    if (owner !== undefined && !isRunning(Number(owner))) deleteNamespace(name)
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

let cleanupInstalled = false
function installCleanup(): void {
  if (cleanupInstalled) return
  cleanupInstalled = true
  process.once('exit', () => {
    for (const name of [...live]) deleteNamespace(name)
  })
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      for (const name of [...live]) deleteNamespace(name)
      process.kill(process.pid, signal) // the default action, now that the handler is gone
    })
  }
}
