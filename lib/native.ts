// The native backend: one call into the binding per configure and per read.
import { fstatSync } from 'node:fs'
import { constants } from 'node:os'
import path from 'node:path'
import type { Backend, KeepaliveState, Target, TcpInfo } from './backend.js'
import { findForBundle, isPackageRoot } from './bundled.js'
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
  /** Shared with C++ (one per thread): apply writes the fields not -1 from it, read fills it. */
  values: Int32Array
  /** Writes `values`; returns 0, notTcp or -errno. On failure `values` keeps only the fields applied. */
  apply(fd: number, verifyTcp: boolean): number
  read(fd: number, verifyTcp: boolean): number
  /** Whether readTcpInfo works on this platform. */
  tcpInfo: boolean
  /** Shared with C++: readTcpInfo fills it, NaN where the kernel did not. */
  tcpInfoValues: Float64Array
  readTcpInfo(fd: number, verifyTcp: boolean): number
  /** A new fd for process `pid`'s `fd` (Linux 5.6+ pidfd_getfd), or -errno. */
  duplicateProcessFd(pid: number, fd: number): number
  /** Whether findSocket and socketInode work here (Linux). */
  socketLookup: boolean
  /** How many matches findSocket reports in `found`. */
  lookupCapacity: number
  /** Filled by findSocket: [0] 1 for SO_REUSEPORT listener twins, then lookupCapacity fds, then their inodes. */
  found: Float64Array
  /** How many of this process's TCP sockets have these addresses (remoteIp null: listeners), or -errno. */
  findSocket(localIp: string, localPort: number, remoteIp: string | null, remotePort: number): number
  /** The inode of the socket on fd, or -errno. */
  socketInode(fd: number): number
}

/** In a values array: leave unchanged (apply) or cannot be read (read). */
const UNSET = -1

/**
 * This file's folder. A bundler may leave none: esbuild's ESM output has no
 * __dirname (referring to it would throw), webpack's default is "/".
 */
const OWN_FOLDER: string | undefined = typeof __dirname === 'string' ? __dirname : undefined

/** The package root: lib/ when run from source, dist/ when built, both one level down (in a bundle, not the package). */
const PACKAGE_ROOT = path.join(OWN_FOLDER ?? '/', '..')

/** An explicit path to the .node file, for bundles deployed without node_modules. */
const BINDING_VARIABLE = 'TCP_KEEPALIVE_BINDING'

/** Set to "1" to use Node's setKeepAlive even where the binding works (for testing the fallback). */
const FORCE_FALLBACK_VARIABLE = 'TCP_KEEPALIVE_FORCE_FALLBACK'

/** The permission model's API (Node 20+, when --permission / --experimental-permission is on). */
const permission = (process as { permission?: { has(scope: string, reference?: string): boolean } }).permission

/**
 * node-gyp-build, loaded when first needed. At its own load it looks for
 * /etc/alpine-release to tell musl from glibc; where the permission model
 * forbids that read it would throw, so it is told the libc (LIBC, which it
 * reads then) from what Node itself reports.
 */
function nodeGypBuild(): typeof import('node-gyp-build') {
  const guess = process.env.LIBC === undefined && permission !== undefined && !permission.has('fs.read', '/etc/alpine-release')
  if (guess) {
    const { glibcVersionRuntime } = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } }).header ?? {}
    process.env.LIBC = glibcVersionRuntime ? 'glibc' : 'musl'
  }
  try {
    return require('node-gyp-build')
  } finally {
    if (guess) delete process.env.LIBC
  }
}

/** Why the binding did not load, with the fix for that cause. */
function loadFailure(error: unknown): string {
  const { code, message = String(error) } = error as { code?: unknown; message?: string }
  if (code === 'ERR_DLOPEN_DISABLED') {
    return permission !== undefined
      ? "the permission model does not allow native addons: add --allow-addons to Node's flags"
      : 'native addons are disabled (node --no-addons, perhaps through NODE_OPTIONS): drop that flag'
  }
  if (code === 'ERR_ACCESS_DENIED') {
    const resource = (error as { resource?: unknown }).resource
    return `the permission model denied reading ${typeof resource === 'string' ? resource : 'the binding'}: allow the package's folder with --allow-fs-read=${PACKAGE_ROOT}`
  }
  const why = message.split('\n')[0]
  // Deno's permission model: loading a Node-API addon needs --allow-ffi.
  if (process.versions.deno && /--allow-ffi/.test(why)) {
    return "Deno's permissions do not allow native addons: add --allow-ffi (or --allow-all) to deno run"
  }
  if (why.startsWith('No native build was found')) {
    return `no binary for ${process.platform}-${process.arch} in ${PACKAGE_ROOT} (no prebuild matches and none was built): install a C++ toolchain and run 'npm rebuild tcp-keepalive'`
  }
  return `the native binding did not load: ${why} (run 'npm rebuild tcp-keepalive')`
}

/** Loads a .node file without require(), which a bundler may have replaced with its own. */
function dlopen(file: string): Binding {
  const module = { exports: {} }
  process.dlopen(module, file)
  return module.exports as Binding
}

/**
 * Where the binding comes from: an explicit file (TCP_KEEPALIVE_BINDING), the
 * package's own folder, or, when the code was bundled, the folder findForBundle
 * chose; or why there is none.
 */
function bindingSource(): { file: string } | { root: string; bundled: boolean } | { reason: string } {
  const explicit = process.env[BINDING_VARIABLE]
  if (explicit) return { file: path.resolve(explicit) }
  if (OWN_FOLDER !== undefined && isPackageRoot(PACKAGE_ROOT)) return { root: PACKAGE_ROOT, bundled: false }
  const found = findForBundle(OWN_FOLDER, (root) => {
    try {
      nodeGypBuild().resolve(root)
      return true
    } catch {
      return false
    }
  })
  return 'reason' in found ? found : { root: found.root, bundled: true }
}

/** Loads the binding, or says why it cannot be used. */
export function loadBinding(): { binding: Binding } | { reason: string } {
  if (process.env[FORCE_FALLBACK_VARIABLE] === '1') return { reason: `${FORCE_FALLBACK_VARIABLE}=1 is set` }
  let binding: Binding
  try {
    const source = bindingSource()
    if ('reason' in source) return source
    if ('file' in source) {
      try {
        binding = dlopen(source.file)
      } catch (error) {
        const { code, message = String(error) } = error as { code?: unknown; message?: string }
        if (code === 'ERR_DLOPEN_DISABLED' || code === 'ERR_ACCESS_DENIED') return { reason: loadFailure(error) }
        return { reason: `${BINDING_VARIABLE}=${source.file} did not load: ${message.split('\n')[0]}` }
      }
    } else {
      binding = source.bundled ? dlopen(nodeGypBuild().resolve(source.root)) : (nodeGypBuild()(source.root) as Binding)
    }
  } catch (error) {
    return { reason: loadFailure(error) }
  }
  if (binding.unsupportedReason !== null) return { reason: binding.unsupportedReason }
  // Deno's sockets carry no file descriptor (its node:net keeps the socket in Rust): without a lookup by
  // address (lib/lookup.ts, Linux) the binding has nothing to act on.
  if (process.versions.deno && !binding.socketLookup) {
    return { reason: `${runtimeName()}: sockets expose no file descriptor, and this platform has no lookup of one by address` }
  }
  return { binding }
}

/** The binding's file as the loader finds it (TCP_KEEPALIVE_BINDING, a prebuild or a local build), or null. */
export function bindingPath(): string | null {
  try {
    const source = bindingSource()
    if ('reason' in source) return null
    return 'file' in source ? source.file : nodeGypBuild().resolve(source.root)
  } catch {
    return null
  }
}

/** What a non-socket fd is, as ": a pipe", or '' when fstat cannot tell. */
function kindOfFd(fd: number): string {
  try {
    const stats = fstatSync(fd)
    const kind = stats.isFIFO()
      ? 'a pipe'
      : stats.isFile()
        ? 'a file'
        : stats.isCharacterDevice()
          ? 'a character device such as a terminal'
          : stats.isDirectory()
            ? 'a directory'
            : ''
    return kind && `: ${kind}`
  } catch {
    return ''
  }
}

export function nativeBackend(binding: Binding): Backend {
  const limits: Limits = {}
  for (const field of ['idle', 'interval', 'count', 'userTimeout'] as const) {
    const fieldLimits = binding.fields[field]
    if (fieldLimits) limits[field] = fieldLimits
  }
  const unit = (field: Exclude<Field, 'enable'>): number => binding.fields[field]?.unitMs ?? 1
  const [idleUnit, intervalUnit, userTimeoutUnit] = [unit('idle'), unit('interval'), unit('userTimeout')]
  const { values, tcpInfoValues } = binding
  const notHere = FIELDS.filter((field) => !binding.fields[field])
  const none: ReturnType<Backend['unsupported']> = []

  function check(status: number, syscall: string, target: Target): void {
    if (status === binding.notTcp) {
      throw keepaliveError('ERR_KEEPALIVE_NOT_TCP', `${target.socket ? 'The socket' : `fd ${target.fd}`} is not a TCP socket`)
    }
    if (status === -constants.errno.ENOTSOCK) {
      // A net.Socket over a pipe (process.stdin, a child's stdio) or a terminal; an fd of a file.
      const what = target.socket ? `The socket's fd ${target.fd}` : `fd ${target.fd}`
      throw keepaliveError('ERR_KEEPALIVE_NOT_TCP', `${what} is not a socket${kindOfFd(target.fd)}`)
    }
    throw systemError(status, syscall)
  }

  return {
    native: true,
    reason: null,
    limits,
    canRead: true,
    acceptedSocketsInherit: binding.acceptedSocketsInherit,
    writesAllFields: false,
    unsupported: (settings) =>
      notHere.length === 0
        ? none
        : notHere
            .filter((field) => settings[field] !== undefined)
            .map((field) => ({ field, why: 'this platform has no socket option for it' })),
    apply(target, { enable, idle, interval, count, userTimeout }) {
      values[0] = enable === undefined ? UNSET : enable ? 1 : 0
      values[1] = idle === undefined ? UNSET : idle / idleUnit
      values[2] = interval === undefined ? UNSET : interval / intervalUnit
      values[3] = count === undefined ? UNSET : count
      values[4] = userTimeout === undefined ? UNSET : userTimeout / userTimeoutUnit
      const status = binding.apply(target.fd, !target.knownTcp)
      if (status === 0) return
      const applied = FIELDS.filter((_, i) => values[i] !== UNSET)
      if (applied.length === 0) check(status, 'setsockopt', target)
      // Only a value the kernel documents as valid failed, after others were written (see native/keepalive.h).
      const error = systemError(status, 'setsockopt', `; ${applied.join(', ')} applied before it failed`)
      ;(error as { applied?: Field[] }).applied = applied
      throw error
    },
    read(target): KeepaliveState {
      const status = binding.read(target.fd, !target.knownTcp)
      if (status !== 0) check(status, 'getsockopt', target)
      const [enabled, idle, interval, count, userTimeout] = values
      return {
        enabled: enabled === UNSET ? null : enabled === 1,
        idle: idle === UNSET ? null : idle * idleUnit,
        interval: interval === UNSET ? null : interval * intervalUnit,
        count: count === UNSET ? null : count,
        userTimeout: userTimeout === UNSET ? null : userTimeout * userTimeoutUnit,
      }
    },
    readTcpInfo: binding.tcpInfo
      ? (target): TcpInfo => {
          const status = binding.readTcpInfo(target.fd, !target.knownTcp)
          if (status !== 0) check(status, 'getsockopt', target)
          const known = (value: number): number | null => (Number.isNaN(value) ? null : value)
          const [state, probes, backoff, retransmits, totalRetransmits, rtt, rttVariance, lastDataSent, lastDataReceived, lastAckReceived] =
            tcpInfoValues
          return {
            state: Number.isNaN(state) ? null : tcpStateName(state),
            probes: known(probes),
            backoff: known(backoff),
            retransmits: known(retransmits),
            totalRetransmits: known(totalRetransmits),
            rtt: Number.isNaN(rtt) ? null : rtt / 1000,
            rttVariance: Number.isNaN(rttVariance) ? null : rttVariance / 1000,
            lastDataSent: known(lastDataSent),
            lastDataReceived: known(lastDataReceived),
            lastAckReceived: known(lastAckReceived),
          }
        }
      : undefined,
  }
}
