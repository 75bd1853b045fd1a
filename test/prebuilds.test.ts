// Every prebuilt binary the package ships, loaded on its real runtime with
// PREBUILDS_ONLY=1 (so node-gyp-build must pick it) and round-tripped on a
// real socket: x64 glibc on Node 20/22/24/26, arm64 glibc on arm64 Node under
// qemu, musl x64 and arm64 on Bun's musl builds (test/musl/sysroot.sh).
// `npm run prebuilds` builds them; CI runs it before the tests.
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { canRun, toolPath } from './helpers.js'

const root = path.join(__dirname, '..')
const child = path.join(__dirname, 'children', 'roundtrip.cjs')
const tools = process.env.TCP_KEEPALIVE_TOOLS ?? path.join(process.env.HOME ?? '/root', '.cache', 'tcp-keepalive-tools')
const sysroot = path.join(tools, 'musl-sysroot')

interface Case {
  binary: string
  runtime: string
  /** The command line before the script, or '' where a tool is missing. */
  command: () => string[]
  env?: Record<string, string>
}

function musl(arch: 'x64' | 'arm64', bun: string, qemu: string[]): string[] {
  const dir = path.join(sysroot, arch)
  if (!bun || !existsSync(path.join(dir, '.done'))) return []
  const loader = path.join(dir, arch === 'x64' ? 'ld-musl-x86_64.so.1' : 'ld-musl-aarch64.so.1')
  return [...qemu, loader, '--library-path', dir, '--preload', path.join(dir, 'glibc-shim.so'), bun]
}

const cases: Case[] = [
  ...[
    [`Node ${process.versions.node} (this one)`, process.execPath],
    ...['22', '24', '26'].map((v) => [`Node ${v}`, toolPath(`node${v}`)]),
  ].map(([runtime, node]): Case => ({ binary: 'linux-x64/tcp-keepalive.glibc.node', runtime, command: () => (node ? [node] : []) })),
  {
    binary: 'linux-arm64/tcp-keepalive.glibc.node',
    runtime: 'Node 20 arm64 (qemu)',
    command: () => (toolPath('node-arm64') ? ['qemu-aarch64-static', '-L', '/usr/aarch64-linux-gnu', toolPath('node-arm64')] : []),
  },
  {
    binary: 'linux-x64/tcp-keepalive.musl.node',
    runtime: 'Bun x64 musl',
    command: () => musl('x64', toolPath('bun-musl'), []),
    env: { LIBC: 'musl' }, // node-gyp-build only detects musl on Alpine
  },
  {
    binary: 'linux-arm64/tcp-keepalive.musl.node',
    runtime: 'Bun arm64 musl (qemu)',
    command: () => musl('arm64', toolPath('bun-arm64-musl'), ['qemu-aarch64-static']),
    env: { LIBC: 'musl' },
  },
]

describe('prebuilds', () => {
  for (const { binary, runtime, command, env } of cases) {
    const file = path.join(root, 'prebuilds', binary)
    const argv = command()
    const ready = existsSync(file) && argv.length > 0
    it.skipIf(!canRun(`${binary} (npm run prebuilds) and ${runtime} (scripts/tools.sh, test/musl/sysroot.sh)`, ready))(
      `${binary} loads on ${runtime} and round-trips every field, sticky across setKeepAlive`,
      { timeout: 30_000 },
      () => {
        const out = execFileSync(argv[0], [...argv.slice(1), child], {
          env: { ...process.env, PREBUILDS_ONLY: '1', TCP_KEEPALIVE_FORCE_FALLBACK: '', ...env },
          encoding: 'utf8',
        })
        const result = JSON.parse(out)
        expect(result).toMatchObject({ native: true, reason: null, binding: path.join('prebuilds', binary) })
        expect(result.afterSetKeepAlive).toEqual({ enabled: true, idle: 2_000, interval: 5_000, count: 4, userTimeout: 5_000 })
        console.log(`${binary} on ${result.runtime} (${result.arch}): round trip ok`)
      },
    )
  }
})
