// The classic incident, with the real nginx (the distribution's package):
// clients reach nginx through a middlebox that forgets flows idle 3 s (an LVS,
// a cloud load balancer, a firewall); nginx proxies to an upstream that answers
// after 6 s. The answer never reaches the client: its flow was forgotten while
// it waited. `tcp-keepalive apply <nginx pids> --port 80 idle=1s interval=1s
// count=3`, run against the running nginx (no config change, no restart), makes
// nginx's kernel probe every idle second, which keeps the flow known, both for a
// request already waiting and for connections accepted later (they inherit from
// the listener). nginx's own `listen ... so_keepalive=1s:1s:3` is the control.
import { execFileSync } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import { Lab, type Peer } from './lab.js'
import { runCli } from './measure.js'
import { onTeardown } from './netns.js'
import type { Connection } from './peer.js'
import type { Measurement, Scenario } from './scenarios.js'

const FORGET_AFTER_SECONDS = 3
const UPSTREAM_DELAY_MS = 6000
/** Grace on top of a bound: timers, scheduling, and the child processes' reporting. */
const SLACK_MS = 1000
const UPSTREAM_PORT = 8080
/** The port apply repairs, nginx's own so_keepalive (the control), and one apply leaves alone (no keepalive). */
const PORTS = { repaired: 80, soKeepalive: 81, untouched: 82 } as const
const SETTINGS = ['idle=1s', 'interval=1s', 'count=3']
/** When apply runs, counted from the waiting request. */
const APPLY_INTO_WAIT_MS = 1000
const REQUEST = 'GET / HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n'

/** Why the nginx scenario cannot run here (no nginx binary), or null. */
export function nginxUnavailableReason(): string | null {
  try {
    execFileSync('nginx', ['-v'], { stdio: 'ignore' })
    return null
  } catch {
    return 'the nginx scenario needs nginx (apt-get install nginx)'
  }
}

/**
 * An nginx.conf for a throwaway nginx run from `dir` (in the foreground, its pid file and temp paths there, errors on
 * stderr), with this http { } body. Shared by every lab scenario that runs the distribution's nginx.
 */
export function nginxConf(dir: string, http: string, { errorLog = 'warn', workerConnections = 64 } = {}): string {
  return `daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log stderr ${errorLog};
events { worker_connections ${workerConnections}; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${http}
}
`
}

/** The incident's nginx: three servers proxying to the slow upstream (the repaired port, so_keepalive, untouched). */
function nginxConfig(dir: string, address: string): string {
  const server = (listen: string) => `
  server {
    listen ${address}:${listen};
    location / { proxy_pass http://127.0.0.1:${UPSTREAM_PORT}; }
  }`
  return nginxConf(
    dir,
    `  proxy_read_timeout 60s;
${server(String(PORTS.repaired))}
${server(`${PORTS.soKeepalive} so_keepalive=1s:1s:3`)}
${server(String(PORTS.untouched))}`,
  )
}

/** An HTTP upstream that answers every request UPSTREAM_DELAY_MS after it arrives, and says when one arrives. */
const UPSTREAM = `
require('node:http').createServer((request, response) => {
  console.log('request')
  setTimeout(() => response.end('late answer\\n'), ${UPSTREAM_DELAY_MS})
}).listen(${UPSTREAM_PORT}, '127.0.0.1', () => console.log('ready'))
`

/** The nginx master's children: its workers. */
function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((name) => {
      try {
        const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid
      } catch {
        return false
      }
    })
    .map(Number)
}

async function until<T>(what: string, timeoutMs: number, check: () => T | undefined | false): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = check()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`lab: ${what} within ${timeoutMs} ms`)
    await sleep(20)
  }
}

interface AppliedRow {
  state: string
  local: string
  holders: Array<{ pid: number }>
  after: { enabled: boolean; idle: number; interval: number; count: number }
  result: string
}

export function nginxScenario(): Scenario {
  const title = `nginx behind a middlebox that forgets flows idle ${FORGET_AFTER_SECONDS} s; the upstream answers after ${UPSTREAM_DELAY_MS / 1000} s`
  return {
    id: 'nginx',
    title,
    expectedMs: UPSTREAM_DELAY_MS + 3 * SLACK_MS,
    run: async () => {
      const unavailable = nginxUnavailableReason()
      if (unavailable) {
        return [{ label: 'nginx', expected: 'nginx runs', outcome: `not run: ${unavailable}`, measuredMs: null, boundMs: null, ok: false }]
      }
      const lab = new Lab({ forgetIdleFlowsAfterSeconds: FORGET_AFTER_SECONDS })
      const dir = mkdtempSync(path.join(tmpdir(), 'tcp-keepalive-nginx-'))
      chmodSync(dir, 0o755) // nginx's workers run as nobody
      const removeDir = () => rmSync(dir, { recursive: true, force: true })
      const registered = onTeardown(removeDir) // a signal (Ctrl-C) skips the finally
      try {
        return await incident(lab, dir)
      } finally {
        lab.close()
        removeDir()
        registered()
      }
    },
  }
}

async function incident(lab: Lab, dir: string): Promise<Measurement[]> {
  const upstream = lab.spawn('server', [process.execPath, '-e', UPSTREAM])
  let requests = 0
  let upstreamReady = false
  readline.createInterface({ input: upstream.stdout! }).on('line', (line) => {
    if (line === 'request') requests++
    if (line === 'ready') upstreamReady = true
  })
  writeFileSync(path.join(dir, 'nginx.conf'), nginxConfig(dir, lab.serverAddress))
  const nginx = lab.spawn('server', ['nginx', '-p', dir, '-c', path.join(dir, 'nginx.conf')])
  let nginxErrors = ''
  nginx.stderr!.on('data', (chunk: Buffer) => (nginxErrors += chunk.toString()))
  const listening = () =>
    execFileSync(lab.namespaceCommand('server')[0], [...lab.namespaceCommand('server').slice(1), 'ss', '-tlnH'], { encoding: 'utf8' })
  await until('nginx listening on its three ports and the upstream ready', 10_000, () => {
    if (nginx.exitCode !== null) throw new Error(`lab: nginx exited (${nginx.exitCode}): ${nginxErrors.trim()}`)
    const ports = listening()
    return upstreamReady && Object.values(PORTS).every((port) => ports.includes(`${lab.serverAddress}:${port} `))
  })
  const master = nginx.pid!
  const workers = await until('nginx workers started', 5_000, () => {
    const found = childrenOf(master)
    return found.length > 0 && found
  })
  const pids = [master, ...workers]

  const waiting: Connection[] = [
    { name: 'waiting', port: PORTS.repaired, request: REQUEST },
    { name: 'so_keepalive', port: PORTS.soKeepalive, request: REQUEST },
    { name: 'untouched', port: PORTS.untouched, request: REQUEST },
  ]
  const before = await lab.start('client', { role: 'client', host: lab.serverAddress, connections: waiting })
  await until('the three requests reaching the upstream', 5_000, () => requests >= 3)
  const waitingSince = before.find('connected', 'waiting')!.at
  // Into the wait, idle longer than the new idle, and still before the middlebox forgets (3 s; the first probe goes out 1 s after the write).
  await sleep(Math.max(0, waitingSince + APPLY_INTO_WAIT_MS - Date.now()))

  // The repair, on the running nginx: its pids, its port, the settings. Nothing else changes.
  const command = ['apply', ...pids.map(String), '--port', String(PORTS.repaired), ...SETTINGS]
  const applyStarted = Date.now()
  const applied = await runCli([...command, '--json'])
  const applyMs = Date.now() - applyStarted
  // The oracle for the waiting connection: its keepalive timer in nginx's kernel.
  const timerArmed = /timer:\(keepalive,/.test(lab.ss('server', PORTS.repaired))

  const after = await lab.start('client', {
    role: 'client',
    host: lab.serverAddress,
    connections: [{ name: 'new', port: PORTS.repaired, request: REQUEST }],
  })
  const lastStart = after.find('connected', 'new')!.at
  await sleep(Math.max(0, lastStart + UPSTREAM_DELAY_MS + SLACK_MS - Date.now()))
  const samePids = pids.every((pid) => existsSync(`/proc/${pid}`)) && childrenOf(master).join() === workers.join()

  let rows: AppliedRow[] = []
  try {
    rows = (JSON.parse(applied.stdout) as { sockets: AppliedRow[] }).sockets
  } catch {
    // reported below: the outcome shows the exit code and stderr
  }
  const set = (row: AppliedRow) =>
    row.result === 'applied' && row.after.enabled && row.after.idle === 1000 && row.after.interval === 1000 && row.after.count === 3
  const listener = rows.find((row) => row.state === 'LISTEN')
  const applyOk =
    applied.code === 0 &&
    rows.length === 2 && // the listener (shared by master and worker: one socket) and the waiting connection
    rows.every(set) &&
    listener !== undefined &&
    pids.every((pid) => listener.holders.some((holder) => holder.pid === pid)) &&
    timerArmed &&
    samePids

  const arrival = (peer: Peer, name: string, keepalive: boolean, label: string): Measurement => {
    const start = peer.find('connected', name)!.at
    const data = peer.find('data', name)
    const measuredMs = data ? data.at - start : null
    const boundMs = UPSTREAM_DELAY_MS + SLACK_MS
    return {
      label,
      expected: keepalive ? `the answer arrives after ${UPSTREAM_DELAY_MS / 1000} s` : 'never arrives: the middlebox forgot the flow',
      outcome: data ? 'received' : 'nothing arrived',
      measuredMs,
      boundMs: keepalive ? boundMs : null,
      ok: keepalive ? measuredMs !== null && measuredMs >= UPSTREAM_DELAY_MS && measuredMs <= boundMs : data === undefined,
    }
  }
  return [
    {
      label: `tcp-keepalive ${command.join(' ')} (no restart)`,
      expected: 'exit 0; listener and waiting connection read back 1 s/1 s/3; ss timer armed; same nginx pids',
      outcome:
        `exit ${applied.code}, ${applyStarted - waitingSince} ms into the wait: ${rows.filter(set).length} sockets set` +
        `${timerArmed ? ', timer armed' : ', no timer'}${samePids ? ', same pids' : ', nginx restarted'}${applied.stderr.trim() ? `; ${applied.stderr.trim()}` : ''}`,
      measuredMs: applyMs,
      boundMs: null,
      ok: applyOk,
    },
    arrival(before, 'waiting', true, `port ${PORTS.repaired}, request waiting when apply ran`),
    arrival(after, 'new', true, `port ${PORTS.repaired}, new connection after apply (inherits from the listener)`),
    arrival(before, 'so_keepalive', true, `port ${PORTS.soKeepalive}, nginx's own so_keepalive=1s:1s:3 (control)`),
    arrival(before, 'untouched', false, `port ${PORTS.untouched}, same nginx, not selected (no keepalive)`),
  ]
}
