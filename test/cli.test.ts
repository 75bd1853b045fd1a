// The tcp-keepalive command as a user runs it: the built bin in a child process.
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { readdirSync, readFileSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { formatDuration } from '../lib/cli/format.js'
import { parseEndpoint } from '../lib/cli/inspect.js'
import { deadPeerDetectionMs } from '../lib/detection.js'
import { bin, canDropRoot, expectOneLineFailure, isRoot, nobodysProcess, root, run, runWithoutPtrace } from './cli-run.js'
import { canRun, closeAll, hasCommand, tcpPair, toolPath } from './helpers.js'
import { parseDuration } from '../lib/environment.js'
import { configureKeepalive, readKeepalive } from '../lib/index.js'

describe('tcp-keepalive', () => {
  it('prints usage: exit 0 with --help, 2 without a command or with an unknown one', () => {
    expect(run(['--help'])).toMatchObject({ code: 0, stdout: expect.stringContaining('Usage: tcp-keepalive <command>') })
    expect(run([])).toMatchObject({ code: 2, stderr: expect.stringContaining('Usage: tcp-keepalive <command>') })
    expect(run(['frobnicate'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/^tcp-keepalive: unknown command 'frobnicate'/) })
    expect(run(['constructor'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/^tcp-keepalive: unknown command 'constructor'/) })
  })

  it('a mistyped command: did you mean; an unknown option: one sentence, not parseArgs advice with an unclosed quote', () => {
    expect(run(['inpsect']).stderr).toMatch(/^tcp-keepalive: unknown command 'inpsect'; did you mean 'inspect'\?\n/)
    expect(run(['dcotor']).stderr).toMatch(/^tcp-keepalive: unknown command 'dcotor'; did you mean 'doctor'\?\n/)
    expect(run(['frobnicate']).stderr).toMatch(/^tcp-keepalive: unknown command 'frobnicate'\n/)
    expect(run(['inspect', '1', '--bogus'])).toMatchObject({
      code: 2,
      stderr: "tcp-keepalive inspect: Unknown option '--bogus'\nRun 'tcp-keepalive inspect --help' for usage.\n",
    })
  })

  it('help and help <command> print usage; --version and -v the version in package.json', () => {
    const { version } = JSON.parse(readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }
    expect(run(['help'])).toEqual({ code: 0, stdout: run(['--help']).stdout, stderr: '' })
    expect(run(['help', 'plan'])).toEqual({ code: 0, stdout: run(['plan', '--help']).stdout, stderr: '' })
    expect(run(['help', 'frobnicate'])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^tcp-keepalive: unknown command 'frobnicate'/),
    })
    expect(run(['--version'])).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' })
    expect(run(['-v'])).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' })
  })
})

describe('tcp-keepalive register-path', () => {
  it("prints the preload's absolute path, which a --require from another directory loads", () => {
    const { code, stdout, stderr } = run(['register-path'])
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' })
    const file = stdout.trim()
    expect(file).toBe(path.join(__dirname, '..', 'dist', 'register.js'))
    // From / with settings: the preload is found and installed (a bad token would exit 9 naming it).
    const bad = spawnSync(process.execPath, ['--require', file, '-e', '0'], {
      cwd: '/',
      env: { ...process.env, TCP_KEEPALIVE: 'idle=30x' },
      encoding: 'utf8',
    })
    expect({ status: bad.status, stderr: bad.stderr }).toEqual({ status: 9, stderr: expect.stringContaining("bad token 'idle=30x'") })
    expectOneLineFailure(run(['register-path', '--json']), 2, "Unknown option '--json'")
  })
})

describe('a reader that stops early', () => {
  it.each([['demo'], ['doctor']])('%s | head: exits 0 quietly, no EPIPE stack trace', async (command) => {
    const child = spawn(process.execPath, [bin, command], { stdio: ['ignore', 'pipe', 'pipe'] })
    child.stdout.destroy() // as head does once it has what it wants
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk))
    const [code] = (await once(child, 'exit')) as [number]
    expect(stderr).toBe('')
    expect(code).toBe(0)
  })
})

describe('tcp-keepalive demo', () => {
  it('prints one row per profile with the values the kernel holds', () => {
    const { code, stdout } = run(['demo'])
    expect(code).toBe(0)
    expect(stdout).toMatch(/^tcp-keepalive: native binding/)
    expect(stdout).toMatch(/^kernel defaults +no +2 h +1 min 15 s +9 +default +- +never \(keepalive off\)$/m)
    expect(stdout).toMatch(/^fast dead-peer detection +yes +10 s +5 s +3 +25 s +\S+ s +25 s$/m)
    expect(stdout).toMatch(/^rounded up to seconds +yes +2 s +1 s /m)
  })

  it('--json: the kernel values, an armed ss timer per enabled row, and detection times derived from them', () => {
    const { code, stdout } = run(['demo', '--json', '--idle', '20s', '--count', '4', '--user-timeout', '30000ms'])
    expect(code).toBe(0)
    const { support, rows } = JSON.parse(stdout)
    expect(support.native).toBe(true)
    const byName = Object.fromEntries(rows.map((row: { profile: string }) => [row.profile, row]))
    expect(byName['Node alone'].kernel).toMatchObject({ enabled: true, idle: 60_000, interval: 1_000, count: 10 })
    expect(byName['behind AWS NLB (350 s idle)'].kernel).toMatchObject({ idle: 300_000, interval: 15_000, count: 3 })
    expect(byName['sticky (as http.Agent reuse)'].kernel).toMatchObject({ idle: 45_000, count: 4 })
    expect(byName['your settings'].kernel).toMatchObject({ enabled: true, idle: 20_000, count: 4, userTimeout: 30_000 })
    for (const row of rows) {
      expect(row.deadPeerDetection).toBe(deadPeerDetectionMs(row.kernel))
      if (row.kernel.enabled) {
        expect(row.ssTimer).toBeGreaterThan(0)
        expect(row.ssTimer).toBeLessThanOrEqual(row.kernel.idle)
      } else {
        expect(row.ssTimer).toBeNull()
      }
    }
  })

  it('rejects bad arguments with exit 2 and a one-line reason, no stack trace', () => {
    for (const [args, reason] of [
      [['demo', '--idle', 'abc'], "--idle takes a duration with ms, s, m or h (e.g. 30s), got 'abc'"],
      // One duration grammar for every command: no bare ms, no hex or exponent, no silent rounding of a unitless 0.5.
      [['demo', '--idle', '30000'], "--idle takes a duration with ms, s, m or h (e.g. 30s), got '30000'"],
      [['demo', '--idle', '0x7530'], "--idle takes a duration with ms, s, m or h (e.g. 30s), got '0x7530'"],
      [['demo', '--idle', '3e4'], "--idle takes a duration with ms, s, m or h (e.g. 30s), got '3e4'"],
      [['demo', '--interval', '0.5'], "--interval takes a duration with ms, s, m or h (e.g. 30s), got '0.5'"],
      [['demo', '--idle=-5s'], "--idle takes a duration with ms, s, m or h (e.g. 30s), got '-5s'"],
      [['demo', '--count', '1.5'], "--count takes a whole number of probes, got '1.5'"],
      [['demo', '--bogus'], "Unknown option '--bogus'"],
    ] as const) {
      const { code, stderr } = run([...args])
      expect(code).toBe(2)
      expect(stderr).toContain(reason)
      expect(stderr).not.toMatch(/^\s+at /m)
    }
  })

  it('in fallback mode says so and reads nothing back', () => {
    const { code, stdout } = run(['demo'], { TCP_KEEPALIVE_FORCE_FALLBACK: '1', NODE_NO_WARNINGS: '1' })
    expect(code).toBe(0)
    expect(stdout).toContain("fallback to Node's setKeepAlive (TCP_KEEPALIVE_FORCE_FALLBACK=1 is set)")
    // Our read reports nothing; ss shows the 60 s idle Node applied, already ticking down.
    expect(stdout).toMatch(/^Node alone +\? +- +- +- +- +(5\d(\.\d)? s|1 min) +-$/m)
  })
})

describe('tcp-keepalive doctor', () => {
  const defaults = ['time', 'intvl', 'probes'].map((name) => Number(readFileSync(`/proc/sys/net/ipv4/tcp_keepalive_${name}`, 'utf8')))

  it('reports the native binding, what it can do, the kernel defaults, and passes its self-test', () => {
    const { code, stdout } = run(['doctor'])
    expect(code).toBe(0)
    expect(stdout).toMatch(/^binding +native, (local build|prebuild): \S+tcp.keepalive\S*\.node$/m)
    expect(stdout).toMatch(/^can set +enable, idle, interval, count, userTimeout$/m)
    expect(stdout).toMatch(/^ {2}ok {4}read back: the kernel holds every field as set$/m)
    expect(stdout).toMatch(/^ {2}ok {4}ss timer: keepalive timer (2\d|30)(\.\d)? s/m)
  })

  it('--json: the kernel defaults from /proc and every self-test check passed', () => {
    const { code, stdout } = run(['doctor', '--json'])
    expect(code).toBe(0)
    const report = JSON.parse(stdout)
    expect(report.kernelDefaults).toEqual({ idle: defaults[0] * 1000, interval: defaults[1] * 1000, count: defaults[2] })
    expect(report.binding).toMatchObject({ inUse: true, reason: null })
    expect(report.selfTest.map((check: { name: string; ok: boolean }) => [check.name, check.ok])).toEqual([
      ['read back', true],
      ['ss timer', true],
    ])
  })

  it('in fallback mode says why, skips the read-back, and still checks the timer with ss', () => {
    const { code, stdout } = run(['doctor'], { TCP_KEEPALIVE_FORCE_FALLBACK: '1', NODE_NO_WARNINGS: '1' })
    expect(code).toBe(0)
    expect(stdout).toMatch(
      /^binding +not in use: TCP_KEEPALIVE_FORCE_FALLBACK=1 is set \(a binding exists: .+\); using Node's setKeepAlive$/m,
    )
    expect(stdout).toMatch(/^ {2}skip {2}read back: not possible in fallback mode$/m)
    expect(stdout).toMatch(/^ {2}ok {4}ss timer/m)
  })

  it.skipIf(!canRun('root and unshare (util-linux), for a network namespace', isRoot && hasCommand('unshare')))(
    "the ss check reads doctor's own connection: not one of ten decoys sharing its client port",
    () => {
      for (let run = 0; run < 3; run++) {
        const child = spawnSync('unshare', ['--net', process.execPath, path.join(__dirname, 'children', 'doctor-decoys.cjs')], {
          encoding: 'utf8',
        })
        expect(child.status, child.stderr).toBe(0)
        const { decoys, status, stderr, report } = JSON.parse(child.stdout)
        expect(new Set(decoys)).toEqual(new Set([40000]))
        expect({ status, stderr }).toEqual({ status: 0, stderr: '' })
        expect(report.selfTest.find((check: { name: string }) => check.name === 'ss timer')).toMatchObject({ ok: true })
      }
    },
  )

  it.skipIf(!canRun('root and unshare (util-linux), for a network namespace', isRoot && hasCommand('unshare')))(
    'no free ephemeral port: the self-test fails saying so (exit 1), no stack trace',
    () => {
      // In a fresh namespace: a one-port ephemeral range, and that port taken by a listener.
      const script = `require('node:child_process').execFileSync('ip', ['link', 'set', 'lo', 'up'])
        require('node:fs').writeFileSync('/proc/sys/net/ipv4/ip_local_port_range', '40000 40000')
        require('node:net').createServer().listen(40000, '127.0.0.1', () => {
          const doctor = require('node:child_process').spawnSync(process.execPath, [${JSON.stringify(bin)}, 'doctor'], { encoding: 'utf8' })
          process.stdout.write(JSON.stringify(doctor))
          process.exit(0)
        })`
      const child = spawnSync('unshare', ['--net', process.execPath, '-e', script], { encoding: 'utf8' })
      expect(child.status, child.stderr).toBe(0)
      const doctor = JSON.parse(child.stdout) as { status: number; stdout: string; stderr: string }
      expect({ status: doctor.status, stderr: doctor.stderr }).toEqual({ status: 1, stderr: '' })
      expect(doctor.stdout).toMatch(/^binding +native, /m)
      expect(doctor.stdout).toContain(
        '  FAIL  loopback connection: listen EADDRINUSE: address already in use 127.0.0.1: no free port in the ephemeral range (net.ipv4.ip_local_port_range 40000-40000)',
      )
    },
  )

  it.skipIf(!canRun('root and setpriv (util-linux)', isRoot && hasCommand('setpriv')))(
    'demo --network as root without CAP_NET_ADMIN or CAP_SYS_ADMIN (a default container): exit 1 naming them',
    () => {
      for (const [drop, lacking] of [
        ['-net_admin,-sys_admin', 'CAP_NET_ADMIN and CAP_SYS_ADMIN'],
        ['-sys_admin', 'CAP_SYS_ADMIN'],
      ]) {
        const result = spawnSync('setpriv', [`--inh-caps=${drop}`, `--bounding-set=${drop}`, process.execPath, bin, 'demo', '--network'], {
          encoding: 'utf8',
        })
        expectOneLineFailure(
          { code: result.status, stdout: result.stdout, stderr: result.stderr },
          1,
          `tcp-keepalive demo: --network: the network lab needs ${lacking} (root in a container lacks them`,
        )
      }
    },
  )

  it('rejects unknown options with exit 2', () => {
    expectOneLineFailure(run(['doctor', '--verbose']), 2, "Unknown option '--verbose'")
  })

  it('names the runtime: Node by its version', () => {
    expect(run(['doctor']).stdout).toMatch(new RegExp(`^runtime +Node ${process.version.replace(/\./g, '\\.')} \\(N-API \\d+\\)$`, 'm'))
  })

  const bun = toolPath('bun')
  it.skipIf(!canRun('Bun (scripts/tools.sh install bun)', bun !== ''))('under Bun names Bun, and its binding is native', () => {
    const result = spawnSync(bun, [bin, 'doctor'], { encoding: 'utf8' })
    const bunVersion = execFileSync(bun, ['--version'], { encoding: 'utf8' }).trim()
    expect(result.status, result.stderr).toBe(0)
    expect(result.stdout).toMatch(
      new RegExp(`^runtime +Bun ${bunVersion.replace(/\./g, '\\.')} \\(reports Node v[\\d.]+, N-API \\d+\\)$`, 'm'),
    )
    expect(result.stdout).toMatch(/^binding +native, /m)
  })
})

describe.skipIf(process.platform !== 'linux')('tcp-keepalive inspect', () => {
  const children: Array<{ kill(): void }> = []
  afterEach(() => children.splice(0).forEach((child) => child.kill()))

  async function processWithSockets() {
    const child = spawn(process.execPath, [path.join(__dirname, 'children', 'sockets.cjs')], { stdio: ['ignore', 'pipe', 'inherit'] })
    children.push(child)
    const [line] = (await once(child.stdout, 'data')) as [Buffer]
    return { pid: child.pid!, ports: JSON.parse(line.toString()) as { port: number; configured: number; plain: number; v6: number } }
  }

  it("lists the process's TCP sockets with their state, addresses and keepalive settings", async () => {
    const { pid, ports } = await processWithSockets()
    const { code, stdout } = run(['inspect', String(pid), '--json'])
    expect(code).toBe(0)
    const { sockets } = JSON.parse(stdout)
    const at = (local: string) => sockets.find((socket: { local: string }) => socket.local === local)
    expect(at(`127.0.0.1:${ports.port}`)).toMatchObject({ state: 'LISTEN', remote: '0.0.0.0:0' })
    expect(at(`[::1]:${ports.v6}`)).toMatchObject({ state: 'LISTEN', remote: '[::]:0' })
    expect(at(`127.0.0.1:${ports.configured}`)).toMatchObject({
      state: 'ESTABLISHED',
      remote: `127.0.0.1:${ports.port}`,
      keepalive: { enabled: true, idle: 45_000, interval: 5_000, count: 4, userTimeout: 30_000 },
      deadPeerDetection: 50_000,
    })
    expect(at(`127.0.0.1:${ports.plain}`)).toMatchObject({ state: 'ESTABLISHED', keepalive: { enabled: false } })
    expect(sockets.filter((socket: { state: string }) => socket.state === 'ESTABLISHED')).toHaveLength(4) // two clients, two accepted
  })

  it('prints a table', async () => {
    const { pid, ports } = await processWithSockets()
    const { code, stdout } = run(['inspect', String(pid)])
    expect(code).toBe(0)
    expect(stdout).toMatch(
      new RegExp(
        `^\\d+ +ESTABLISHED +127\\.0\\.0\\.1:${ports.configured} +127\\.0\\.0\\.1:${ports.port} +yes +45 s +5 s +4 +30 s +50 s$`,
        'm',
      ),
    )
  })

  it('--port, --listening and --established select as they do for apply; rows in fd order', async () => {
    const { pid, ports } = await processWithSockets()
    const locals = (...flags: string[]) =>
      (JSON.parse(run(['inspect', String(pid), '--json', ...flags]).stdout).sockets as Array<{ local: string }>)
        .map(({ local }) => local)
        .sort()
    expect(locals('--port', String(ports.plain))).toEqual([`127.0.0.1:${ports.plain}`, `127.0.0.1:${ports.port}`].sort())
    expect(locals('--listening')).toEqual([`127.0.0.1:${ports.port}`, `[::1]:${ports.v6}`].sort())
    expect(locals('--established', '--port', `${ports.plain},${ports.configured}`)).toHaveLength(4)
    expectOneLineFailure(run(['inspect', String(pid), '--port', '0']), 2, "--port takes port numbers (1-65535), got '0'")
    // Counts in words: one listening socket, not "1 listening sockets".
    expect(run(['inspect', String(pid), '--port', String(ports.v6), '--idle-timeout', '40s']).stdout).toContain(
      ': 0 of 0 connections will be forgotten when idle (keepalive off, or first probe not before 40 s); 1 of 1 listening socket pass',
    )
    // fds 3 to 16 (python's listeners): in numeric order, not 10, 11, ..., 3.
    const python = spawn(
      'python3',
      [
        '-c',
        'import socket, sys, time\ns = [socket.create_server(("127.0.0.1", 0)) for _ in range(14)]\nprint("ok", flush=True)\ntime.sleep(60)',
      ],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    )
    children.push(python)
    await once(python.stdout, 'data')
    const fds = (JSON.parse(run(['inspect', String(python.pid), '--json']).stdout).sockets as Array<{ fd: number }>).map(({ fd }) => fd)
    expect(fds).toHaveLength(14)
    expect(fds).toEqual([...fds].sort((a, b) => a - b))
  })

  it('wrong arguments: exit 2 with one line', () => {
    expectOneLineFailure(run(['inspect']), 2, 'expected exactly one process id (or --all)')
    expectOneLineFailure(run(['inspect', 'abc']), 2, "'abc' is not a process id")
    for (const notPid of ['0x1', '1e0', ' 1 ', '01', '0', '2147483648']) {
      expectOneLineFailure(run(['inspect', notPid]), 2, `'${notPid}' is not a process id`)
    }
    expectOneLineFailure(run(['inspect', '1', '2']), 2, 'expected exactly one process id')
  })

  it('a process that does not exist: exit 1 with one line', () => {
    const gone = spawnSync(process.execPath, ['-e', '0']).pid!
    expectOneLineFailure(run(['inspect', String(gone)]), 1, `tcp-keepalive inspect: no process with pid ${gone}`)
  })

  it('without the native binding: exit 1 saying why', async () => {
    const { pid } = await processWithSockets()
    expectOneLineFailure(
      run(['inspect', String(pid)], { TCP_KEEPALIVE_FORCE_FALLBACK: '1' }),
      1,
      'inspect needs the native binding: TCP_KEEPALIVE_FORCE_FALLBACK=1 is set',
    )
  })

  it.skipIf(!canDropRoot)('without ptrace rights over the process: exit 1 saying what is needed', async () => {
    const { pid } = await processWithSockets()
    expectOneLineFailure(
      run(['inspect', String(pid)], {}, 'nobody'),
      1,
      /permission denied: .* needs ptrace rights over the process: it runs as uid 0 \(root\) and you as uid 65534 \(nobody\): run as its user, or as root$/m,
    )
  })

  it(
    'a process churning sockets, fd numbers reused while inspect reads: each row is one socket, every run exits 0',
    { timeout: 120_000 },
    async () => {
      const child = spawn(process.execPath, [path.join(__dirname, 'children', 'churn.cjs')], { stdio: ['ignore', 'pipe', 'inherit'] })
      children.push(child)
      const port = Number(((await once(child.stdout, 'data')) as [Buffer])[0].toString())
      const idleFor = (clientPort: number) => ((clientPort % 1000) + 1) * 1000 // as churn.cjs sets them
      const portOf = (endpoint: string) => Number(endpoint.slice(endpoint.lastIndexOf(':') + 1))
      // At least 40 runs, and on until 60 configured rows were seen (how many a run sees depends on timing).
      let checked = 0
      let runs = 0
      for (; runs < 40 || (checked < 60 && runs < 400); runs++) {
        const { code, stdout, stderr } = run(['inspect', String(child.pid), '--json'])
        expect(stderr).toBe('')
        expect(code).toBe(0)
        for (const { state, local, remote, keepalive } of JSON.parse(stdout).sockets) {
          if (state === 'LISTEN' || !keepalive.enabled) continue // the listener, or a connection not configured yet
          const clientPort = portOf(local) === port ? portOf(remote) : portOf(local)
          expect({ local, remote, idle: keepalive.idle }).toEqual({ local, remote, idle: idleFor(clientPort) })
          checked++
        }
      }
      console.log(`inspect while churning: ${runs} runs, ${checked} configured rows checked against their addresses`)
      expect(checked).toBeGreaterThanOrEqual(60)
    },
  )

  it("a thread id: exit 1 naming the thread's process", async () => {
    const { pid } = await processWithSockets()
    const thread = readdirSync(`/proc/${pid}/task`).find((tid) => tid !== String(pid))!
    expectOneLineFailure(
      run(['inspect', thread]),
      1,
      `tcp-keepalive inspect: ${thread} is a thread of process ${pid}: its sockets are the process's, run 'tcp-keepalive inspect ${pid}'`,
    )
  })

  it('a zombie: exit 1 saying it holds no sockets', async () => {
    // sh's background child exits after sh became sleep, which never reaps it.
    const parent = spawn('sh', ['-c', 'sleep 0.05 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'inherit'] })
    children.push(parent)
    const zombie = ((await once(parent.stdout, 'data')) as [Buffer])[0].toString().trim()
    while (!/^State:\s*Z/m.test(readFileSync(`/proc/${zombie}/status`, 'utf8'))) await new Promise((resolve) => setTimeout(resolve, 10))
    expectOneLineFailure(
      run(['inspect', zombie]),
      1,
      `process ${zombie} is a zombie (exited, not yet reaped by its parent): it holds no sockets`,
    )
  })

  it('a live process whose main thread exited (pthread_exit): not called a zombie, by its pid, a thread id or --all', async () => {
    const child = spawn('python3', [path.join(__dirname, 'children', 'main-thread-exit.py')], { stdio: ['ignore', 'pipe', 'inherit'] })
    children.push(child)
    await once(child.stdout, 'data')
    const pid = child.pid!
    while (!/^State:\s*Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'))) await new Promise((resolve) => setTimeout(resolve, 10))
    const thread = readdirSync(`/proc/${pid}/task`).find((tid) => tid !== String(pid))!
    const reason = `process ${pid} runs, but its main thread exited (pthread_exit); its sockets are held by its thread ${thread} and cannot be borrowed`
    expectOneLineFailure(run(['inspect', String(pid)]), 1, reason)
    expectOneLineFailure(run(['inspect', thread]), 1, reason)
    const { unreadable } = JSON.parse(run(['inspect', '--all', '--json']).stdout)
    expect(unreadable.find((entry: { pid: number }) => entry.pid === pid)).toMatchObject({ problem: 'main thread exited' })
  })

  it.skipIf(!canDropRoot)('root without CAP_SYS_PTRACE (a container default): exit 1 saying what is needed, not "no sockets"', async () => {
    // Another user's process: root without the capability can list its fds but not read where they point.
    const target = await nobodysProcess()
    children.push(target)
    expectOneLineFailure(
      runWithoutPtrace(['inspect', String(target.pid)]),
      1,
      /permission denied: reading \/proc\/\d+\/fd\/0 needs ptrace rights over the process: you are root without CAP_SYS_PTRACE \(the default in a container/,
    )
  })

  describe('an audit', () => {
    type Row = {
      local: string
      remote: string
      state: string
      keepalive: unknown
      middlebox?: { forgets: boolean; reason: string }
      deadPeer?: { tooLong: boolean }
    }
    const audit = (pid: number, ...flags: string[]) => {
      const { code, stdout, stderr } = run(['inspect', String(pid), '--json', ...flags])
      expect({ code, stderr }).toEqual({ code: 0, stderr: '' })
      return JSON.parse(stdout) as { audit: Record<string, unknown>; sockets: Row[] }
    }

    it('--idle-timeout marks the connections a middlebox forgets: keepalive off, or the first probe not before the timeout', async () => {
      const { pid, ports } = await processWithSockets()
      const configured = (result: ReturnType<typeof audit>) =>
        result.sockets.find((socket) => socket.local === `127.0.0.1:${ports.configured}`)!
      // The configured client's idle is 45 s: forgotten at a 45 s timeout, kept at 46 s.
      expect(configured(audit(pid, '--idle-timeout', '45s')).middlebox).toEqual({
        forgets: true,
        reason: 'it is forgotten: first probe after 45 s, not before 45 s',
      })
      const kept = audit(pid, '--idle-timeout', '46s')
      expect(configured(kept).middlebox).toEqual({ forgets: false, reason: 'first probe after 45 s' })
      // The other three connections have keepalive off; both listeners would pass that on.
      for (const socket of kept.sockets.filter((socket) => socket !== configured(kept))) {
        expect(socket.middlebox).toEqual({
          forgets: true,
          reason: `${socket.state === 'LISTEN' ? 'connections it accepts are' : 'it is'} forgotten: keepalive off`,
        })
      }
      expect(kept.audit).toMatchObject({ idleTimeout: 46_000, middlebox: null, detectWithin: null, forgotten: 5, deadPeerHeldTooLong: 0 })
      expect(audit(pid, '--preset', 'aws-nlb').audit).toMatchObject({
        idleTimeout: 350_000,
        middlebox: expect.stringContaining('AWS Network'),
      })
    })

    it('--detect-within marks the connections that would hold a dead peer longer', async () => {
      const { pid, ports } = await processWithSockets()
      // The configured client drops a dead peer after 50 s (idle 45 s + 5 s, user timeout 30 s).
      for (const [bound, tooLong] of [
        ['49s', true],
        ['50s', false],
      ] as const) {
        const result = audit(pid, '--detect-within', bound)
        const connections = result.sockets.filter((socket) => socket.state === 'ESTABLISHED')
        expect(connections.find((socket) => socket.local === `127.0.0.1:${ports.configured}`)!.deadPeer!.tooLong).toBe(tooLong)
        expect(connections.filter((socket) => socket.deadPeer!.tooLong)).toHaveLength(tooLong ? 4 : 3)
      }
    })

    it('prints the verdicts, the counts, and the apply command that would fix it', async () => {
      const { pid, ports } = await processWithSockets()
      const { code, stdout } = run(['inspect', String(pid), '--idle-timeout', '40s', '--detect-within', '1m'])
      expect(code).toBe(0)
      expect(stdout).toMatch(
        new RegExp(
          `^\\d+ +ESTABLISHED +127\\.0\\.0\\.1:${ports.plain} .* never +FORGETS: keepalive off +TOO LONG: held forever: keepalive off$`,
          'm',
        ),
      )
      expect(stdout).toMatch(
        new RegExp(
          `^\\d+ +ESTABLISHED +127\\.0\\.0\\.1:${ports.configured} .* FORGETS: first probe after 45 s, not before 40 s +ok: found within 50 s$`,
          'm',
        ),
      )
      expect(stdout).toContain('A middlebox forgetting flows idle 40 s: 4 of 4 connections will be forgotten when idle')
      expect(stdout).toContain('3 of 4 connections would hold a dead peer longer than 1 min.')
      // Every socket of this process is flagged: its two listeners' ports select them all.
      expect(stdout).toContain(
        `  tcp-keepalive apply ${pid} --port ${[ports.port, ports.v6].sort((a, b) => a - b).join(',')} idle=20s interval=9s count=3 user-timeout=47s`,
      )
    })

    it('the fix lines select only flagged sockets, and name those no line can select without one that passes', async () => {
      const { pid, ports } = await processWithSockets()
      // The configured client (idle 45 s) passes at 46 s; its accepted end shares both its ports with it.
      const { audit: result } = audit(pid, '--idle-timeout', '46s')
      const settings = 'idle=23s interval=11s count=3 user-timeout=56s'
      expect(result.fix).toEqual([
        `tcp-keepalive apply ${pid} --port ${[ports.plain, ports.v6].sort((a, b) => a - b).join(',')} ${settings}`,
        `tcp-keepalive apply ${pid} --listening --port ${ports.port} ${settings}`,
      ])
      expect(result.unselectable).toBe(1)
      expect(run(['inspect', String(pid), '--idle-timeout', '46s']).stdout).toContain(
        '1 flagged socket shares every port with a socket that passes: no apply line selects it alone',
      )
    })

    it('a socket apply leaves alone (CLOSE_WAIT) is not judged: no finding, no fix line, as apply would select nothing', async () => {
      const server = net.createServer((socket) => socket.destroy()).listen(0, '127.0.0.1')
      await once(server, 'listening')
      children.push({ kill: () => server.close() })
      // The peer closes; the child never does: its end stays in CLOSE_WAIT.
      const script = `require('node:net').connect({ port: ${(server.address() as net.AddressInfo).port}, host: '127.0.0.1', allowHalfOpen: true }).on('end', () => console.log('closed by peer')); setInterval(() => {}, 60000)`
      const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
      children.push(child)
      await once(child.stdout, 'data')
      const result = audit(child.pid!, '--idle-timeout', '40s', '--detect-within', '1m')
      expect(result.sockets.map((socket) => socket.state)).toEqual(['CLOSE_WAIT'])
      expect(result.sockets[0].middlebox).toBeUndefined()
      expect(result.audit).toMatchObject({ forgotten: 0, deadPeerHeldTooLong: 0, fix: [] })
      const text = run(['inspect', String(child.pid), '--idle-timeout', '40s', '--detect-within', '1m']).stdout
      expect(text).toContain('0 of 0 connections will be forgotten when idle')
      expect(text).toContain('1 socket closing or connecting (not LISTEN or ESTABLISHED): not judged, as apply leaves them alone.')
      expect(text).toMatch(/ +CLOSE_WAIT .* not judged: CLOSE_WAIT +not judged: CLOSE_WAIT$/m)
      expect(text).not.toContain('tcp-keepalive apply')
      expect(run(['apply', String(child.pid), 'idle=20s']).stdout).toContain('No socket matched')
    })

    it('a fix line run as printed writes only the flagged sockets and leaves those that pass as they were', async () => {
      const child = spawn(process.execPath, [path.join(__dirname, 'children', 'audit-fix.cjs')], { stdio: ['ignore', 'pipe', 'inherit'] })
      children.push(child)
      const ports = JSON.parse(((await once(child.stdout, 'data')) as [Buffer])[0].toString()) as { configured: number; plain: number }
      const clients = [ports.configured, ports.configured, ports.plain, ports.plain].map((port) => net.connect(port, '127.0.0.1'))
      children.push({ kill: () => clients.forEach((client) => client.destroy()) })
      await Promise.all(clients.map((client) => once(client, 'connect')))
      const pid = child.pid!
      const bounds = ['--preset', 'aws-nlb', '--detect-within', '2m']
      let judged = audit(pid, ...bounds)
      while (judged.sockets.length < 6) judged = audit(pid, ...bounds) // until the child has accepted all four
      const flaggedSockets = judged.sockets.filter(
        (socket) => socket.middlebox!.forgets || (socket.state !== 'LISTEN' && socket.deadPeer!.tooLong),
      )
      // The plain listener and its two connections; the configured one (found within 22 s) and its connections pass.
      expect(flaggedSockets.map((socket) => socket.local).sort()).toEqual(Array(3).fill(`127.0.0.1:${ports.plain}`))
      const fix = judged.audit.fix as string[]
      expect(fix).toEqual([`tcp-keepalive apply ${pid} --port ${ports.plain} idle=60s interval=20s count=3 user-timeout=120s`])
      const args = fix[0].split(' ').slice(1)
      const dry = JSON.parse(run([...args, '--dry-run', '--json']).stdout) as { sockets: Row[] }
      const key = (socket: { local: string; remote: string }) => `${socket.local} ${socket.remote}`
      expect(dry.sockets.map(key).sort()).toEqual(flaggedSockets.map(key).sort())
      expect(run(args).code).toBe(0)
      const after = audit(pid, ...bounds)
      expect(after.audit).toMatchObject({ forgotten: 0, deadPeerHeldTooLong: 0, fix: [] })
      for (const socket of after.sockets.filter((socket) => socket.local.endsWith(`:${ports.configured}`))) {
        expect(socket.keepalive).toMatchObject({ enabled: true, idle: 10_000, interval: 3_000, count: 4 })
      }
    })

    it('bounds no settings meet: no fix line, and the reason why', async () => {
      const { pid } = await processWithSockets()
      const { stdout } = run(['inspect', String(pid), '--idle-timeout', '3s'])
      expect(stdout).toContain(
        'No fix line: no settings meet these bounds (cannot send 3 probes at least 1 s apart before a middlebox forgets after 3 s: lower the count).',
      )
      expect(stdout).not.toContain('tcp-keepalive apply')
      expect(audit(pid, '--idle-timeout', '3s').audit).toMatchObject({ fix: [], noPlan: expect.stringContaining('cannot send 3 probes') })
      expect(audit(pid, '--idle-timeout', '1s').audit).toMatchObject({ fix: [], noPlan: 'a plan takes bounds of at least 2s' })
      // 4 s had no fix line before plan found idle 1 s, interval 1 s: now it has one.
      expect(audit(pid, '--idle-timeout', '4s').audit).toMatchObject({
        fix: [expect.stringContaining('idle=1s interval=1s count=3')],
        noPlan: null,
      })
    })

    it('wrong audit arguments: exit 2 with one line', () => {
      expectOneLineFailure(
        run(['inspect', '1', '--idle-timeout', '350']),
        2,
        "--idle-timeout takes a duration with ms, s, m or h (e.g. 350s), got '350'",
      )
      expectOneLineFailure(run(['inspect', '1', '--preset', 'aws']), 2, "unknown preset 'aws'")
      // An HTTP load balancer's idle timer ignores keepalive probes: auditing them against it would pass what it cuts.
      expectOneLineFailure(
        run(['inspect', '1', '--preset', 'aws-alb']),
        2,
        'aws-alb terminates HTTP: TCP keepalive does not keep its connections open, so there is nothing to audit against it (tcp-keepalive plan --behind aws-alb says what does)',
      )
      // The command it points to, run as printed: it says what does keep such connections.
      const pointed = run(['plan', '--behind', 'aws-alb'])
      expect(pointed.code).toBe(0)
      expect(pointed.stdout).toMatch(/TCP keepalive does not keep its connections open/)
      expect(pointed.stdout).toMatch(/keepAliveTimeout: 65000, headersTimeout: 66000/)
      expectOneLineFailure(
        run(['inspect', '1', '--preset', 'aws-nlb', '--idle-timeout', '1m']),
        2,
        'give --idle-timeout or --preset, not both',
      )
      expectOneLineFailure(run(['inspect', '--all', '1']), 2, "--all takes no process id, got '1'")
    })
  })

  describe('--all', () => {
    it('every process in one table, with its name', async () => {
      const { pid, ports } = await processWithSockets()
      const { code, stdout } = run(['inspect', '--all', '--json'])
      expect(code).toBe(0)
      const { processes, read } = JSON.parse(stdout)
      expect(read).toBeGreaterThan(1)
      const found = processes.find((entry: { pid: number }) => entry.pid === pid)
      expect(found).toMatchObject({ name: 'node' })
      expect(found.sockets).toHaveLength(6) // two listeners, two clients, two accepted
      expect(found.sockets.find((socket: { local: string }) => socket.local === `127.0.0.1:${ports.configured}`).keepalive).toMatchObject({
        idle: 45_000,
      })
      const text = run(['inspect', '--all'])
      expect(text.code).toBe(0)
      expect(text.stdout).toMatch(new RegExp(`^${pid} +node +\\d+ +ESTABLISHED +127\\.0\\.0\\.1:${ports.configured} `, 'm'))
      expect(text.stdout).toMatch(/^Read \d+ processes, \d+ with TCP sockets \(\d+ sockets\)\.$/m)
    })

    it.skipIf(!canDropRoot)('as nobody: the processes it cannot read are counted and named with the reason, exit 0', async () => {
      const { pid } = await processWithSockets()
      const json = run(['inspect', '--all', '--json'], {}, 'nobody')
      expect(json.code).toBe(0)
      const { unreadable } = JSON.parse(json.stdout)
      expect(unreadable.find((entry: { pid: number }) => entry.pid === pid)).toEqual({
        pid,
        name: 'node',
        problem: 'denied',
        reason: `permission denied: reading /proc/${pid}/fd needs ptrace rights over the process: it runs as uid 0 (root) and you as uid 65534 (nobody): run as its user, or as root`,
      })
      // The text run is another moment: processes come and go in between, so its count is checked against its own list.
      const text = run(['inspect', '--all'], {}, 'nobody')
      const counted = Number(/^Could not read (\d+) processes:$/m.exec(text.stdout)?.[1])
      expect(text.stdout.split('\n').filter((line) => /^ {2}\d+ .+: /.test(line))).toHaveLength(counted)
      expect(text.stdout).toMatch(new RegExp(`^  ${pid} node: permission denied: `, 'm'))
    })
  })

  it.each([
    ['0100007F:1F90', '127.0.0.1:8080'],
    ['00000000:0000', '0.0.0.0:0'],
    ['00000000000000000000000001000000:0050', '[::1]:80'],
    ['0000000000000000FFFF00000100007F:01BB', '[::ffff:127.0.0.1]:443'],
  ])('parses /proc/net/tcp endpoint %s as %s', (text, endpoint) => {
    expect(parseEndpoint(text)).toBe(endpoint)
  })
})

describe('tcp-keepalive plan', () => {
  it('prints the reasoning, the options and a TCP_KEEPALIVE line that round-trip', () => {
    const { code, stdout } = run(['plan', '--idle-timeout', '350s', '--detect-within', '1m'])
    expect(code).toBe(0)
    expect(stdout).toContain('configureKeepalive(socket, {idle: 30000, interval: 10000, count: 3, userTimeout: 60000})')
    expect(stdout).toContain('TCP_KEEPALIVE="idle=30s interval=10s count=3 user-timeout=60s"')
    expect(stdout).toMatch(/^- A dead peer is found within 60 s: idle \+ interval x count = 30 s \+ 10 s x 3 = 60 s\.$/m)
  })

  it('--preset and --json', () => {
    const { code, stdout } = run(['plan', '--preset', 'azure-lb', '--json'])
    expect(code).toBe(0)
    expect(JSON.parse(stdout)).toMatchObject({
      middlebox: expect.stringContaining('Azure Load Balancer'),
      options: { idle: 120_000, interval: 59_000, count: 3, userTimeout: 297_000 },
    })
  })

  it('wrong arguments: exit 2 with one line', () => {
    expectOneLineFailure(run(['plan']), 2, 'give --behind (or --idle-timeout), --detect-within, or both')
    expectOneLineFailure(
      run(['plan', '--idle-timeout', '350']),
      2,
      "--idle-timeout takes a duration with ms, s, m or h (e.g. 350s), got '350'",
    )
    expectOneLineFailure(run(['plan', '--preset', 'aws']), 2, "unknown preset 'aws'")
    // In the flag's words and units, not the API's field in ms.
    expectOneLineFailure(run(['plan', '--idle-timeout', '0s']), 2, /tcp-keepalive plan: --idle-timeout is at least 2s \(.*\), got '0s'$/m)
    expectOneLineFailure(run(['plan', '--detect-within', '1999ms']), 2, /--detect-within is at least 2s .*, got '1999ms'$/m)
    expectOneLineFailure(run(['plan', '--detect-within', '3s', '--count', '5']), 2, 'cannot find a dead peer within 3 s')
    expectOneLineFailure(run(['plan', '--detect-within', '1m', '--count', 'x']), 2, "--count takes a whole number of probes, got 'x'")
    // A full-width digit is not a digit to parse: the message shows the text given, not NaN.
    expectOneLineFailure(run(['plan', '--detect-within', '1m', '--count', '３']), 2, "--count takes a whole number of probes, got '３'")
    expectOneLineFailure(run(['plan', '--detect-within', '1m', '--loss', '1']), 2, "--loss takes a percentage (e.g. 1% or 0.5%), got '1'")
    expectOneLineFailure(
      run(['plan', '--detect-within', '1m', '--connections', '10']),
      2,
      '--connections and --false-drops-per-year need --loss',
    )
  })

  it.each([
    [['--detect-within', '1000000s'], 'interval 32767 s is the largest the kernel takes'],
    [['--idle-timeout', '100000h', '--count', '100'], 'TCP_USER_TIMEOUT holds at most 2^31 - 1 ms'],
  ])('plan %s stays within every kernel bound, and the preload takes its TCP_KEEPALIVE line', (args, why) => {
    const { code, stdout } = run(['plan', ...args])
    expect(code).toBe(0)
    expect(stdout).toContain(why)
    const line = /^TCP_KEEPALIVE="(.+)"$/m.exec(stdout)![1]
    const preload = spawnSync(process.execPath, ['--require', path.join(root, 'dist', 'register.js'), '-e', '0'], {
      encoding: 'utf8',
      env: { ...process.env, TCP_KEEPALIVE: line },
    })
    expect({ status: preload.status, stderr: preload.stderr }).toEqual({ status: 0, stderr: '' })
  })

  it.each([
    [['--idle-timeout', '4s'], { idle: 1_000, interval: 1_000, count: 3, userTimeout: 4_000 }],
    [['--detect-within', '4s'], { idle: 1_000, interval: 1_000, count: 3, userTimeout: 4_000 }],
    [['--idle-timeout', '5s', '--count', '4'], { idle: 1_000, interval: 1_000, count: 4, userTimeout: 5_000 }],
    [['--idle-timeout', '6s', '--count', '5'], { idle: 1_000, interval: 1_000, count: 5, userTimeout: 6_000 }],
    [['--idle-timeout', '8s', '--count', '5'], { idle: 3_000, interval: 1_000, count: 5, userTimeout: 8_000 }],
  ])('plan %s: half the bound leaves no room for the probes, an earlier first probe does; the kernel holds it', async (args, options) => {
    const { code, stdout, stderr } = run(['plan', ...args, '--json'])
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' })
    const plan = JSON.parse(stdout)
    expect(plan.options).toEqual(options)
    const bound = parseDuration(args[1])!
    const { idle, interval, count } = options
    if (args[0] === '--idle-timeout') expect(idle + interval * (count - 1)).toBeLessThan(bound)
    else expect(idle + interval * count).toBeLessThanOrEqual(bound)
    expect(plan.reasoning[0]).toContain(`earlier than half`)
    const { client } = await tcpPair()
    try {
      configureKeepalive(client, options)
      expect(readKeepalive(client)).toEqual({ enabled: true, ...options })
    } finally {
      closeAll()
    }
  })

  it('--loss: the expected false drops, and the smallest count from 3 up within the budget', () => {
    const { code, stdout } = run([
      'plan',
      '--idle-timeout',
      '350s',
      '--detect-within',
      '2m',
      '--loss',
      '1%',
      '--connections',
      '10000',
      '--json',
    ])
    expect(code).toBe(0)
    const plan = JSON.parse(stdout)
    // q = 1 - 0.99^2 = 0.0199; idle 60 s: 1440 rounds a day; count 5 gives 16.4 a year for 10 000 connections, count 6 0.326.
    expect(plan.options).toEqual({ idle: 60_000, interval: 10_000, count: 6, userTimeout: 120_000 })
    expect(plan.falseDrops).toMatchObject({ budgetPerYear: 1, withinBudget: true })
    expect(plan.falseDrops.exchangeFailure).toBeCloseTo(0.0199, 10)
    expect(plan.falseDrops.perYear).toBeCloseTo(10_000 * 365 * 1440 * 0.0199 ** 6, 6)
    expect(plan.reasoning.join('\n')).toMatch(/q = 1 - \(1 - 0\.01\)\^2 = 0\.0199\. .* q\^6 = 6\.21e-11 per round/)
    expect(plan.reasoning.join('\n')).toContain(
      'Count 6 is the smallest from 3 up that keeps that within the budget of 1 a year (count 5: 16.4 a year)',
    )
    expect(plan.reasoning.join('\n')).toContain('only an application heartbeat with a deadline finds that')
  })

  it('--loss with a detection bound the needed count cannot fit: says both cannot be met', () => {
    expectOneLineFailure(
      run(['plan', '--detect-within', '10s', '--loss', '20%', '--connections', '1000']),
      2,
      'the false-drop budget needs count 23 at 20 % loss, and 23 probes at least 1 s apart after an idle of 5 s do not fit within 10 s: both cannot be met',
    )
  })
})

describe('formatDuration', () => {
  it.each([
    [null, '-'],
    [500, '500 ms'],
    [4_500, '4.5 s'],
    [59_999, '59.9 s'],
    [60_000, '1 min'],
    [330_000, '5 min 30 s'],
    [7_200_000, '2 h'],
    [7_199_999, '1 h 59 min 59 s'],
  ])('%s ms → %s', (ms, text) => expect(formatDuration(ms)).toBe(text))
})

describe('deadPeerDetectionMs', () => {
  const on = { enabled: true, idle: 10_000, interval: 5_000, count: 3, userTimeout: 0 }
  it.each([
    [on, 25_000],
    [{ ...on, userTimeout: 25_000 }, 25_000],
    [{ ...on, userTimeout: 12_000 }, 15_000], // at least one probe must be unanswered
    [{ ...on, userTimeout: 1_000 }, 15_000],
    [{ ...on, userTimeout: 40_000 }, 40_000], // count is ignored once a user timeout is set
    [{ ...on, userTimeout: 41_000 }, 45_000],
    [{ ...on, enabled: false }, null],
    [{ ...on, idle: null }, null],
  ])('%o → %s', (state, expected) => {
    expect(deadPeerDetectionMs(state)).toBe(expected)
  })
})
