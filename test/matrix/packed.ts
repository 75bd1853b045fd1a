// What the matrix tests share: the packed tarball, an app script that
// configures a socket and waits, and the kernel's view of that socket read
// from outside the process (inspect: pidfd_getfd + getsockopt), so the oracle
// depends neither on the runtime nor on how the package was loaded.
import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import path from 'node:path'
import readline from 'node:readline'
import { inspectProcess } from '../../lib/cli/inspect.js'

export const root = path.join(__dirname, '..', '..')

export const PREBUILDS = ['linux-arm64', 'linux-x64'].flatMap((dir) =>
  ['glibc', 'musl'].map((libc) => path.join(root, 'prebuilds', dir, `tcp-keepalive.${libc}.node`)),
)
export const havePrebuilds = PREBUILDS.every((file) => existsSync(file))

/** npm pack of the checkout into `dir` (with the prebuilds, as published); the tarball's path. */
export function pack(dir: string): string {
  const [packed] = JSON.parse(
    execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }),
  ) as Array<{ filename: string }>
  return path.join(dir, packed.filename)
}

/** The settings every app applies to its client socket (or the preload, from TCP_KEEPALIVE), and what the kernel must then hold. */
export const SETTINGS = { idle: 21_000, interval: 3_000, count: 4 }
export const TCP_KEEPALIVE = 'idle=21s interval=3s count=4'
export const HELD = { enabled: true, ...SETTINGS, userTimeout: 0 }

/**
 * The app, as CommonJS or ESM source: connects to a loopback server, configures the client
 * socket, prints one JSON line and stays up until its stdin closes.
 */
export function appSource(format: 'cjs' | 'esm', importStyle: 'named' | 'default' | 'preloaded' = 'named'): string {
  const imports =
    format === 'cjs'
      ? `const net = require('node:net')\nconst { configureKeepalive, keepaliveSupport } = require('tcp-keepalive')\n`
      : importStyle === 'default'
        ? `import net from 'node:net'\nimport tk from 'tcp-keepalive'\nconst { configureKeepalive, keepaliveSupport } = tk\n`
        : `import net from 'node:net'\nimport { configureKeepalive, keepaliveSupport } from 'tcp-keepalive'\n`
  return `${imports}
const server = net.createServer().listen(0, '127.0.0.1', () => {
  const socket = net.connect(server.address().port, '127.0.0.1', () => {
    let error = null
    ${
      importStyle === 'preloaded'
        ? '// configured by the preload (TCP_KEEPALIVE) alone'
        : `try {
      configureKeepalive(socket, ${JSON.stringify(SETTINGS)})
    } catch (e) {
      error = String(e)
    }`
    }
    const { native, reason } = keepaliveSupport
    const pid = process.pid
    console.log(JSON.stringify({ native, reason, error, pid, local: socket.localPort, remote: socket.remotePort }))
    process.stdin.on('data', () => {})
    process.stdin.on('end', () => { socket.destroy(); server.close() })
  })
})
`
}

export interface Outcome {
  native: boolean
  reason: string | null
  error: string | null
  /** What the kernel holds for the app's client socket. */
  kernel: unknown
}

/** Runs the app (`command`), reads its line and the kernel's values for its socket, then lets it exit. */
export async function runApp(command: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<Outcome> {
  const proc = spawn(command[0], command.slice(1), {
    cwd: options.cwd,
    env: { ...process.env, NODE_NO_WARNINGS: '1', ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let stderr = ''
  proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk))
  try {
    const lines = readline.createInterface({ input: proc.stdout })
    let stdout = ''
    // The app's line; a package manager may print its own before it.
    const first = await new Promise<string>((resolve, reject) => {
      lines.on('line', (line) => (line.startsWith('{') ? resolve(line) : (stdout += `${line}\n`)))
      proc.on('exit', (code) => reject(new Error(`${command.join(' ')} exited ${code}: ${stdout}${stderr}`)))
    })
    // The app's own pid: a package manager's `run` starts it as a child of its own process.
    const report = JSON.parse(first) as Omit<Outcome, 'kernel'> & { pid: number; local: number; remote: number }
    const socket = inspectProcess(report.pid).find(
      (s) => s.local === `127.0.0.1:${report.local}` && s.remote === `127.0.0.1:${report.remote}`,
    )
    if (!socket) throw new Error(`no socket 127.0.0.1:${report.local} in ${command.join(' ')}`)
    return { native: report.native, reason: report.reason, error: report.error, kernel: socket.keepalive }
  } finally {
    proc.stdin.end()
    if (proc.exitCode === null) await once(proc, 'exit')
  }
}
