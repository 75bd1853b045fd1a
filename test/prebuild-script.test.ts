// scripts/prebuild.sh (also npm pack's prepack) on a contributor's machine: a
// missing tool or a failed build leaves the committed prebuilds/ as it was.
// It runs on a copy of the checkout, so a regression cannot delete this one's.
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { appendFileSync, cpSync, existsSync, readdirSync, readFileSync, symlinkSync } from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { canRun, closeAll, hasCommand, tempDir, toolPath } from './helpers.js'

const root = path.join(__dirname, '..')
afterAll(closeAll)

/** A checkout with what prebuild.sh reads, node_modules linked. */
function checkout(): string {
  const copy = tempDir('prebuild')
  for (const entry of ['scripts', 'binding.gyp', 'package.json', 'vendor', 'native', 'prebuilds']) {
    cpSync(path.join(root, entry), path.join(copy, entry), { recursive: true })
  }
  symlinkSync(path.join(root, 'node_modules'), path.join(copy, 'node_modules'))
  return copy
}

/** Every binary under `dir`/prebuilds with the sha256 of its bytes. */
function prebuilds(dir: string): Record<string, string> {
  const files: Record<string, string> = {}
  const base = path.join(dir, 'prebuilds')
  if (!existsSync(base)) return files
  for (const name of readdirSync(base, { recursive: true, encoding: 'utf8' })) {
    if (name.endsWith('.node'))
      files[name] = createHash('sha256')
        .update(readFileSync(path.join(base, name)))
        .digest('hex')
  }
  return files
}

/** This PATH with every command but the arm64 binutils (as on a machine without binutils-aarch64-linux-gnu). */
function pathWithoutArm64Strip(): string {
  const bin = tempDir('prebuild-bin')
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (!dir || !existsSync(dir)) continue
    for (const name of readdirSync(dir)) {
      if (name.startsWith('aarch64-linux-gnu-') || existsSync(path.join(bin, name))) continue
      symlinkSync(path.join(dir, name), path.join(bin, name))
    }
  }
  return bin
}

function prebuild(copy: string, env: Record<string, string> = {}) {
  return spawnSync(path.join(copy, 'scripts', 'prebuild.sh'), { cwd: copy, env: { ...process.env, ...env }, encoding: 'utf8' })
}

describe('scripts/prebuild.sh', () => {
  it('without aarch64-linux-gnu-strip: says what to install and leaves prebuilds/ as it was', () => {
    const copy = checkout()
    const before = prebuilds(copy)
    expect(Object.keys(before).length).toBeGreaterThan(0)
    const result = prebuild(copy, { PATH: pathWithoutArm64Strip() })
    expect(result.stderr).toBe('prebuild: aarch64-linux-gnu-strip not found (apt-get install binutils-aarch64-linux-gnu)\n')
    expect(result.status).toBe(1)
    expect(prebuilds(copy)).toEqual(before)
  })

  it.skipIf(
    !canRun(
      'zig (scripts/tools.sh install zig) and aarch64-linux-gnu-strip (binutils-aarch64-linux-gnu)',
      toolPath('zig') !== '' && hasCommand('aarch64-linux-gnu-strip'),
    ),
  )('a build that fails leaves prebuilds/ as it was', { timeout: 120_000 }, () => {
    const copy = checkout()
    const before = prebuilds(copy)
    appendFileSync(path.join(copy, 'native', 'binding.cc'), '\n#error this build must fail\n')
    const result = prebuild(copy)
    expect(result.stderr).toContain('#error this build must fail')
    expect(result.status).toBe(1)
    expect(prebuilds(copy)).toEqual(before)
  })
})
