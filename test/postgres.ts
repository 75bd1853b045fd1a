// A throwaway PostgreSQL cluster for the tests: initdb in a temp dir, started
// with pg_ctl on a given address and port (optionally inside a lab host),
// stopped and deleted afterwards. Needs root (to run it as the postgres user)
// and Debian's postgresql package.
import { execFileSync } from 'node:child_process'
import { appendFileSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'

function findBin(): string | null {
  try {
    const versions = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a))
    const version = versions.find((v) => existsSync(`/usr/lib/postgresql/${v}/bin/initdb`))
    return version ? `/usr/lib/postgresql/${version}/bin` : null
  } catch {
    return null
  }
}

const bin = findBin()

function userId(name: string): { uid: number; gid: number } | null {
  try {
    const [uid, gid] = ['-u', '-g'].map((flag) => Number(execFileSync('id', [flag, name], { encoding: 'utf8' })))
    return { uid, gid }
  } catch {
    return null
  }
}

/** Why a cluster cannot be started here, or null. */
export function postgresUnavailableReason(): string | null {
  if (process.getuid?.() !== 0) return 'root, to run PostgreSQL as the postgres user'
  if (bin === null) return 'PostgreSQL (apt-get install postgresql)'
  if (userId('postgres') === null) return 'the postgres user (apt-get install postgresql)'
  return null
}

export class Postgres {
  readonly dir: string

  /** initdb: trust authentication for the postgres user, no fsync (a throwaway). */
  constructor() {
    const owner = userId('postgres')!
    this.dir = mkdtempSync(path.join(tmpdir(), 'tcp-keepalive-pg-'))
    chownSync(this.dir, owner.uid, owner.gid)
    this.asPostgres([`${bin}/initdb`, '-D', this.dir, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8'])
    // initdb trusts loopback only; the lab's client connects from its own subnet.
    appendFileSync(path.join(this.dir, 'pg_hba.conf'), 'host all all 0.0.0.0/0 trust\n')
  }

  /** pg_ctl start, waiting until it accepts connections; `inNamespace` prefixes the command (ip netns exec NAME). */
  start(host: string, port: number, inNamespace: string[] = []): void {
    const options = `-h ${host} -p ${port} -k ${this.dir} -c fsync=off`
    this.asPostgres([`${bin}/pg_ctl`, '-D', this.dir, '-l', path.join(this.dir, 'log'), '-w', '-o', options, 'start'], inNamespace)
  }

  /** Stops the server at once and deletes the cluster. */
  close(): void {
    try {
      this.asPostgres([`${bin}/pg_ctl`, '-D', this.dir, '-m', 'immediate', 'stop'])
    } catch {
      // not running
    }
    rmSync(this.dir, { recursive: true, force: true })
  }

  private asPostgres(command: string[], prefix: string[] = []): void {
    const argv = [...prefix, 'runuser', '-u', 'postgres', '--', ...command]
    execFileSync(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] })
  }
}
