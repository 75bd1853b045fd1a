// `tcp-keepalive inspect <pid> | --all`: the keepalive settings of every TCP
// socket of running processes, optionally audited against a middlebox's idle
// timeout and a dead-peer detection bound. Each socket is borrowed with
// pidfd_getfd (Linux 5.6+, needs ptrace rights over the process) and read with getsockopt.
import { readdirSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { deadPeerDetectionMs } from '../detection.js'
import { parseDuration } from '../environment.js'
import { type KeepaliveState, readKeepalive } from '../index.js'
import { IDLE_TIMEOUT_PRESETS, type IdleTimeoutPreset, planKeepalive } from '../plan.js'
import { type Command, UsageError } from './command.js'
import { formatDuration, formatTable } from './format.js'
import {
  borrowingBinding,
  listTcpSockets,
  isSelected,
  parsePid,
  parseSelection,
  portOf,
  ProcessError,
  type ProcessProblem,
  processName,
  type Selection,
  SELECTION_OPTIONS,
  SETTABLE_STATES,
  TcpTableCache,
  type TcpEntry,
  withBorrowedSocket,
} from './process-sockets.js'

export { parseEndpoint } from './process-sockets.js'

/** The boxes keepalive probes keep flows open through: those that pass TCP through. */
const PRESETS = Object.entries(IDLE_TIMEOUT_PRESETS)
  .filter(([, box]) => box.kind === 'tcp')
  .map(([name]) => name)
  .join(', ')

const HELP = `Usage: tcp-keepalive inspect <pid> | --all [--port <n>] [--listening] [--established] [--idle-timeout <d> | --preset <name>] [--detect-within <d>] [--json]

Lists the TCP sockets of a running process (Linux 5.6+) with their state,
addresses and the keepalive settings the kernel holds for each. Needs ptrace
rights over the process: your own processes (if ptrace is allowed), or root.

An audit: with --idle-timeout (or --preset) each connection the middlebox will
forget when idle is marked (keepalive off, or the first probe not before the
timeout), and a listening socket whose settings would make the connections it
accepts forgotten; with --detect-within each connection that would hold a dead
peer longer. Durations take ms, s, m or h (350s, 4m).

Options:
  --all                Every process you can read, in one table with the process names;
                       those you cannot read are counted and named (exit 0)
  --port <n>           Only sockets with this local or remote port (repeat, or 80,443), as for apply
  --listening          Only listening sockets (with --established: both)
  --established        Only established connections
  --idle-timeout <d>   The middlebox (NAT, firewall, load balancer) forgets idle flows after this
  --preset <name>      A published idle timeout of a box that passes TCP through: ${PRESETS}
  --detect-within <d>  A dead peer must be found within this
  --json               Print the sockets as JSON
  -h, --help           Show this help
`

export interface InspectedSocket extends TcpEntry {
  fd: number
  keepalive: KeepaliveState
  deadPeerDetection: number | null
  /**
   * A listener's accepted connections open in the process, and how many hold
   * its settings: Linux copies them at accept, but a program may set its own
   * on each (redis's tcp-keepalive). Inheritance is claimed only where seen.
   */
  accepted?: { open: number; sameAsListener: number }
}

/** One socket's audit verdicts (absent when not asked for). */
interface Audited extends InspectedSocket {
  /** Whether the middlebox forgets this connection when idle (for a listener: the connections it accepts). */
  middlebox?: { forgets: boolean; reason: string }
  /** Whether a dead peer would be held longer than --detect-within. */
  deadPeer?: { tooLong: boolean; reason: string }
}

interface Audit {
  idleTimeout: number | undefined
  middlebox: string | undefined
  detectWithin: number | undefined
}

export const inspect: Command = {
  summary: "List running processes' TCP sockets with their keepalive settings, and audit them (Linux)",
  help: HELP,
  async run(argv, out) {
    const { values, positionals } = parseArgs({
      args: argv,
      options: {
        all: { type: 'boolean', default: false },
        ...SELECTION_OPTIONS,
        'idle-timeout': { type: 'string' },
        preset: { type: 'string' },
        'detect-within': { type: 'string' },
        json: { type: 'boolean', default: false },
      },
      allowPositionals: true,
    })
    const audit = auditOptions(values)
    const selection = parseSelection(values, null)
    if (values.all) {
      if (positionals.length !== 0) throw new UsageError(`--all takes no process id, got '${positionals[0]}'`)
      return inspectAll(audit, selection, values.json, out)
    }
    if (positionals.length !== 1) throw new UsageError('expected exactly one process id (or --all)')
    const pid = parsePid(positionals[0])
    if (Number.isNaN(pid)) throw new UsageError(`'${positionals[0]}' is not a process id`)

    const { sockets, skipped } = readProcess(pid)
    const audited = sockets.map((socket) => auditSocket(socket, audit))
    const processes = [{ pid, sockets: audited }]
    const shown = audited.filter((socket) => isSelected(socket, selection))
    if (values.json) {
      out.write(`${JSON.stringify({ pid, ...auditJson(audit, processes, selection), sockets: shown, skipped }, null, 2)}\n`)
      return 0
    }
    if (shown.length === 0) {
      out.write(`Process ${pid} has no TCP sockets${audited.length > 0 ? ' selected' : ''}.\n`)
      return 0
    }
    out.write(
      `${socketTable(
        shown.map((socket) => ({ pid, socket })),
        audit,
        false,
      )}\n`,
    )
    out.write(auditSummary(processes, audit, selection))
    return 0
  },
}

/** The sockets of one process (throws ProcessError when it cannot be read). */
export function inspectProcess(pid: number): InspectedSocket[] {
  return readProcess(pid).sockets
}

/** `skipped`: sockets closed, or their fd numbers reused, between the listing and the read. */
function readProcess(pid: number, cache?: TcpTableCache): { sockets: InspectedSocket[]; skipped: number } {
  const binding = borrowingBinding('inspect')
  const sockets: InspectedSocket[] = []
  let skipped = 0
  for (const listed of listTcpSockets(pid, 'inspect', cache)) {
    const keepalive = withBorrowedSocket(binding, pid, listed, (fd) => readKeepalive(fd))
    if (typeof keepalive === 'string') {
      skipped++
      continue
    }
    const { fd, state, local, remote } = listed
    sockets.push({ fd, state, local, remote, keepalive, deadPeerDetection: deadPeerDetectionMs(keepalive) })
  }
  for (const listener of sockets.filter((socket) => socket.state === 'LISTEN')) {
    const accepted = sockets.filter((socket) => socket.state === 'ESTABLISHED' && acceptedBy(listener, socket))
    const same = accepted.filter(({ keepalive }) =>
      (['enabled', 'idle', 'interval', 'count', 'userTimeout'] as const).every((field) => keepalive[field] === listener.keepalive[field]),
    )
    listener.accepted = { open: accepted.length, sameAsListener: same.length }
  }
  return { sockets, skipped }
}

/** Whether `connection` was accepted by `listener`: its local port, and its address unless the listener's is a wildcard. */
function acceptedBy(listener: TcpEntry, connection: TcpEntry): boolean {
  if (portOf(connection.local) !== portOf(listener.local)) return false
  const address = (endpoint: string) => endpoint.slice(0, endpoint.lastIndexOf(':'))
  return ['0.0.0.0', '[::]'].includes(address(listener.local)) || address(listener.local) === address(connection.local)
}

async function inspectAll(audit: Audit, selection: Selection, json: boolean, out: NodeJS.WritableStream): Promise<number> {
  borrowingBinding('inspect') // the reason once, rather than once per process
  const processes: Array<{ pid: number; name: string; sockets: Audited[] }> = []
  const unreadable: Array<{ pid: number; name: string; problem: ProcessProblem; reason: string }> = []
  let read = 0
  const cache = new TcpTableCache()
  const pids = readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => pid !== process.pid)
    .sort((a, b) => a - b)
  for (const pid of pids) {
    const name = processName(pid)
    try {
      const { sockets } = readProcess(pid, cache)
      read++
      if (sockets.some((socket) => isSelected(socket, selection))) {
        processes.push({ pid, name, sockets: sockets.map((socket) => auditSocket(socket, audit)) })
      }
    } catch (error) {
      if (!(error instanceof ProcessError)) throw error
      // Exited since /proc was listed, or a zombie: nothing to read, nothing hidden.
      if (error.problem === 'gone' || error.problem === 'zombie') continue
      unreadable.push({ pid, name, problem: error.problem, reason: error.message })
    }
  }
  const shown = processes.map((entry) => ({ ...entry, sockets: entry.sockets.filter((socket) => isSelected(socket, selection)) }))
  const all = shown.flatMap(({ sockets }) => sockets)
  if (json) {
    out.write(`${JSON.stringify({ ...auditJson(audit, processes, selection), read, processes: shown, unreadable }, null, 2)}\n`)
    return 0
  }
  const rows = shown.flatMap(({ pid, name, sockets }) => sockets.map((socket) => ({ pid, name, socket })))
  if (rows.length > 0) out.write(`${socketTable(rows, audit, true)}\n`)
  out.write(`Read ${plural(read, 'process')}, ${processes.length} with TCP sockets (${plural(all.length, 'socket')}).\n`)
  if (unreadable.length > 0) {
    out.write(`Could not read ${plural(unreadable.length, 'process')}:\n`)
    for (const { pid, name, reason } of unreadable) out.write(`  ${pid} ${name}: ${reason}\n`)
  }
  out.write(auditSummary(processes, audit, selection))
  return 0
}

function auditOptions(values: { 'idle-timeout'?: string; preset?: string; 'detect-within'?: string }): Audit {
  const duration = (flag: 'idle-timeout' | 'detect-within') => {
    const text = values[flag]
    if (text === undefined) return undefined
    const ms = parseDuration(text)
    if (ms === null || ms <= 0) throw new UsageError(`--${flag} takes a duration with ms, s, m or h (e.g. 350s), got '${text}'`)
    return ms
  }
  if (values.preset !== undefined && values['idle-timeout'] !== undefined) throw new UsageError('give --idle-timeout or --preset, not both')
  let idleTimeout = duration('idle-timeout')
  let middlebox: string | undefined
  if (values.preset !== undefined) {
    if (!Object.hasOwn(IDLE_TIMEOUT_PRESETS, values.preset)) throw new UsageError(`unknown preset '${values.preset}'; presets: ${PRESETS}`)
    const box = IDLE_TIMEOUT_PRESETS[values.preset as IdleTimeoutPreset]
    // An HTTP box's idle timer counts only data: an audit of keepalive probes against it would pass sockets it still cuts.
    if (box.kind === 'http') {
      throw new UsageError(
        `${values.preset} terminates HTTP: TCP keepalive does not keep its connections open, so there is nothing to audit ` +
          `against it (tcp-keepalive plan --behind ${values.preset} says what does)`,
      )
    }
    ;({ idleTimeout, what: middlebox } = box)
  }
  return { idleTimeout, middlebox, detectWithin: duration('detect-within') }
}

/**
 * The verdicts for one socket. A middlebox forgets a connection idle as long
 * as its timeout unless a keepalive probe goes out before: keepalive off, or
 * idle >= the timeout, is forgotten. A dead peer is held for
 * deadPeerDetectionMs (never with keepalive off).
 */
function auditSocket(socket: InspectedSocket, { idleTimeout, detectWithin }: Audit): Audited {
  const audited: Audited = { ...socket }
  if (!SETTABLE_STATES.includes(socket.state)) return audited // apply leaves it alone: nothing to fix, nothing to flag
  const { enabled, idle } = socket.keepalive
  const listening = socket.state === 'LISTEN'
  if (listening && socket.accepted && socket.accepted.open > 0 && socket.accepted.sameAsListener === 0) {
    // The program sets its own on each accepted socket: the listener's settings reach none; its connections are judged on their rows.
    const reason = `not passed on: its ${plural(socket.accepted.open, 'accepted socket')} ${socket.accepted.open === 1 ? 'holds' : 'hold'} other settings`
    if (idleTimeout !== undefined) audited.middlebox = { forgets: false, reason }
    if (detectWithin !== undefined) audited.deadPeer = { tooLong: false, reason }
    return audited
  }
  if (idleTimeout !== undefined) {
    const subject = listening ? 'connections it accepts are' : 'it is'
    if (!enabled) audited.middlebox = { forgets: true, reason: `${subject} forgotten: keepalive off` }
    else if (idle === null) audited.middlebox = { forgets: false, reason: 'idle unknown' }
    else if (idle >= idleTimeout) {
      audited.middlebox = {
        forgets: true,
        reason: `${subject} forgotten: first probe after ${formatDuration(idle)}, not before ${formatDuration(idleTimeout)}`,
      }
    } else audited.middlebox = { forgets: false, reason: `first probe after ${formatDuration(idle)}` }
  }
  if (detectWithin !== undefined) {
    const held = socket.deadPeerDetection
    if (!enabled) audited.deadPeer = { tooLong: true, reason: 'held forever: keepalive off' }
    else if (held === null) audited.deadPeer = { tooLong: false, reason: 'unknown' }
    else if (held > detectWithin) audited.deadPeer = { tooLong: true, reason: `held ${formatDuration(held)}` }
    else audited.deadPeer = { tooLong: false, reason: `found within ${formatDuration(held)}` }
  }
  return audited
}

function auditJson(audit: Audit, processes: Array<{ pid: number; sockets: Audited[] }>, selection: Selection) {
  if (audit.idleTimeout === undefined && audit.detectWithin === undefined) return {}
  const sockets = processes.flatMap((entry) => entry.sockets).filter((socket) => isSelected(socket, selection))
  const { commands, unselectable, noPlan } = fixCommands(processes, audit, selection)
  return {
    audit: {
      idleTimeout: audit.idleTimeout ?? null,
      middlebox: audit.middlebox ?? null,
      detectWithin: audit.detectWithin ?? null,
      forgotten: sockets.filter((socket) => socket.middlebox?.forgets).length,
      deadPeerHeldTooLong: sockets.filter((socket) => socket.deadPeer?.tooLong).length,
      fix: commands,
      unselectable,
      noPlan,
    },
  }
}

function socketTable(rows: Array<{ pid: number; name?: string; socket: Audited }>, audit: Audit, withProcess: boolean): string {
  const header = ['fd', 'state', 'local', 'peer', 'on', 'idle', 'interval', 'count', 'user timeout', 'dead peer dropped after']
  if (withProcess) header.unshift('pid', 'process')
  if (audit.idleTimeout !== undefined) header.push(`idle timeout ${formatDuration(audit.idleTimeout)}`)
  if (audit.detectWithin !== undefined) header.push(`detect within ${formatDuration(audit.detectWithin)}`)
  const cells = rows.map(({ pid, name, socket }) => {
    const { fd, state, local, remote, keepalive: k, deadPeerDetection } = socket
    const row = [
      String(fd),
      state,
      local,
      remote,
      k.enabled ? 'yes' : 'no',
      formatDuration(k.idle),
      formatDuration(k.interval),
      String(k.count),
      k.userTimeout === 0 ? 'default' : formatDuration(k.userTimeout),
      state === 'LISTEN' ? inheritance(socket.accepted) : k.enabled ? formatDuration(deadPeerDetection) : 'never',
    ]
    if (withProcess) row.unshift(String(pid), name ?? '')
    const notJudged = `not judged: ${state}`
    if (audit.idleTimeout !== undefined)
      row.push(
        socket.middlebox
          ? `${socket.middlebox.forgets ? 'FORGETS: ' : 'ok: '}${socket.middlebox.reason.replace(/^.*forgotten: /, '')}`
          : notJudged,
      )
    if (audit.detectWithin !== undefined)
      row.push(socket.deadPeer ? `${socket.deadPeer.tooLong ? 'TOO LONG: ' : 'ok: '}${socket.deadPeer.reason}` : notJudged)
    return row
  })
  return formatTable(header, cells)
}

/** What a listener's accepted connections show of inheritance: only what is open to see. */
function inheritance(accepted: InspectedSocket['accepted']): string {
  if (!accepted || accepted.open === 0) return '(accepted sockets: none open to verify)'
  if (accepted.sameAsListener === accepted.open) return `(inherited: ${accepted.open} of ${accepted.open} accepted hold these)`
  return `(${accepted.open - accepted.sameAsListener} of ${accepted.open} accepted hold other settings)`
}

/** Whether the audit found something to fix on this socket. */
function flagged(socket: Audited): boolean {
  return socket.middlebox?.forgets === true || (socket.state !== 'LISTEN' && socket.deadPeer?.tooLong === true)
}

/**
 * The apply commands that fix what the audit flagged without a restart, one per
 * process and selection, each selecting only flagged sockets: a socket that
 * passes is never written (the plan could weaken it). A flagged socket whose
 * every port is shared with one that passes cannot be selected alone: counted
 * in `unselectable`.
 */
function fixCommands(
  processes: Array<{ pid: number; sockets: Audited[] }>,
  audit: Audit,
  selection: Selection,
): { commands: string[]; unselectable: number; noPlan: string | null } {
  const commands: string[] = []
  let unselectable = 0
  const { idleTimeout, detectWithin } = audit
  if (idleTimeout === undefined && detectWithin === undefined) return { commands, unselectable, noPlan: null }
  let settings: string
  try {
    const { idle, interval, count, userTimeout } = planKeepalive({ idleTimeout, detectWithin })
    const s = (ms: number) => `${ms / 1000}s`
    settings = `idle=${s(idle)} interval=${s(interval)} count=${count} user-timeout=${s(userTimeout)}`
  } catch (error) {
    const code = (error as { code?: unknown }).code
    // Below planKeepalive's 2 s floor (ERR_OUT_OF_RANGE) is said in the flags' words, as plan says it.
    if (code === 'ERR_OUT_OF_RANGE') return { commands, unselectable, noPlan: 'a plan takes bounds of at least 2s' }
    if (code !== 'ERR_KEEPALIVE_PLAN') throw error
    return { commands, unselectable, noPlan: (error as Error).message } // no settings meet these bounds: said, not suggested
  }
  // apply's own state flags: both (its default), or one.
  const choices = [
    { flag: '', states: SETTABLE_STATES },
    { flag: ' --listening', states: ['LISTEN'] },
    { flag: ' --established', states: ['ESTABLISHED'] },
  ]
  // Flagged and among those asked about: a fix line never reaches a socket outside the user's own selection either.
  const target = (socket: Audited) => flagged(socket) && isSelected(socket, selection)
  for (const { pid, sockets } of processes) {
    const portsByFlag = new Map<string, Set<number>>()
    for (const socket of sockets.filter(target)) {
      const ports = socket.state === 'LISTEN' ? [portOf(socket.local)] : [portOf(socket.local), portOf(socket.remote)]
      const onlyFlagged = (line: Selection) => sockets.every((other) => !isSelected(other, line) || target(other))
      const fitting = choices
        .filter(({ states }) => states.includes(socket.state))
        .flatMap(({ flag, states }) => ports.map((port) => ({ flag, selection: { states, ports: [[port]] } })))
        .filter(({ selection }) => onlyFlagged(selection))
      // A port a line already has, rather than one more.
      const choice = fitting.find(({ flag, selection }) => portsByFlag.get(flag)?.has(selection.ports[0][0])) ?? fitting[0]
      if (choice === undefined) unselectable++
      else portsByFlag.set(choice.flag, (portsByFlag.get(choice.flag) ?? new Set()).add(choice.selection.ports[0][0]))
    }
    for (const { flag } of choices) {
      const ports = portsByFlag.get(flag)
      if (ports) commands.push(`tcp-keepalive apply ${pid}${flag} --port ${[...ports].sort((a, b) => a - b).join(',')} ${settings}`)
    }
  }
  return { commands, unselectable, noPlan: null }
}

/** Counts of what the audit found, and the apply commands that fix it without a restart. */
function auditSummary(processes: Array<{ pid: number; sockets: Audited[] }>, audit: Audit, selection: Selection): string {
  const { idleTimeout, detectWithin, middlebox } = audit
  if (idleTimeout === undefined && detectWithin === undefined) return ''
  const sockets = processes.flatMap((entry) => entry.sockets).filter((socket) => isSelected(socket, selection))
  const connections = sockets.filter((socket) => socket.state === 'ESTABLISHED')
  const listeners = sockets.filter((socket) => socket.state === 'LISTEN')
  const others = sockets.length - connections.length - listeners.length
  const lines: string[] = ['']
  if (idleTimeout !== undefined) {
    const forgotten = connections.filter((socket) => socket.middlebox?.forgets).length
    const passing = listeners.filter((socket) => socket.middlebox?.forgets).length
    lines.push(
      `${middlebox ?? `A middlebox forgetting flows idle ${formatDuration(idleTimeout)}`}: ${forgotten} of ${plural(connections.length, 'connection')} ` +
        `will be forgotten when idle (keepalive off, or first probe not before ${formatDuration(idleTimeout)}); ` +
        `${passing} of ${plural(listeners.length, 'listening socket')} pass such settings to the connections they accept.`,
    )
  }
  if (detectWithin !== undefined) {
    const tooLong = connections.filter((socket) => socket.deadPeer?.tooLong).length
    lines.push(
      `${tooLong} of ${plural(connections.length, 'connection')} would hold a dead peer longer than ${formatDuration(detectWithin)}.`,
    )
  }
  if (others > 0) {
    lines.push(`${plural(others, 'socket')} closing or connecting (not LISTEN or ESTABLISHED): not judged, as apply leaves them alone.`)
  }
  const { commands, unselectable, noPlan } = fixCommands(processes, audit, selection)
  if (noPlan !== null && sockets.some(flagged)) lines.push(`No fix line: no settings meet these bounds (${noPlan}).`)
  if (commands.length > 0) {
    lines.push(
      `Fix the flagged sockets without a restart (root, or the processes' user with ptrace rights); each line selects only flagged sockets:`,
      ...commands.map((command) => `  ${command}`),
    )
  }
  if (unselectable > 0) {
    lines.push(
      `${plural(unselectable, 'flagged socket')} ${unselectable === 1 ? 'shares' : 'share'} every port with a socket that passes: no apply line selects ${unselectable === 1 ? 'it' : 'them'} alone (fix the program's configuration).`,
    )
  }
  return `${lines.join('\n')}\n`
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : noun.endsWith('s') ? 'es' : 's'}`
}
