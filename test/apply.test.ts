// `tcp-keepalive apply` against running processes that are not Node (python3)
// and one that churns sockets, with the kernel as the oracle: `ss -tnoi`
// keepalive timers, getsockopt through `inspect`, and strace for what is written.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import { afterEach, describe, expect, it } from 'vitest'
import { hasSs, ssKeepaliveTimer } from '../lib/cli/ss.js'
import { bin, canDropRoot, expectOneLineFailure, nobodysProcess, run, runWithoutPtrace } from './cli-run.js'
import { canRun, hasCommand } from './helpers.js'
import { freePort } from './servers.js'

const children: ChildProcess[] = []
const clients: net.Socket[] = []
afterEach(() => {
  children.splice(0).forEach((child) => child.kill('SIGKILL'))
  clients.splice(0).forEach((socket) => socket.destroy())
})

const onLinux = process.platform === 'linux'
const canPython = onLinux && canRun('python3 and ss (iproute2)', hasCommand('python3') && hasSs())

interface PythonProcess {
  pid: number
  /** The listener's port. */
  port: number
  /** The local port of python's own client connection to the listener. */
  client: number
  /** A new connection from this test process, once python has accepted it: its local port. */
  connect(): Promise<number>
}

/** test/children/python-sockets.py: a listener, a client connection and the accepted end, none with keepalive. */
async function pythonProcess(mptcp = false): Promise<PythonProcess> {
  const script = path.join(__dirname, 'children', 'python-sockets.py')
  const child = spawn('python3', [script, ...(mptcp ? ['mptcp'] : [])], { stdio: ['pipe', 'pipe', 'inherit'] })
  children.push(child)
  const lines = readline.createInterface({ input: child.stdout! })[Symbol.asyncIterator]()
  const { port, client } = JSON.parse((await lines.next()).value) as { port: number; client: number }
  return {
    pid: child.pid!,
    port,
    client,
    async connect() {
      const socket = net.connect(port, '127.0.0.1')
      clients.push(socket)
      await once(socket, 'connect')
      const { accepted } = JSON.parse((await lines.next()).value) as { accepted: number }
      expect(accepted).toBe(socket.localPort)
      return socket.localPort!
    },
  }
}

interface Row {
  pid: number
  fd: number
  state: string
  local: string
  remote: string
  before: Record<string, unknown>
  after: Record<string, unknown>
  result: string
  refused: Array<{ setting: string; code: string }>
  reason: string | null
}

function applyJson(args: string[]) {
  const { code, stdout, stderr } = run(['apply', ...args, '--json'])
  return { code, stderr, ...(JSON.parse(stdout) as { ok: boolean; sockets: Row[]; notSelected: number; skipped: Record<string, number> }) }
}

function inspectJson(pid: number): Array<{ state: string; local: string; remote: string; keepalive: Record<string, unknown> }> {
  const { code, stdout } = run(['inspect', String(pid), '--json'])
  expect(code).toBe(0)
  return JSON.parse(stdout).sockets
}

const off = { enabled: false, idle: 7_200_000 } // this machine's kernel defaults (net.ipv4.tcp_keepalive_time), checked below
const SET = { enabled: true, idle: 30_000, interval: 5_000, count: 4, userTimeout: 40_000 }

/** The keepalive timer ss shows for a connection: armed, at most the idle time, and ticking from it. */
function expectTimer(localPort: number, remotePort: number, idleMs: number) {
  const timer = ssKeepaliveTimer(localPort, remotePort)
  expect(timer, `ss keepalive timer of ${localPort} -> ${remotePort}`).not.toBeNull()
  expect(timer).toBeLessThanOrEqual(idleMs)
  expect(timer).toBeGreaterThan(idleMs - 10_000)
}

describe.skipIf(!canPython)('tcp-keepalive apply on a python3 process', () => {
  it('checks the kernel defaults the tests assume', () => {
    expect(Number(readFileSync('/proc/sys/net/ipv4/tcp_keepalive_time', 'utf8')) * 1000).toBe(off.idle)
  })

  it('sets the listener and both connections, read back after the write; ss and inspect show it; a later connection inherits', async () => {
    const py = await pythonProcess()
    expect(ssKeepaliveTimer(py.client, py.port)).toBeNull()
    expect(ssKeepaliveTimer(py.port, py.client)).toBeNull()

    const result = applyJson([String(py.pid), 'idle=30s', 'interval=5s', 'count=4', 'user-timeout=40s'])
    expect({ code: result.code, stderr: result.stderr, ok: result.ok }).toEqual({ code: 0, stderr: '', ok: true })
    expect(result.sockets.map(({ state, local, remote }) => [state, local, remote]).sort()).toEqual(
      [
        ['ESTABLISHED', `127.0.0.1:${py.client}`, `127.0.0.1:${py.port}`],
        ['ESTABLISHED', `127.0.0.1:${py.port}`, `127.0.0.1:${py.client}`],
        ['LISTEN', `127.0.0.1:${py.port}`, '0.0.0.0:0'],
      ].sort(),
    )
    for (const row of result.sockets) {
      expect(row).toMatchObject({ pid: py.pid, before: off, after: SET, result: 'applied', refused: [], reason: null })
    }
    // The independent oracle: the kernel's timers, armed at idle.
    expectTimer(py.client, py.port, 30_000)
    expectTimer(py.port, py.client, 30_000)
    for (const socket of inspectJson(py.pid)) expect(socket.keepalive).toEqual(SET)

    // Accepted after apply: python did nothing to it, the listener passed the settings on.
    const later = await py.connect()
    expectTimer(py.port, later, 30_000)
    expect(inspectJson(py.pid).find((socket) => socket.remote === `127.0.0.1:${later}`)!.keepalive).toEqual(SET)
    expect(ssKeepaliveTimer(later, py.port)).toBeNull() // this test's own end was not touched
  })

  it('prints before -> after per socket and what listeners do with it', async () => {
    const py = await pythonProcess()
    const { code, stdout } = run(['apply', String(py.pid), 'TCP_KEEPALIVE=idle=30s interval=5s count=4 user-timeout=40s']) // pasted from plan
    expect(code).toBe(0)
    expect(stdout).toMatch(
      new RegExp(
        `^${py.pid} +\\d+ +LISTEN +127\\.0\\.0\\.1:${py.port} +0\\.0\\.0\\.0:0 +off, 2 h/1 min 15 s/9 +on, 30 s/5 s/4, user timeout 40 s +applied$`,
        'm',
      ),
    )
    expect(stdout).toContain(`3 sockets selected of process ${py.pid} (1 listening, 2 connections), 0 not; 3 set, 0 partly`)
    expect(stdout).toContain(
      "Listening sockets: Linux copies their settings to the connections they accept from then on, unless the program sets its own on each (as redis's tcp-keepalive does): not verified here",
    )
    expect(stdout).toContain('The settings last until each socket closes: new processes need the preload (TCP_KEEPALIVE)')
  })

  it('--listening, --established, --port and ports= narrow what is written', async () => {
    const py = await pythonProcess()
    const written = (args: string[]) => {
      const result = applyJson([String(py.pid), ...args])
      expect(result.code).toBe(0)
      return result.sockets.map((row) => `${row.state} ${row.local}`).sort()
    }
    expect(written(['--listening', 'idle=100s'])).toEqual([`LISTEN 127.0.0.1:${py.port}`])
    expect(ssKeepaliveTimer(py.client, py.port)).toBeNull() // connections untouched
    // The client's port is the local port of one connection and the remote port of the other; the listener has neither.
    expect(written(['--port', String(py.client), 'idle=200s'])).toEqual(
      [`ESTABLISHED 127.0.0.1:${py.client}`, `ESTABLISHED 127.0.0.1:${py.port}`].sort(),
    )
    expect(written([`ports=${py.client}`, '--established', 'idle=300s'])).toHaveLength(2)
    expectTimer(py.client, py.port, 300_000)
    expect(inspectJson(py.pid).find((socket) => socket.state === 'LISTEN')!.keepalive).toMatchObject({ enabled: true, idle: 100_000 })

    const none = run(['apply', String(py.pid), '--port', '1', 'idle=30s'])
    expect(none.code).toBe(1)
    expect(none.stdout).toContain('No socket matched: only LISTEN and ESTABLISHED sockets on the ports given are selected.')
  })

  it.skipIf(!canRun('strace', hasCommand('strace')))(
    '--dry-run writes nothing (strace sees no setsockopt; the timers stay off) and shows what would change',
    async () => {
      const py = await pythonProcess()
      const dir = mkdtempSync(path.join(tmpdir(), 'tcp-keepalive-strace-'))
      const traced = (args: string[]) => {
        const log = path.join(dir, `${args.length}.log`)
        const result = spawnSync('strace', ['-f', '-qq', '-e', 'trace=setsockopt', '-o', log, process.execPath, bin, 'apply', ...args], {
          encoding: 'utf8',
        })
        const calls = readFileSync(log, 'utf8')
          .split('\n')
          .filter((line) => line.includes('setsockopt('))
        return { code: result.status, stdout: result.stdout, calls }
      }
      try {
        const dry = traced([String(py.pid), 'idle=30s', 'count=4', '--dry-run', '--json'])
        expect(dry.code).toBe(0)
        expect(dry.calls).toEqual([])
        const rows = JSON.parse(dry.stdout).sockets as Row[]
        expect(rows).toHaveLength(3)
        for (const row of rows) {
          expect(row).toMatchObject({
            result: 'would apply',
            before: off,
            after: { enabled: true, idle: 30_000, count: 4, interval: 75_000 },
          })
        }
        expect(ssKeepaliveTimer(py.client, py.port)).toBeNull()
        for (const socket of inspectJson(py.pid)) expect(socket.keepalive).toMatchObject({ enabled: false })

        // The control: the same command without --dry-run is seen writing, per socket.
        const wet = traced([String(py.pid), 'idle=30s', 'count=4'])
        expect(wet.code).toBe(0)
        expect(wet.calls.filter((line) => line.includes('SO_KEEPALIVE'))).toHaveLength(3)
        expectTimer(py.client, py.port, 30_000)
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    },
  )

  it('a process that fails among several: the others are set, the failure named, exit 1', async () => {
    const py = await pythonProcess()
    const gone = spawnSync(process.execPath, ['-e', '0']).pid!
    const result = applyJson([String(py.pid), String(gone), 'idle=30s'])
    expect(result.code).toBe(1)
    expect(result.stderr).toBe(`tcp-keepalive apply: no process with pid ${gone}\n`)
    expect(result.sockets.every((row) => row.result === 'applied')).toBe(true)
    expectTimer(py.client, py.port, 30_000)
  })

  it.skipIf(!canRun('strace', hasCommand('strace')))(
    'a process that exits while apply lists its sockets: exit 1 saying it exited, not "No socket matched"',
    async () => {
      const py = await pythonProcess()
      const target = children.at(-1)!
      const dir = mkdtempSync(path.join(tmpdir(), 'tcp-keepalive-strace-'))
      const log = path.join(dir, 'openat.log')
      // strace holds apply's read of the process's TCP table (its second openat on these paths) for 3 s, after its fds were listed.
      const traced = ['-f', '-qq', '-P', `/proc/${py.pid}/fd`, '-P', `/proc/${py.pid}/net/tcp`, '-e', 'trace=openat']
      const delayed = ['-e', 'inject=openat:delay_enter=3000000:when=2', '-o', log]
      const apply = spawn('strace', [...traced, ...delayed, process.execPath, bin, 'apply', String(py.pid), 'idle=30s'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      try {
        let [stdout, stderr] = ['', '']
        apply.stdout!.on('data', (chunk: Buffer) => (stdout += chunk))
        apply.stderr!.on('data', (chunk: Buffer) => (stderr += chunk))
        const exited = once(apply, 'exit')
        while (!(existsSync(log) && readFileSync(log, 'utf8').includes(`"/proc/${py.pid}/fd"`))) {
          await new Promise((resolve) => setTimeout(resolve, 20))
        }
        target.kill('SIGKILL')
        await once(target, 'exit') // reaped: /proc/<pid> is gone
        const [code] = (await exited) as [number]
        expect({ code, stderr }).toEqual({
          code: 1,
          stderr: `tcp-keepalive apply: process ${py.pid} exited while its sockets were listed\n`,
        })
        expect(readFileSync(log, 'utf8')).toContain('(DELAYED)')
        expect(stdout).not.toContain('No socket matched')
      } finally {
        apply.kill()
        rmSync(dir, { recursive: true, force: true })
      }
    },
  )

  it.skipIf(!canDropRoot)("as nobody against root's process: exit 1 naming what is lacking, nothing written", async () => {
    const py = await pythonProcess()
    expectOneLineFailure(
      run(['apply', String(py.pid), 'idle=30s'], {}, 'nobody'),
      1,
      `tcp-keepalive apply: permission denied: reading /proc/${py.pid}/fd needs ptrace rights over the process: it runs as uid 0 (root) and you as uid 65534 (nobody): run as its user, or as root\n`,
    )
    expect(ssKeepaliveTimer(py.client, py.port)).toBeNull()
  })

  it.skipIf(!canDropRoot)('as root without CAP_SYS_PTRACE (a container default): exit 1 saying so', async () => {
    const target = await nobodysProcess()
    children.push(target)
    expectOneLineFailure(
      runWithoutPtrace(['apply', String(target.pid), 'idle=30s']),
      1,
      /^tcp-keepalive apply: permission denied: reading \/proc\/\d+\/fd\/0 needs ptrace rights over the process: you are root without CAP_SYS_PTRACE \(the default in a container/,
    )
  })

  it("a thread id: exit 1 naming the thread's process; a zombie: exit 1 saying it holds no sockets", async () => {
    const py = await pythonProcess() // its accept thread
    const thread = readdirSync(`/proc/${py.pid}/task`).find((tid) => tid !== String(py.pid))!
    expectOneLineFailure(
      run(['apply', thread, 'idle=30s']),
      1,
      `tcp-keepalive apply: ${thread} is a thread of process ${py.pid}: its sockets are the process's, run 'tcp-keepalive apply ${py.pid}'`,
    )
    const parent = spawn('sh', ['-c', 'sleep 0.05 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'inherit'] })
    children.push(parent)
    const zombie = ((await once(parent.stdout!, 'data')) as [Buffer])[0].toString().trim()
    while (!/^State:\s*Z/m.test(readFileSync(`/proc/${zombie}/status`, 'utf8'))) await new Promise((resolve) => setTimeout(resolve, 10))
    expectOneLineFailure(run(['apply', zombie, 'idle=30s']), 1, `process ${zombie} is a zombie (exited, not yet reaped by its parent)`)
  })

  it.skipIf(!canRun('Multipath TCP (sysctl net.mptcp.enabled=1)', mptcpEnabled()))(
    'Multipath TCP refuses user-timeout per socket (ENOPROTOOPT): the other settings still apply, reported per row, exit 1',
    async () => {
      const py = await pythonProcess(true)
      // The oracle that these are MPTCP sockets: ss lists them with -M.
      expect(spawnSync('ss', ['-Mn', 'state', 'established', `sport = :${py.client}`], { encoding: 'utf8' }).stdout).toMatch(
        new RegExp(`:${py.client}\\s`),
      )
      const result = applyJson([String(py.pid), 'idle=5s', 'interval=2s', 'user-timeout=10s'])
      expect(result.code).toBe(1)
      expect(result.sockets).toHaveLength(3)
      for (const row of result.sockets) {
        expect(row).toMatchObject({
          result: 'partly applied',
          refused: [{ setting: 'user-timeout', code: 'ENOPROTOOPT' }],
          after: { enabled: true, idle: 5_000, interval: 2_000, userTimeout: null },
        })
        expect(row.reason).toContain('the kernel refused user-timeout (ENOPROTOOPT')
      }
      expectTimer(py.client, py.port, 5_000) // the subflow's timer
    },
  )

  it('without the native binding: exit 1 saying why, nothing else printed', async () => {
    const py = await pythonProcess()
    const result = run(['apply', String(py.pid), 'idle=30s', 'interval=5s'], { TCP_KEEPALIVE_FORCE_FALLBACK: '1' })
    expect(result).toMatchObject({ code: 1, stdout: '' })
    expect(result.stderr).toBe('tcp-keepalive apply: apply needs the native binding: TCP_KEEPALIVE_FORCE_FALLBACK=1 is set\n')
  })

  it.runIf(canRun('root, to unshare a network namespace', process.getuid?.() === 0))(
    'sockets a process opened before it moved to another network namespace: listed by inspect, set by apply --port',
    async () => {
      const child = spawn('python3', [path.join(__dirname, 'children', 'setns-sockets.py')], { stdio: ['ignore', 'pipe', 'inherit'] })
      children.push(child)
      const ports = JSON.parse(((await once(child.stdout!, 'data')) as [Buffer])[0].toString()) as Record<
        'first' | 'client' | 'later',
        number
      >
      const pid = child.pid!
      expect(
        inspectJson(pid)
          .map(({ state, local }) => `${state} ${local}`)
          .sort(),
      ).toEqual(
        [
          `LISTEN 127.0.0.1:${ports.first}`,
          `ESTABLISHED 127.0.0.1:${ports.client}`,
          `ESTABLISHED 127.0.0.1:${ports.first}`,
          `LISTEN 0.0.0.0:${ports.later}`,
        ].sort(),
      )
      const result = applyJson([String(pid), '--port', String(ports.first), 'idle=30s'])
      expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' })
      expect(result.sockets).toHaveLength(3)
      expectTimer(ports.client, ports.first, 30_000) // ss, in this (the first) namespace
    },
  )

  it('a pid given twice is one process: no socket "also held by" itself', async () => {
    const py = await pythonProcess()
    const result = applyJson([String(py.pid), String(py.pid), 'idle=30s'])
    expect(result.code).toBe(0)
    expect(result.sockets).toHaveLength(3)
    for (const row of result.sockets as Array<Row & { holders: unknown[] }>) expect(row.holders).toEqual([{ pid: py.pid, fd: row.fd }])
    expect(run(['apply', String(py.pid), String(py.pid), '--established', '--port', String(py.client), 'idle=30s']).stdout).toContain(
      `2 sockets selected of process ${py.pid} (0 listening, 2 connections)`,
    )
    expect(run(['apply', String(py.pid), '--listening', 'idle=30s']).stdout).toContain('(1 listening, 0 connections)')
  })

  it('wrong arguments: exit 2 naming the bad token', () => {
    expectOneLineFailure(run(['apply', 'idle=30s']), 2, 'expected one or more process ids')
    expectOneLineFailure(run(['apply', '1', 'abc']), 2, "'abc' is neither a process id nor a setting (key=value)")
    expectOneLineFailure(run(['apply', '1', 'idle=30x']), 2, "bad token 'idle=30x': a duration is a number with ms, s, m or h")
    expectOneLineFailure(run(['apply', '1', 'idel=30s']), 2, "bad token 'idel=30s': unknown key 'idel'")
    expectOneLineFailure(run(['apply', '1', 'count=0']), 2, "bad token 'count=0': count is at least 1")
    // In the units given, not the API's field and ms.
    expectOneLineFailure(run(['apply', '1', 'idle=32768s']), 2, /bad token 'idle=32768s': idle is at most 32767s$/m)
    expectOneLineFailure(run(['apply', '1', 'interval=0s']), 2, /bad token 'interval=0s': interval is more than 0$/m)
    expectOneLineFailure(run(['apply', '1']), 2, 'give the settings to apply, e.g. idle=30s interval=5s count=3')
    expectOneLineFailure(run(['apply', '1', 'idle=30s', '--port', '0']), 2, "--port takes port numbers (1-65535), got '0'")
    expectOneLineFailure(run(['apply', '1', 'idle=30s', '--bogus']), 2, "Unknown option '--bogus'")
  })
})

describe.skipIf(!onLinux || !canRun('redis-server', hasCommand('redis-server')))('tcp-keepalive apply on redis-server', () => {
  it('a listener whose program sets keepalive on every accepted socket: no inheritance claimed; inspect shows what they hold', async () => {
    const [port, dir] = [await freePort(), mkdtempSync(path.join(tmpdir(), 'tcp-keepalive-redis-'))]
    const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
      stdio: 'ignore',
    })
    children.push(redis)
    try {
      while (!inspectJsonOrNull(redis.pid!)?.some((socket) => socket.state === 'LISTEN'))
        await new Promise((resolve) => setTimeout(resolve, 50))
      const applied = run(['apply', String(redis.pid), '--listening', 'idle=20s', 'interval=4s', 'count=3'])
      expect(applied.code).toBe(0)
      expect(applied.stdout).toContain('unless the program sets its own on each')
      expect(applied.stdout).not.toContain('pass these settings')

      const client = net.connect(port, '127.0.0.1')
      clients.push(client)
      await once(client, 'connect')
      // redis's own tcp-keepalive 300 on the accepted socket, per the kernel's timer: not the listener's 20 s.
      let timer = ssKeepaliveTimer(port, client.localPort!)
      while (timer === null)
        timer = await new Promise<number | null>((resolve) => setTimeout(() => resolve(ssKeepaliveTimer(port, client.localPort!)), 20))
      expect(timer).toBeGreaterThan(280_000)
      const { code, stdout } = run(['inspect', String(redis.pid), '--idle-timeout', '40s', '--json'])
      expect(code).toBe(0)
      const sockets = JSON.parse(stdout).sockets as Array<{
        state: string
        local: string
        keepalive: { idle: number }
        accepted?: unknown
        middlebox: unknown
      }>
      const listener = sockets.find((socket) => socket.state === 'LISTEN')!
      expect(listener).toMatchObject({
        keepalive: { idle: 20_000 },
        accepted: { open: 1, sameAsListener: 0 },
        middlebox: { forgets: false, reason: 'not passed on: its 1 accepted socket holds other settings' },
      })
      expect(sockets.find((socket) => socket.state === 'ESTABLISHED')).toMatchObject({
        keepalive: { idle: 300_000 },
        middlebox: { forgets: true },
      })
      expect(run(['inspect', String(redis.pid)]).stdout).toMatch(
        new RegExp(`LISTEN +127\\.0\\.0\\.1:${port} .*\\(1 of 1 accepted hold other settings\\)$`, 'm'),
      )
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

function inspectJsonOrNull(pid: number): Array<{ state: string }> | null {
  const { code, stdout } = run(['inspect', String(pid), '--json'])
  return code === 0 ? JSON.parse(stdout).sockets : null
}

describe.skipIf(!onLinux)('tcp-keepalive apply on a process churning sockets', () => {
  it(
    'fd numbers reused while apply writes: every row read back is the socket its addresses name, every run exits 0',
    { timeout: 120_000 },
    async () => {
      const child = spawn(process.execPath, [path.join(__dirname, 'children', 'churn.cjs')], { stdio: ['ignore', 'pipe', 'inherit'] })
      children.push(child)
      const port = Number(((await once(child.stdout!, 'data')) as [Buffer])[0].toString())
      const idleFor = (clientPort: number) => ((clientPort % 1000) + 1) * 1000 // as churn.cjs sets them
      const portOf = (endpoint: string) => Number(endpoint.slice(endpoint.lastIndexOf(':') + 1))
      // apply writes interval and count; churn.cjs writes the idle derived from each connection's client port.
      let checked = 0
      let runs = 0
      let skipped = 0
      for (; runs < 30 || (checked < 60 && runs < 300); runs++) {
        const result = applyJson([String(child.pid), 'interval=3s', 'count=7'])
        expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' })
        skipped += result.skipped.closed + result.skipped.replaced
        for (const { state, local, remote, after, result: outcome } of result.sockets) {
          expect(outcome).toBe('applied')
          expect(after).toMatchObject({ enabled: true, interval: 3_000, count: 7 })
          if (state === 'LISTEN' || after.idle === off.idle) continue // not configured by churn.cjs yet
          const clientPort = portOf(local) === port ? portOf(remote) : portOf(local)
          expect({ local, remote, idle: after.idle }).toEqual({ local, remote, idle: idleFor(clientPort) })
          checked++
        }
      }
      console.log(
        `apply while churning: ${runs} runs, ${checked} rows checked against their addresses, ${skipped} skipped (closed or reused)`,
      )
      expect(checked).toBeGreaterThanOrEqual(60)
    },
  )
})

function mptcpEnabled(): boolean {
  try {
    return readFileSync('/proc/sys/net/mptcp/enabled', 'utf8').trim() === '1'
  } catch {
    return false
  }
}
