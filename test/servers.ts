// Throwaway Redis and MariaDB servers for the client matrix: each started on a
// loopback port in a temp dir, stopped and deleted afterwards. Need Debian's
// redis-server and mariadb-server packages (MariaDB runs as the mysql user: root).
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { chownSync, mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { hasCommand } from './helpers.js'

/** A free loopback port (asked of the kernel, then released). */
export async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as net.AddressInfo
  server.close()
  return port
}

/** Resolves once something accepts on the port (tries every 50 ms for up to `ms`). */
async function accepting(port: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms
  for (;;) {
    const socket = net.connect(port, '127.0.0.1')
    const up = await new Promise<boolean>((resolve) => socket.once('connect', () => resolve(true)).once('error', () => resolve(false)))
    socket.destroy()
    if (up) return
    if (Date.now() > deadline) throw new Error(`nothing accepts on port ${port} after ${ms} ms`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** A server process in its own temp dir. */
export class ThrowawayServer {
  private constructor(
    readonly port: number,
    private readonly child: ChildProcess,
    private readonly dir: string,
  ) {}

  static unavailableReason(kind: 'redis' | 'mariadb'): string | null {
    if (kind === 'redis') return hasCommand('redis-server') ? null : 'redis-server (apt-get install redis-server)'
    if (process.getuid?.() !== 0) return 'root, to run MariaDB as the mysql user'
    return hasCommand('mariadb-install-db') ? null : 'MariaDB (apt-get install mariadb-server)'
  }

  static async redis(): Promise<ThrowawayServer> {
    const [port, dir] = [await freePort(), mkdtempSync(path.join(tmpdir(), 'tcp-keepalive-redis-'))]
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir]
    const child = spawn('redis-server', args, { stdio: 'ignore' })
    await accepting(port, 10_000)
    return new ThrowawayServer(port, child, dir)
  }

  /** MariaDB without grant tables: any user, no password (a throwaway). */
  static async mariadb(): Promise<ThrowawayServer> {
    const [port, dir] = [await freePort(), mkdtempSync(path.join(tmpdir(), 'tcp-keepalive-mariadb-'))]
    chownSync(dir, Number(execFileSync('id', ['-u', 'mysql'])), Number(execFileSync('id', ['-g', 'mysql'])))
    const data = path.join(dir, 'data')
    execFileSync('mariadb-install-db', [`--datadir=${data}`, '--user=mysql', '--skip-test-db'], { stdio: 'ignore' })
    const child = spawn(
      'mariadbd',
      [
        `--datadir=${data}`,
        '--user=mysql',
        `--port=${port}`,
        '--bind-address=127.0.0.1',
        `--socket=${path.join(dir, 'socket')}`,
        '--skip-grant-tables',
        '--skip-log-bin',
        '--innodb-buffer-pool-size=16M',
      ],
      { stdio: 'ignore' },
    )
    await accepting(port, 30_000)
    return new ThrowawayServer(port, child, dir)
  }

  /** SIGSTOP hangs the server (its kernel still accepts and ACKs); SIGCONT resumes it. */
  signal(signal: 'SIGSTOP' | 'SIGCONT'): void {
    this.child.kill(signal)
  }

  async close(): Promise<void> {
    if (this.child.exitCode === null) {
      this.child.kill('SIGKILL')
      await once(this.child, 'exit')
    }
    rmSync(this.dir, { recursive: true, force: true })
  }
}
