// Running the tcp-keepalive command as a user runs it: the built bin in a
// child process, as root or, through setpriv, as nobody.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, expect } from 'vitest'
import { canRun, hasCommand } from './helpers.js'

export const root = path.join(__dirname, '..')
export const bin = path.join(root, 'dist', 'cli', 'main.js')

let copyForNobody: string | undefined
afterAll(() => copyForNobody && rmSync(copyForNobody, { recursive: true, force: true }))

/**
 * The CLI's runtime files copied where nobody can read them: the checkout may
 * sit where only root can (a clone under /root, or in a mktemp -d directory).
 */
function binForNobody(): string {
  if (copyForNobody === undefined) {
    copyForNobody = mkdtempSync(path.join(tmpdir(), 'tcp-keepalive-cli-'))
    chmodSync(copyForNobody, 0o755) // mkdtemp makes it 0700
    for (const part of ['package.json', 'dist', 'prebuilds', 'build/Release', 'node_modules/node-gyp-build']) {
      if (existsSync(path.join(root, part))) cpSync(path.join(root, part), path.join(copyForNobody, part), { recursive: true })
    }
  }
  return path.join(copyForNobody, 'dist', 'cli', 'main.js')
}

export function run(args: string[], env: NodeJS.ProcessEnv = {}, asUser?: 'nobody') {
  // As nobody: setpriv drops root for the one command, to test what a user without rights sees.
  const command = asUser
    ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, binForNobody()]
    : [process.execPath, bin]
  const result = spawnSync(command[0], [...command.slice(1), ...args], { encoding: 'utf8', env: { ...process.env, ...env } })
  return { code: result.status, stdout: result.stdout, stderr: result.stderr }
}

export const isRoot = process.getuid?.() === 0
export const canDropRoot = canRun(
  'root and setpriv (util-linux), to run a command as an unprivileged user',
  isRoot && hasCommand('setpriv'),
)

export function expectOneLineFailure(result: ReturnType<typeof run>, code: number, message: string | RegExp) {
  expect(result.code).toBe(code)
  expect(result.stderr).toMatch(message)
  expect(result.stderr).not.toMatch(/^\s+at /m) // no stack trace
}

/** Another user's process (nobody's `sleep 30`), once setpriv has dropped root in it. The caller ends it. */
export async function nobodysProcess(): Promise<ChildProcess> {
  const target = spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'sleep', '30'], { stdio: 'ignore' })
  while (!/^Uid:\s*65534/m.test(readFileSync(`/proc/${target.pid}/status`, 'utf8'))) await new Promise((resolve) => setTimeout(resolve, 10))
  return target
}

/** Runs the command as root without CAP_SYS_PTRACE, as in a container by default. */
export function runWithoutPtrace(args: string[]): ReturnType<typeof run> {
  const result = spawnSync('setpriv', ['--inh-caps=-sys_ptrace', '--bounding-set=-sys_ptrace', process.execPath, bin, ...args], {
    encoding: 'utf8',
  })
  return { code: result.status, stdout: result.stdout, stderr: result.stderr }
}
