// The native backend: one call into the binding per configure and per read.
import nodeGypBuild from 'node-gyp-build'
import { constants } from 'node:os'
import path from 'node:path'
import type { Backend, KeepaliveState, Target, TcpInfo } from './backend.js'
import { keepaliveError, systemError } from './errors.js'
import { runtimeName } from './fallback.js'
import { FIELDS, type Field, type FieldLimits, type Limits } from './options.js'
import { tcpStateName } from './tcp-states.js'

/** The binding's exports (native/binding.cc). */
export interface Binding {
  /** Fields that can be set here, with their bounds in the kernel's unit. */
  fields: Partial<Record<Field, FieldLimits>>
  unsupportedReason: string | null
  /** The status for "a socket, but not TCP"; other non-zero statuses are -errno. */
  notTcp: number
  acceptedSocketsInherit: boolean
  apply(fd: number, values: Int32Array): number
  read(fd: number, values: Int32Array): number
  /** Whether readTcpInfo works on this platform. */
  tcpInfo: boolean
  readTcpInfo(fd: number, values: Float64Array): number
  /** A new fd for process `pid`'s `fd` (Linux 5.6+ pidfd_getfd), or -errno. */
  duplicateProcessFd(pid: number, fd: number): number
}

/** In a values array: leave unchanged (apply) or cannot be read (read). */
const UNSET = -1

/** The package root: lib/ when run from source, dist/ when built, both one level down. */
const PACKAGE_ROOT = path.join(__dirname, '..')

/** Set to "1" to use Node's setKeepAlive even where the binding works (for testing the fallback). */
const FORCE_FALLBACK_VARIABLE = 'TCP_KEEPALIVE_FORCE_FALLBACK'

/** Loads the binding, or says why it cannot be used. */
export function loadBinding(): { binding: Binding } | { reason: string } {
  if (process.env[FORCE_FALLBACK_VARIABLE] === '1') return { reason: `${FORCE_FALLBACK_VARIABLE}=1 is set` }
  // Deno's sockets carry no file descriptor (its node:net keeps the socket in Rust), so the binding has nothing to act on.
  if (process.versions.deno) return { reason: `${runtimeName()}: sockets expose no file descriptor` }
  let binding: Binding
  try {
    binding = nodeGypBuild(PACKAGE_ROOT) as Binding
  } catch (error) {
    const why = (error as Error).message.split('\n')[0]
    return { reason: `the native binding did not load: ${why} (install a C++ toolchain and run 'npm rebuild tcp-keepalive')` }
  }
  if (binding.unsupportedReason !== null) return { reason: binding.unsupportedReason }
  return { binding }
}

/** The binding's file as node-gyp-build resolves it (a prebuild or a local build), or null. */
export function bindingPath(): string | null {
  try {
    return nodeGypBuild.resolve(PACKAGE_ROOT)
  } catch {
    return null
  }
}

export function nativeBackend(binding: Binding): Backend {
  const limits: Limits = {}
  for (const field of ['idle', 'interval', 'count', 'userTimeout'] as const) {
    const fieldLimits = binding.fields[field]
    if (fieldLimits) limits[field] = fieldLimits
  }
  const unitMs = (field: Field): number => (field === 'enable' ? 1 : (binding.fields[field]?.unitMs ?? 1))
  // Reused for every call: the binding reads and writes them synchronously.
  const values = new Int32Array(FIELDS.length)
  const tcpInfo = new Float64Array(10) // native/tcp_info.h TcpInfoField order

  function check(status: number, syscall: string, target: Target): void {
    if (status === 0) return
    if (status === binding.notTcp || status === -constants.errno.ENOTSOCK) {
      const subject = target.socket ? 'The socket' : `fd ${target.fd}`
      const what = status === binding.notTcp ? 'is not a TCP socket' : 'is not a socket'
      throw keepaliveError('ERR_KEEPALIVE_NOT_TCP', `${subject} ${what}`)
    }
    throw systemError(status, syscall)
  }

  return {
    native: true,
    reason: null,
    limits,
    canRead: true,
    acceptedSocketsInherit: binding.acceptedSocketsInherit,
    unsupported: (settings) =>
      FIELDS.filter((field) => settings[field] !== undefined && !binding.fields[field]).map((field) => ({
        field,
        why: 'this platform has no socket option for it',
      })),
    apply(target, settings) {
      FIELDS.forEach((field, i) => {
        const value = settings[field]
        values[i] = value === undefined ? UNSET : Number(value) / unitMs(field)
      })
      check(binding.apply(target.fd, values), 'setsockopt', target)
    },
    read(target): KeepaliveState {
      check(binding.read(target.fd, values), 'getsockopt', target)
      const ms = (i: number): number | null => (values[i] === UNSET ? null : values[i] * unitMs(FIELDS[i]))
      return {
        enabled: values[0] === UNSET ? null : values[0] === 1,
        idle: ms(1),
        interval: ms(2),
        count: ms(3),
        userTimeout: ms(4),
      }
    },
    readTcpInfo: binding.tcpInfo
      ? (target): TcpInfo => {
          check(binding.readTcpInfo(target.fd, tcpInfo), 'getsockopt', target)
          const [state, probes, backoff, retransmits, totalRetransmits, rtt, rttVariance, lastDataSent, lastDataReceived, lastAckReceived] =
            tcpInfo
          return {
            state: tcpStateName(state),
            probes,
            backoff,
            retransmits,
            totalRetransmits,
            rtt: rtt / 1000,
            rttVariance: rttVariance / 1000,
            lastDataSent,
            lastDataReceived,
            lastAckReceived,
          }
        }
      : undefined,
  }
}
