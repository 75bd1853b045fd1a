// Another process's TCP sockets, for `inspect` and `apply`: listed from
// /proc/<pid>/fd and /proc/<pid>/net/tcp{,6}, borrowed one at a time with
// pidfd_getfd (Linux 5.6+, needs ptrace rights over the process), and used
// only when the borrowed fd is still the socket listed (same inode).
import { closeSync, fstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { constants, endianness } from 'node:os'
import { getSystemErrorName } from 'node:util'
import { loadBinding } from '../native.js'
import { tcpStateName } from '../tcp-states.js'
import { CommandError, UsageError } from './command.js'

export interface TcpEntry {
  state: string
  local: string
  remote: string
}

/** A TCP socket as listed: the fd number in the process, and the socket's inode. */
export interface ListedSocket extends TcpEntry {
  fd: number
  inode: string
}

/** Why a process could not be read: it is gone, the caller lacks rights, or it is a thread id or a zombie. */
export type ProcessProblem = 'gone' | 'denied' | 'thread' | 'zombie' | 'main thread exited' | 'unsupported'

/** A process that cannot be read, with the reason in words (exit code 1). */
export class ProcessError extends CommandError {
  constructor(
    readonly problem: ProcessProblem,
    message: string,
  ) {
    super(message)
  }
}

/** Digits only: Number() would also take '0x1', '1e0' and ' 1 ' as pid 1. NaN when `text` is not a process id. */
export function parsePid(text: string): number {
  const pid = /^[1-9][0-9]{0,9}$/.test(text) ? Number(text) : NaN
  return pid <= 2 ** 31 - 1 ? pid : NaN
}

/** The native binding's pidfd_getfd, or a CommandError saying why `command` cannot run here. */
export function borrowingBinding(command: string): { duplicateProcessFd(pid: number, fd: number): number } {
  if (process.platform !== 'linux') throw new CommandError(`${command} needs Linux (pidfd_getfd); this is ${process.platform}`)
  const loaded = loadBinding()
  if ('reason' in loaded) throw new CommandError(`${command} needs the native binding: ${loaded.reason}`)
  return loaded.binding
}

/**
 * The process's name: the program its command line starts with, or '?' when
 * it is gone. Not its comm, the main thread's name, which programs change
 * (Node 24 names it MainThread). A title a program wrote over its command line
 * gives its first word ('nginx: master process ...' is nginx); a kernel
 * thread, which has no command line, its comm.
 */
export function processName(pid: number): string {
  try {
    const [program] = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
    const [first] = program.split(' ')
    if (first) return first.slice(first.lastIndexOf('/') + 1).replace(/:$/, '')
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim()
  } catch {
    return '?'
  }
}

/**
 * The TCP sockets process `pid` holds. Refuses (ProcessError) what has no fds
 * to read: no such process, a thread id, a zombie, or one the caller has no
 * rights over. `command` names the command in the advice for a thread id.
 */
export function listTcpSockets(pid: number, command: string, cache?: TcpTableCache): ListedSocket[] {
  checkProcess(pid, command)
  const inodes = socketInodesByFd(pid)
  let tcp = cache?.get(pid) ?? readTcpTables(pid)
  // A socket newer than a cached table: read the table again, once.
  if (cache && [...inodes.values()].some((inode) => !tcp.has(inode))) tcp = cache.refresh(pid)
  // /proc/<pid>/net is the namespace the process is in now: a socket it opened before a setns is in another one.
  const elsewhere = [...inodes.values()].some((inode) => !tcp.has(inode)) ? (cache ?? new TcpTableCache()).everyNamespace() : undefined
  const sockets: ListedSocket[] = []
  for (const [fd, inode] of inodes) {
    const entry = tcp.get(inode) ?? elsewhere?.get(inode)
    if (entry) sockets.push({ fd, inode, ...entry }) // else a Unix, UDP or netlink socket
  }
  // Exited while listed: its fds and tables vanish one read at a time, which reads as "no sockets".
  if (hasExited(pid)) throw new ProcessError('gone', `process ${pid} exited while its sockets were listed`)
  return sockets
}

/** Whether the process is gone or a zombie: it holds no fds any more. */
export function hasExited(pid: number): boolean {
  try {
    return /^State:\s*Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'))
  } catch {
    return true
  }
}

/**
 * The TCP tables by network namespace, for reading many processes (inspect
 * --all): every process of a namespace sees the same /proc/<pid>/net/tcp,
 * which holds every socket of the namespace (thousands on a busy host).
 */
export class TcpTableCache {
  private readonly tables = new Map<string, Map<string, TcpEntry>>()

  get(pid: number): Map<string, TcpEntry> {
    const namespace = networkNamespace(pid)
    const known = namespace === null ? undefined : this.tables.get(namespace)
    return known ?? this.refresh(pid)
  }

  refresh(pid: number): Map<string, TcpEntry> {
    const table = readTcpTables(pid)
    const namespace = networkNamespace(pid)
    if (namespace !== null) this.tables.set(namespace, table)
    return table
  }

  private all: Map<string, TcpEntry> | undefined

  /** The TCP sockets of every network namespace a process is in (read through one process each), once per cache. */
  everyNamespace(): Map<string, TcpEntry> {
    if (this.all) return this.all
    this.all = new Map()
    const seen = new Set<string>()
    for (const name of readdirSync('/proc').filter((entry) => /^\d+$/.test(entry))) {
      const namespace = networkNamespace(Number(name))
      if (namespace === null || seen.has(namespace)) continue
      seen.add(namespace)
      for (const [inode, entry] of this.tables.get(namespace) ?? readTcpTables(Number(name))) this.all.set(inode, entry)
    }
    return this.all
  }
}

function networkNamespace(pid: number): string | null {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`)
  } catch {
    return null // gone, or not ours to read: no sharing
  }
}

function readTcpTables(pid: number): Map<string, TcpEntry> {
  return new Map([...readTcpTable(pid, 'tcp'), ...readTcpTable(pid, 'tcp6')])
}

/**
 * Runs `use` on a borrowed copy of the listed socket and closes the copy.
 * 'closed' when the process closed the fd since the listing, 'replaced' when
 * the fd number now holds another file (closed and reused): `use` never sees
 * a socket that was not the one listed. Throws ProcessError without rights.
 */
export function withBorrowedSocket<T>(
  binding: { duplicateProcessFd(pid: number, fd: number): number },
  pid: number,
  listed: ListedSocket,
  use: (fd: number) => T,
): T | 'closed' | 'replaced' {
  const copy = binding.duplicateProcessFd(pid, listed.fd)
  if (copy === -constants.errno.EBADF) return 'closed'
  if (copy < 0) throw borrowError(pid, -copy)
  try {
    if (String(fstatSync(copy).ino) !== listed.inode) return 'replaced'
    return use(copy)
  } finally {
    closeSync(copy)
  }
}

/** Refuses what has no fds to read: no such process, a thread id, a zombie. */
function checkProcess(pid: number, command: string): void {
  let status: string
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new ProcessError('gone', `no process with pid ${pid}`)
    throw error
  }
  const field = (name: string) => new RegExp(`^${name}:\\s*(\\S+)`, 'm').exec(status)?.[1]
  const tgid = field('Tgid')
  if (tgid !== undefined && tgid !== String(pid)) {
    if (liveThreads(Number(tgid)).length > 0 && hasExited(Number(tgid))) throw mainThreadExited(Number(tgid))
    throw new ProcessError(
      'thread',
      `${pid} is a thread of process ${tgid}: its sockets are the process's, run 'tcp-keepalive ${command} ${tgid}'`,
    )
  }
  if (field('State') === 'Z') {
    if (liveThreads(pid).length > 0) throw mainThreadExited(pid)
    throw new ProcessError('zombie', `process ${pid} is a zombie (exited, not yet reaped by its parent): it holds no sockets`)
  }
}

/**
 * A process whose main thread called pthread_exit runs on in its other
 * threads, and its leader reads as a zombie. pidfd_getfd reaches its fds only
 * through a live thread (pidfd_open with PIDFD_THREAD, Linux 6.9+), which the
 * binding does not do: said, rather than "a zombie holding no sockets".
 */
function mainThreadExited(pid: number): ProcessError {
  const threads = liveThreads(pid)
  return new ProcessError(
    'main thread exited',
    `process ${pid} runs, but its main thread exited (pthread_exit); its sockets are held by its ${threads.length === 1 ? 'thread' : 'threads'} ${threads.join(', ')} and cannot be borrowed through the main thread (pidfd_getfd): not read`,
  )
}

/** The process's threads other than the main one that have not exited. */
function liveThreads(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`)
      .map(Number)
      .filter((tid) => tid !== pid && !/^State:\s*Z/m.test(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8')))
      .sort((a, b) => a - b)
  } catch {
    return []
  }
}

function borrowError(pid: number, errno: number): ProcessError {
  if (errno === constants.errno.EPERM) {
    return new ProcessError('denied', `permission denied: borrowing the sockets of process ${pid} ${needsPtrace(pid)}`)
  }
  if (errno === constants.errno.ESRCH) return new ProcessError('gone', `process ${pid} exited`)
  if (errno === constants.errno.ENOSYS) {
    return new ProcessError('unsupported', 'this kernel has no pidfd_getfd: borrowing sockets needs Linux 5.6 or later')
  }
  return new ProcessError(
    'unsupported',
    `borrowing a socket of process ${pid} (pidfd_open, pidfd_getfd) failed: ${getSystemErrorName(-errno)}`,
  )
}

/** "needs ptrace rights over the process: <what is lacking here>". */
export function needsPtrace(pid: number): string {
  return `needs ptrace rights over the process: ${lackingRights(pid)}`
}

const CAP_SYS_PTRACE = 19n

/** What the caller lacks to ptrace `pid`, as precisely as /proc tells. */
function lackingRights(pid: number): string {
  const scope = readNumber('/proc/sys/kernel/yama/ptrace_scope')
  if (scope === 3) return 'kernel.yama.ptrace_scope is 3, which forbids ptrace to everyone until reboot'
  const self = statusFields('self')
  const capabilities = self.CapEff === undefined ? 0n : BigInt(`0x${self.CapEff}`)
  if ((capabilities >> CAP_SYS_PTRACE) & 1n) {
    return 'this process has CAP_SYS_PTRACE, yet the kernel refused (the process may belong to another user namespace, or a security module such as AppArmor or SELinux forbids ptrace)'
  }
  const me = process.geteuid?.() ?? -1
  if (me === 0) {
    return 'you are root without CAP_SYS_PTRACE (the default in a container: add the capability, e.g. docker run --cap-add SYS_PTRACE)'
  }
  const owner = statusFields(String(pid)).Uid?.split(/\s+/) ?? [] // real, effective, saved, filesystem
  if (owner.some((uid) => Number(uid) !== me)) {
    return `it runs as ${describeUid(Number(owner[1] ?? owner[0]))} and you as ${describeUid(me)}: run as its user, or as root`
  }
  if (scope === 2) return 'kernel.yama.ptrace_scope is 2: only root (CAP_SYS_PTRACE) may ptrace'
  if (scope === 1) return 'kernel.yama.ptrace_scope is 1: you may ptrace only your own descendants; run as root (or set it to 0)'
  return 'it is yours but not dumpable (setuid, or prctl(PR_SET_DUMPABLE, 0)): run as root'
}

function statusFields(pid: string): Record<string, string> {
  try {
    return Object.fromEntries(
      readFileSync(`/proc/${pid}/status`, 'utf8')
        .split('\n')
        .map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1).trim()]),
    )
  } catch {
    return {}
  }
}

function readNumber(file: string): number | null {
  try {
    return Number(readFileSync(file, 'utf8').trim())
  } catch {
    return null
  }
}

/** "uid 65534 (nobody)", with the name from /etc/passwd when it has one. */
function describeUid(uid: number): string {
  let name: string | undefined
  try {
    name = readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .map((line) => line.split(':'))
      .find((fields) => fields[2] === String(uid))?.[0]
  } catch {
    // no passwd file: the number alone
  }
  return name ? `uid ${uid} (${name})` : `uid ${uid}`
}

/** fd -> socket inode, from the /proc/<pid>/fd links that read "socket:[inode]". */
function socketInodesByFd(pid: number): Map<number, string> {
  let names: string[]
  try {
    names = readdirSync(`/proc/${pid}/fd`)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new ProcessError('gone', `process ${pid} exited while its sockets were listed`)
    if (code === 'EACCES' || code === 'EPERM') {
      throw new ProcessError('denied', `permission denied: reading /proc/${pid}/fd ${needsPtrace(pid)}`)
    }
    throw error
  }
  const sockets = new Map<number, string>()
  for (const name of names.sort((a, b) => Number(a) - Number(b))) {
    let link: string
    try {
      link = readlinkSync(`/proc/${pid}/fd/${name}`)
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'ENOENT') continue // closed since the listing
      // Root without CAP_SYS_PTRACE (a container's default) lists the fds but cannot read where they point.
      if (code === 'EACCES' || code === 'EPERM') {
        throw new ProcessError('denied', `permission denied: reading /proc/${pid}/fd/${name} ${needsPtrace(pid)}`)
      }
      throw error
    }
    const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1]
    if (inode) sockets.set(Number(name), inode)
  }
  return sockets
}

/** inode -> state and addresses, from /proc/<pid>/net/tcp or tcp6 (the process's own network namespace). */
function readTcpTable(pid: number, table: 'tcp' | 'tcp6'): Map<string, TcpEntry> {
  const entries = new Map<string, TcpEntry>()
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/net/${table}`, 'utf8')
  } catch {
    return entries // no IPv6 in that kernel or namespace
  }
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/)
    if (fields.length < 10) continue
    entries.set(fields[9], {
      state: tcpStateName(parseInt(fields[3], 16)),
      local: parseEndpoint(fields[1]),
      remote: parseEndpoint(fields[2]),
    })
  }
  return entries
}

/**
 * The states `apply` writes and the audit judges: listeners (for the
 * connections they will accept) and open connections. A connection closing
 * (CLOSE_WAIT, FIN_WAIT...) or still connecting is left alone.
 */
export const SETTABLE_STATES: readonly string[] = ['LISTEN', 'ESTABLISHED']

/**
 * Which sockets `apply` writes, and so which the audit's fix lines may name:
 * the states asked for, and for each port list one port the socket has (local
 * or remote). One definition, so a printed fix selects what the audit judged.
 */
export interface Selection {
  /** null: any state. */
  states: readonly string[] | null
  ports: number[][]
}

/** The selection flags every command that takes sockets shares: --port (repeat, or 80,443), --listening, --established. */
export const SELECTION_OPTIONS = {
  port: { type: 'string', multiple: true },
  listening: { type: 'boolean', default: false },
  established: { type: 'boolean', default: false },
} as const

/**
 * The selection the flags ask for: --listening and --established narrow to
 * those states (both or neither: `states`, the command's default), each
 * --port adds its ports to one list. Throws UsageError naming a bad port.
 */
export function parseSelection(
  values: { port?: string[]; listening?: boolean; established?: boolean },
  states: readonly string[] | null,
): Selection {
  const ports = (values.port ?? []).flatMap((text) => {
    const list = text.split(',').map(Number)
    if (!/^\d+(,\d+)*$/.test(text) || list.some((port) => port < 1 || port > 65535)) {
      throw new UsageError(`--port takes port numbers (1-65535), got '${text}'`)
    }
    return list
  })
  const narrowed = values.listening !== values.established
  return {
    states: narrowed ? [values.listening ? 'LISTEN' : 'ESTABLISHED'] : states,
    ports: ports.length > 0 ? [ports] : [],
  }
}

export function isSelected(socket: TcpEntry, { states, ports }: Selection): boolean {
  return (
    (states === null || states.includes(socket.state)) &&
    ports.every((list) => list.includes(portOf(socket.local)) || list.includes(portOf(socket.remote)))
  )
}

/** The port of "127.0.0.1:8080" or "[::1]:80". */
export function portOf(endpoint: string): number {
  return Number(endpoint.slice(endpoint.lastIndexOf(':') + 1))
}

/**
 * "0100007F:1F90" -> "127.0.0.1:8080". The kernel prints each 32-bit word of
 * the address in host byte order, the port as a plain number.
 */
export function parseEndpoint(text: string): string {
  const [hex, port] = text.split(':')
  const bytes: number[] = []
  for (let word = 0; word < hex.length; word += 8) {
    const wordBytes = [0, 2, 4, 6].map((i) => parseInt(hex.slice(word + i, word + i + 2), 16))
    bytes.push(...(endianness() === 'LE' ? wordBytes.reverse() : wordBytes))
  }
  const portNumber = parseInt(port, 16)
  if (bytes.length === 4) return `${bytes.join('.')}:${portNumber}`
  const isV4Mapped = bytes.slice(0, 10).every((byte) => byte === 0) && bytes[10] === 0xff && bytes[11] === 0xff
  if (isV4Mapped) return `[::ffff:${bytes.slice(12).join('.')}]:${portNumber}` // as Node shows them (dual-stack servers)
  const groups = [0, 2, 4, 6, 8, 10, 12, 14].map((i) => ((bytes[i] << 8) | bytes[i + 1]).toString(16))
  return `[${new URL(`http://[${groups.join(':')}]`).hostname.slice(1, -1)}]:${portNumber}`
}
