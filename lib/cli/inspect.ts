// `tcp-keepalive inspect <pid>`: the keepalive settings of every TCP socket
// of a running process. Each socket is borrowed with pidfd_getfd (Linux 5.6+,
// needs ptrace rights over the process) and read with getsockopt.
import { closeSync, fstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { constants, endianness } from 'node:os'
import { getSystemErrorName, parseArgs } from 'node:util'
import { deadPeerDetectionMs } from '../detection.js'
import { type KeepaliveState, readKeepalive } from '../index.js'
import { loadBinding } from '../native.js'
import { tcpStateName } from '../tcp-states.js'
import { type Command, CommandError, UsageError } from './command.js'
import { formatDuration, formatTable } from './format.js'

const HELP = `Usage: tcp-keepalive inspect <pid> [--json]

Lists the TCP sockets of a running process (Linux 5.6+) with their state,
addresses and the keepalive settings the kernel holds for each. Needs ptrace
rights over the process: your own processes (if ptrace is allowed), or root.

Options:
  --json      Print the sockets as JSON
  -h, --help  Show this help
`

interface TcpEntry {
  state: string
  local: string
  remote: string
}

export interface InspectedSocket extends TcpEntry {
  fd: number
  keepalive: KeepaliveState
  deadPeerDetection: number | null
}

const NO_PTRACE = 'needs ptrace rights over the process (run as its user with ptrace allowed, or as root)'

export const inspect: Command = {
  summary: "List a running process's TCP sockets with their keepalive settings (Linux)",
  help: HELP,
  async run(argv, out) {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { json: { type: 'boolean', default: false } },
      allowPositionals: true,
    })
    if (positionals.length !== 1) throw new UsageError('expected exactly one process id')
    // Digits only: Number() would also take '0x1', '1e0' and ' 1 ' as pid 1.
    const pid = /^[1-9][0-9]{0,9}$/.test(positionals[0]) ? Number(positionals[0]) : NaN
    if (!Number.isSafeInteger(pid) || pid > 2 ** 31 - 1) throw new UsageError(`'${positionals[0]}' is not a process id`)

    const sockets = inspectProcess(pid)
    if (values.json) {
      out.write(`${JSON.stringify({ pid, sockets }, null, 2)}\n`)
      return 0
    }
    if (sockets.length === 0) {
      out.write(`Process ${pid} has no TCP sockets.\n`)
      return 0
    }
    const rows = sockets.map(({ fd, state, local, remote, keepalive: k, deadPeerDetection }) => [
      String(fd),
      state,
      local,
      remote,
      k.enabled ? 'yes' : 'no',
      formatDuration(k.idle),
      formatDuration(k.interval),
      String(k.count),
      k.userTimeout === 0 ? 'default' : formatDuration(k.userTimeout),
      state === 'LISTEN' ? '(inherited by accepted sockets)' : k.enabled ? formatDuration(deadPeerDetection) : 'never',
    ])
    out.write(
      `${formatTable(['fd', 'state', 'local', 'peer', 'on', 'idle', 'interval', 'count', 'user timeout', 'dead peer dropped after'], rows)}\n`,
    )
    return 0
  },
}

export function inspectProcess(pid: number): InspectedSocket[] {
  if (process.platform !== 'linux') throw new CommandError(`inspect needs Linux (pidfd_getfd); this is ${process.platform}`)
  const loaded = loadBinding()
  if ('reason' in loaded) throw new CommandError(`inspect needs the native binding: ${loaded.reason}`)
  const { binding } = loaded

  checkProcess(pid)
  const socketFds = socketInodesByFd(pid)
  const tcp = new Map([...readTcpTable(pid, 'tcp'), ...readTcpTable(pid, 'tcp6')])
  const sockets: InspectedSocket[] = []
  for (const [fd, inode] of socketFds) {
    const entry = tcp.get(inode)
    if (!entry) continue // a Unix, UDP or netlink socket
    const copy = binding.duplicateProcessFd(pid, fd)
    if (copy === -constants.errno.EBADF) continue // closed since we listed it
    if (copy < 0) throw borrowError(pid, -copy)
    try {
      // The process may have closed the fd and opened another under the same
      // number since the listing: only the socket listed (same inode) is read.
      if (String(fstatSync(copy).ino) !== inode) continue
      const keepalive = readKeepalive(copy)
      sockets.push({ fd, ...entry, keepalive, deadPeerDetection: deadPeerDetectionMs(keepalive) })
    } finally {
      closeSync(copy)
    }
  }
  return sockets
}

/** Refuses what has no fds to inspect: no such process, a thread id, a zombie. */
function checkProcess(pid: number): void {
  let status: string
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new CommandError(`no process with pid ${pid}`)
    throw error
  }
  const field = (name: string) => new RegExp(`^${name}:\\s*(\\S+)`, 'm').exec(status)?.[1]
  const tgid = field('Tgid')
  if (tgid !== undefined && tgid !== String(pid)) {
    throw new CommandError(`${pid} is a thread of process ${tgid}: its sockets are the process's, run 'tcp-keepalive inspect ${tgid}'`)
  }
  if (field('State') === 'Z')
    throw new CommandError(`process ${pid} is a zombie (exited, not yet reaped by its parent): it holds no sockets`)
}

function borrowError(pid: number, errno: number): CommandError {
  if (errno === constants.errno.EPERM) return new CommandError(`permission denied: inspecting process ${pid} ${NO_PTRACE}`)
  if (errno === constants.errno.ESRCH) return new CommandError(`process ${pid} exited`)
  if (errno === constants.errno.ENOSYS) return new CommandError('this kernel has no pidfd_getfd: inspect needs Linux 5.6 or later')
  return new CommandError(`borrowing a socket of process ${pid} (pidfd_open, pidfd_getfd) failed: ${getSystemErrorName(-errno)}`)
}

/** fd -> socket inode, from the /proc/<pid>/fd links that read "socket:[inode]". */
function socketInodesByFd(pid: number): Map<number, string> {
  let names: string[]
  try {
    names = readdirSync(`/proc/${pid}/fd`)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new CommandError(`no process with pid ${pid}`)
    if (code === 'EACCES' || code === 'EPERM') throw new CommandError(`permission denied: reading /proc/${pid}/fd ${NO_PTRACE}`)
    throw error
  }
  const sockets = new Map<number, string>()
  for (const name of names) {
    let link: string
    try {
      link = readlinkSync(`/proc/${pid}/fd/${name}`)
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'ENOENT') continue // closed since the listing
      // Root without CAP_SYS_PTRACE (a container's default) lists the fds but cannot read where they point.
      if (code === 'EACCES' || code === 'EPERM') throw new CommandError(`permission denied: reading /proc/${pid}/fd/${name} ${NO_PTRACE}`)
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
