// `tcp-keepalive apply <pid>... [settings]`: sets keepalive on the TCP sockets
// of running processes, any program (Node, python, nginx, a JVM), through
// borrowed copies of their fds (pidfd_getfd: the same socket), and reads each
// back from the kernel. An incident tool: the settings last until each socket closes.
import { parseArgs } from 'node:util'
import type { KeepaliveState } from '../backend.js'
import { parseSettings, SettingError } from '../environment.js'
import { configureKeepalive, type KeepaliveOptions, readKeepalive } from '../index.js'
import { settledSettings } from '../keepalive.js'
import { type Command, UsageError } from './command.js'
import { formatDuration, formatTable } from './format.js'
import {
  borrowingBinding,
  hasExited,
  isSelected,
  listTcpSockets,
  parsePid,
  parseSelection,
  SELECTION_OPTIONS,
  ProcessError,
  processName,
  type Selection,
  SETTABLE_STATES,
  withBorrowedSocket,
} from './process-sockets.js'

const HELP = `Usage: tcp-keepalive apply <pid>... <settings> [--port <n>] [--listening] [--established] [--dry-run] [--json]

Sets keepalive on the TCP sockets of running processes (Linux 5.6+), whatever
program they run, without a restart, and prints each socket's settings before
and after, read back from the kernel. Needs ptrace rights over each process:
your own processes (if ptrace is allowed), or root.

Settings are written as for TCP_KEEPALIVE (the preload), so 'tcp-keepalive plan'
output can be pasted: idle=30s interval=5s count=3 user-timeout=40s, durations
in ms, s, m or h; ports=80,443 narrows like --port. Keepalive is turned on.

By default listening sockets and established connections are set. On Linux a
listening socket passes its settings to the connections it accepts from then on.
The settings last until each socket closes: new processes still need the
preload or their own configuration. An incident tool.

Options:
  --port <n>     Only sockets with this local or remote port (repeat, or 80,443)
  --listening    Only listening sockets (with --established: both)
  --established  Only established connections
  --dry-run      Show what would change; write nothing (a refusal by the kernel cannot be foreseen)
  --json         Print the result as JSON
  -h, --help     Show this help

Exit codes: 0 every selected socket set as asked; 1 a socket or a process
failed (the reason is printed: no ptrace rights, no CAP_SYS_PTRACE in a
container, a thread id, a zombie, a refused option) or nothing was selected;
2 wrong arguments.
`

/** One socket and what happened to it. `holders`: every (pid, fd) that holds it (a listener shared by nginx's workers). */
export interface AppliedSocket {
  pid: number
  fd: number
  holders: Array<{ pid: number; fd: number }>
  state: string
  local: string
  remote: string
  before: KeepaliveState
  /** Read back after the write; with --dry-run, what the write would give. */
  after: KeepaliveState
  result: 'applied' | 'would apply' | 'partly applied' | 'failed'
  /** Options the kernel refused for this socket while the others applied (user-timeout on Multipath TCP). */
  refused: Array<{ setting: string; code: string }>
  /** Why the row failed or is partial. */
  reason: string | null
}

const SETTING_NAMES: Record<keyof KeepaliveOptions, string> = {
  enable: 'enable',
  idle: 'idle',
  interval: 'interval',
  count: 'count',
  userTimeout: 'user-timeout',
  strict: 'strict',
}

export const apply: Command = {
  summary: 'Set keepalive on the TCP sockets of running processes, without a restart (Linux)',
  help: HELP,
  async run(argv, out) {
    const { values, positionals } = parseArgs({
      args: argv,
      options: {
        ...SELECTION_OPTIONS,
        'dry-run': { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
      },
      allowPositionals: true,
    })
    const pids: number[] = []
    const settingTokens: string[] = []
    for (const token of positionals) {
      if (token.includes('=')) settingTokens.push(token.replace(/^TCP_KEEPALIVE=/, ''))
      else if (!Number.isNaN(parsePid(token))) {
        if (!pids.includes(parsePid(token))) pids.push(parsePid(token)) // once: `apply P P` is one process, not two holders
      } else throw new UsageError(`'${token}' is neither a process id nor a setting (key=value)`)
    }
    if (pids.length === 0) throw new UsageError('expected one or more process ids')
    // Before the settings: their validation would warn about fields a missing binding's fallback cannot set.
    const binding = borrowingBinding('apply')
    let parsed: ReturnType<typeof parseSettings>
    try {
      parsed = parseSettings(settingTokens.join(' '))
    } catch (error) {
      if (error instanceof SettingError) throw new UsageError(error.message.replace(/^TCP_KEEPALIVE: /, ''))
      throw error
    }
    if (parsed === null) throw new UsageError('give the settings to apply, e.g. idle=30s interval=5s count=3')
    const { options } = parsed
    const flagged = parseSelection(values, SETTABLE_STATES)
    const states = flagged.states ?? SETTABLE_STATES
    const portSets = [...flagged.ports, ...(parsed.ports ? [parsed.ports] : [])]
    const selection: Selection = { states, ports: portSets }

    const dryRun = values['dry-run']
    const expected = settledSettings(options)
    const rows: AppliedSocket[] = []
    const byInode = new Map<string, AppliedSocket>()
    const failures: Array<{ pid: number; reason: string }> = []
    const skipped = { closed: 0, replaced: 0 }
    let notSelected = 0
    for (const pid of pids) {
      try {
        for (const listed of listTcpSockets(pid, 'apply')) {
          if (!isSelected(listed, selection)) {
            notSelected++
            continue
          }
          const known = byInode.get(listed.inode)
          if (known) {
            known.holders.push({ pid, fd: listed.fd }) // the same socket, already set through another holder
            continue
          }
          const row = withBorrowedSocket(binding, pid, listed, (fd) => applyOne(fd, options, expected, dryRun))
          if (typeof row === 'string') {
            skipped[row]++
            continue
          }
          const { fd, state, local, remote } = listed
          const applied: AppliedSocket = { pid, fd, holders: [{ pid, fd }], state, local, remote, ...row }
          rows.push(applied)
          byInode.set(listed.inode, applied)
        }
        // Its sockets vanished as they were borrowed (skipped as closed): it exited, which is not "no socket matched".
        if (skipped.closed > 0 && hasExited(pid)) throw new ProcessError('gone', `process ${pid} exited while apply ran`)
      } catch (error) {
        if (!(error instanceof ProcessError)) throw error
        failures.push({ pid, reason: error.message })
      }
    }
    for (const { reason } of failures) process.stderr.write(`tcp-keepalive apply: ${reason}\n`)
    const nothing = rows.length === 0 && failures.length === 0
    const ok = failures.length === 0 && rows.length > 0 && rows.every((row) => row.result === 'applied' || row.result === 'would apply')

    if (values.json) {
      const processes = pids.map((pid) => ({ pid, name: processName(pid) }))
      out.write(
        `${JSON.stringify({ ok, dryRun, options, selection, processes, sockets: rows, notSelected, skipped, failures }, null, 2)}\n`,
      )
      return ok ? 0 : 1
    }
    if (rows.length > 0) out.write(`${applyTable(rows)}\n\n`)
    if (rows.length === 0 && !nothing) return 1 // every process failed, as printed
    const count = (result: AppliedSocket['result']) => rows.filter((row) => row.result === result).length
    const listeners = rows.filter((row) => row.state === 'LISTEN').length
    const of = pids.length === 1 ? `process ${pids[0]}` : `processes ${pids.join(', ')}`
    const lines = [
      `${plural(rows.length, 'socket')} selected of ${of} (${listeners} listening, ${plural(rows.length - listeners, 'connection')}), ${notSelected} not; ` +
        (dryRun
          ? `${count('would apply')} would be set`
          : `${count('applied')} set, ${count('partly applied')} partly (an option refused), ${count('failed')} failed`) +
        `; ${skipped.closed + skipped.replaced} skipped (closed, or the fd number reused, between listing and borrowing).`,
    ]
    if (dryRun) lines.push('Dry run: nothing was written.')
    if (nothing)
      lines.push(`No socket matched: only ${states.join(' and ')} sockets${portSets.length ? ' on the ports given' : ''} are selected.`)
    if (listeners > 0) {
      lines.push(
        `Listening sockets: Linux copies their settings to the connections they accept from then on, unless the program sets its own on each (as redis's tcp-keepalive does): not verified here; 'tcp-keepalive inspect ${pids[0]}' compares them once a connection is accepted. Connections accepted before keep their own unless listed above.`,
      )
    }
    if (rows.length > 0 && !dryRun) {
      lines.push('The settings last until each socket closes: new processes need the preload (TCP_KEEPALIVE) or their own configuration.')
    }
    out.write(`${lines.join('\n')}\n`)
    return ok ? 0 : 1
  },
}

type Outcome = Pick<AppliedSocket, 'before' | 'after' | 'result' | 'refused' | 'reason'>

/**
 * Sets one borrowed socket and reads it back. The kernel may refuse one
 * option for this kind of socket (TCP_USER_TIMEOUT on Multipath TCP: the
 * write changes nothing, ENOPROTOOPT): the others are then written without it.
 */
function applyOne(fd: number, options: KeepaliveOptions, expected: ReturnType<typeof settledSettings>, dryRun: boolean): Outcome {
  const before = readKeepalive(fd)
  if (dryRun) {
    const after: KeepaliveState = {
      enabled: expected.enable ?? before.enabled,
      idle: expected.idle ?? before.idle,
      interval: expected.interval ?? before.interval,
      count: expected.count ?? before.count,
      userTimeout: expected.userTimeout ?? before.userTimeout,
    }
    return { before, after, result: 'would apply', refused: [], reason: null }
  }
  const refused: Outcome['refused'] = []
  let reason: string | null = null
  try {
    configureKeepalive(fd, options)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'ERROR'
    const { userTimeout, ...others } = options
    if (code === 'ENOPROTOOPT' && userTimeout !== undefined && Object.keys(others).length > 0) {
      refused.push({ setting: SETTING_NAMES.userTimeout, code })
      reason = `the kernel refused user-timeout (${code}: this socket has no TCP_USER_TIMEOUT, as Multipath TCP sockets); the other settings applied`
      try {
        configureKeepalive(fd, others)
      } catch (retry) {
        reason = `${(retry as Error).message} (user-timeout refused first: ${code})`
        return { before, after: readKeepalive(fd), result: 'failed', refused, reason }
      }
    } else {
      return { before, after: readKeepalive(fd), result: 'failed', refused, reason: (error as Error).message }
    }
  }
  const after = readKeepalive(fd)
  // The kernel is the judge: every setting written must read back as asked.
  const differs = (['enable', 'idle', 'interval', 'count', 'userTimeout'] as const)
    .filter((field) => !refused.some(({ setting }) => setting === SETTING_NAMES[field]))
    .filter((field) =>
      field === 'enable' ? after.enabled !== expected.enable : expected[field] !== undefined && after[field] !== expected[field],
    )
  if (differs.length > 0) {
    const names = differs.map((field) => SETTING_NAMES[field]).join(', ')
    return { before, after, result: 'failed', refused, reason: `written, but the kernel holds other values for ${names}` }
  }
  return { before, after, result: refused.length > 0 ? 'partly applied' : 'applied', refused, reason }
}

/** "on, 1 s/1 s/3, user timeout 40 s" (idle/interval/count). */
function describeState(state: KeepaliveState): string {
  const timing = `${formatDuration(state.idle)}/${formatDuration(state.interval)}/${state.count ?? '-'}`
  const userTimeout = state.userTimeout ? `, user timeout ${formatDuration(state.userTimeout)}` : ''
  return `${state.enabled ? 'on' : 'off'}, ${timing}${userTimeout}`
}

function applyTable(rows: AppliedSocket[]): string {
  const header = ['pid', 'fd', 'state', 'local', 'peer', 'before (idle/interval/count)', 'after', 'result']
  return formatTable(
    header,
    rows.map((row) => {
      const others = row.holders.slice(1).map(({ pid, fd }) => `${pid}:${fd}`)
      const result = row.reason ? `${row.result}: ${row.reason}` : row.result
      return [
        String(row.pid),
        String(row.fd),
        row.state,
        row.local,
        row.remote,
        describeState(row.before),
        describeState(row.after),
        others.length > 0 ? `${result} (also held by ${others.join(', ')})` : result,
      ]
    }),
  )
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`
}
