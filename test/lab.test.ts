// Keepalive on real (simulated) networks: network namespaces joined by veth,
// an nftables middlebox, cut links and a rebooted host. Needs root; under
// CI=true it must run. Measured times are printed with each scenario.
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { chmodSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { formatTable } from '../lib/cli/format.js'
import { parseSsDuration } from '../lib/cli/ss.js'
import { Lab } from '../lib/lab/lab.js'
import { ip, labUnavailableReason } from '../lib/lab/netns.js'
import {
  dataInFlightScenario,
  deadPeerScenario,
  middleboxScenario,
  peerRebootedScenario,
  type Measurement,
  type Scenario,
  serverSideScenario,
} from '../lib/lab/scenarios.js'
import { hungPeerDataScenario, hungPeerIdleScenario } from '../lib/lab/hung-peer.js'
import { lossyLinkScenario } from '../lib/lab/lossy-link.js'
import { perHopScenario } from '../lib/lab/per-hop.js'
import { falseDropModel } from '../lib/plan.js'
import { canRun, hasCommand } from './helpers.js'
import { nginxUnavailableReason } from '../lib/lab/nginx.js'

const unavailable = labUnavailableReason()
const runs = canRun(`the network lab: ${unavailable}`, unavailable === null)

/** Runs a scenario and prints its measurements in the test output. */
async function run(scenario: Scenario): Promise<Measurement[]> {
  const measurements = await scenario.run()
  const ms = (value: number | null) => (value === null ? '-' : `${value} ms`)
  const rows = measurements.map((m) => [m.label, m.expected, m.outcome, ms(m.measuredMs), ms(m.boundMs), m.ok ? 'ok' : 'FAILED'])
  console.log(`${scenario.title}\n${formatTable(['connection', 'expected', 'outcome', 'measured', 'bound', ''], rows)}\n`)
  return measurements
}

function measurement(measurements: Measurement[], labelStart: string): Measurement {
  const found = measurements.find((m) => m.label.startsWith(labelStart))
  if (!found) throw new Error(`no measurement "${labelStart}"`)
  return found
}

function labNamespacesOf(pid: number): string[] {
  return ip('netns', 'list')
    .split('\n')
    .map((line) => line.split(' ')[0])
    .filter((name) => name.startsWith(`tka${pid}x`))
}

describe.skipIf(!runs)(`network lab${runs ? '' : ` (skipped: ${unavailable})`}`, () => {
  it('a middlebox that forgets idle flows: only keepalive gets late data and late answers through', { timeout: 30_000 }, async () => {
    const result = await run(middleboxScenario(3))
    for (const name of ['push, no keepalive', 'long query, no keepalive']) {
      expect(measurement(result, name)).toMatchObject({ outcome: 'nothing arrived', ok: true })
    }
    for (const name of ['push, keepalive', 'long query, keepalive']) {
      const m = measurement(result, name)
      expect(m.outcome).toBe('received')
      expect(m.measuredMs).toBeGreaterThanOrEqual(6_000)
      expect(m.measuredMs).toBeLessThanOrEqual(7_000)
    }
  })

  it(
    'a dead peer: ETIMEDOUT within idle + interval x count + 1 s for two settings; kernel defaults still open',
    { timeout: 30_000 },
    async () => {
      const result = await run(deadPeerScenario())
      for (const [name, expected] of [
        ['idle 1 s, interval 1 s, count 2', 3_000],
        ['idle 2 s, interval 1 s, count 3', 5_000],
      ] as const) {
        const m = measurement(result, name)
        expect(m.outcome).toBe('ETIMEDOUT')
        expect(m.measuredMs).toBeLessThanOrEqual(expected + 1_000)
        expect(m.measuredMs).toBeGreaterThanOrEqual(expected - 1_000)
      }
      expect(measurement(result, 'kernel defaults')).toMatchObject({ outcome: 'still open', ok: true })
      // TCP_INFO: probe k goes out unanswered at idle + (k - 1) x interval, then the error.
      const timeline = measurement(result, 'idle 2 s, interval 1 s, count 3').timeline!
      console.log('probe timeline, idle 2 s, interval 1 s, count 3:', timeline)
      expect(timeline.map(({ what }) => what)).toEqual([
        'probe 1 sent, unanswered',
        'probe 2 sent, unanswered',
        'probe 3 sent, unanswered',
        'ETIMEDOUT',
      ])
      timeline.slice(0, 3).forEach(({ atMs }, k) => {
        expect(atMs).toBeGreaterThanOrEqual(2_000 + k * 1_000 - 100)
        expect(atMs).toBeLessThanOrEqual(2_000 + k * 1_000 + 500)
      })
    },
  )

  it('a rebooted peer: an idle client gets ECONNRESET from the RST that answers its next probe', { timeout: 30_000 }, async () => {
    const result = await run(peerRebootedScenario())
    const m = measurement(result, 'idle 2 s')
    expect(m.outcome).toBe('ECONNRESET')
    expect(m.measuredMs).toBeGreaterThanOrEqual(2_000 - 100) // the first probe, at idle
    expect(m.measuredMs).toBeLessThanOrEqual(m.boundMs!)
    expect(m.ok).toBe(true)
  })

  it('data in flight on a cut link: userTimeout ends it within U + 1 s; keepalive alone does not', { timeout: 30_000 }, async () => {
    const result = await run(dataInFlightScenario(3_000))
    const bounded = measurement(result, 'idle 1 s, interval 1 s, count 2, userTimeout 3 s')
    expect(bounded.outcome).toBe('ETIMEDOUT')
    expect(bounded.measuredMs).toBeLessThanOrEqual(4_000)
    expect(bounded.measuredMs).toBeGreaterThanOrEqual(3_000 - 100)
    expect(result.find((m) => !m.label.includes('userTimeout'))).toMatchObject({ outcome: 'still retransmitting', ok: true })
  })

  it('server side: a server configuring accepted connections detects a cut client and frees it', { timeout: 30_000 }, async () => {
    const result = await run(serverSideScenario())
    const m = measurement(result, 'accepted connection')
    expect(m.outcome).toBe('ETIMEDOUT, freed')
    expect(m.measuredMs).toBeLessThanOrEqual(4_000)
    expect(m.ok).toBe(true)
  })

  describe('what keepalive cannot see', () => {
    it('a hung peer, idle: its kernel answers every probe, so only an application heartbeat notices', { timeout: 30_000 }, async () => {
      const result = await run(hungPeerIdleScenario())
      // Keepalive 1/1/2 would give up after 3 s of unanswered probes: 4 s after the hang it is still open, no probe unanswered.
      expect(measurement(result, 'hung server, idle 1 s')).toMatchObject({
        outcome: expect.stringMatching(/^still open, no probe unanswered/),
        ok: true,
      })
      const heartbeat = measurement(result, 'hung server, heartbeat')
      expect(heartbeat.outcome).toBe('HEARTBEAT_TIMEOUT')
      expect(heartbeat.measuredMs).toBeGreaterThan(0)
      expect(heartbeat.measuredMs).toBeLessThanOrEqual(500 + 1_000 + 1_000) // interval + deadline + 1 s
      expect(measurement(result, 'live server, heartbeat')).toMatchObject({
        outcome: expect.stringMatching(/^still open, \d+ pongs$/),
        ok: true,
      })
    })

    it('a hung peer with data in flight: the window closes; only userTimeout ends it, within U + 1 s', { timeout: 30_000 }, async () => {
      const result = await run(hungPeerDataScenario(3_000))
      const bounded = measurement(result, 'hung server, idle 1 s, interval 1 s, count 2, userTimeout 3 s')
      expect(bounded.outcome).toBe('ETIMEDOUT')
      expect(bounded.measuredMs).toBeGreaterThanOrEqual(3_000 - 500)
      expect(bounded.measuredMs).toBeLessThanOrEqual(4_000)
      const kept = result.find((m) => m.label === 'hung server, idle 1 s, interval 1 s, count 2')!
      expect(kept.outcome).toMatch(/^still open, \d+ bytes queued in the kernel \(ss Send-Q\), probing the zero window$/)
      expect(measurement(result, 'live server')).toMatchObject({ outcome: 'delivered, still open', ok: true })
    })

    it(
      "keepalive is per hop: only keepalive on the proxy's upstream socket (the preload) or a heartbeat gets the answer through",
      { timeout: 30_000 },
      async () => {
        const result = await run(perHopScenario(2))
        for (const name of ['through the proxy, no keepalive anywhere', "through the proxy, keepalive on the client's socket only"]) {
          expect(measurement(result, name).outcome).toMatch(/^nothing arrived/)
        }
        expect(measurement(result, "through the proxy, keepalive on the client's socket only").outcome).toContain(
          "keepalive timer on the client's socket: yes, on the proxy's upstream socket: no",
        )
        const preload = measurement(result, 'through the proxy under the preload')
        expect(preload.outcome).toBe("received (keepalive timer on the client's socket: no, on the proxy's upstream socket: yes)")
        for (const m of [preload, measurement(result, 'through the proxy, an application heartbeat')]) {
          expect(m.measuredMs).toBeGreaterThanOrEqual(4_000)
          expect(m.measuredMs).toBeLessThanOrEqual(5_000)
        }
        expect(result.every((m) => m.ok)).toBe(true)
      },
    )

    it("a lossy link: lost probes drop healthy connections at the rate the plan's model predicts", { timeout: 30_000 }, async () => {
      const loss = 0.1
      const result = await run(lossyLinkScenario(loss, 6_000))
      const rounds = result[0].falseDrops!.rounds
      expect(rounds).toBeGreaterThanOrEqual(4) // about one probe a second for 6 s
      expect(rounds).toBeLessThanOrEqual(6)
      const q = 1 - (1 - loss) ** 2
      for (const [label, count] of [
        ['count 1', 1],
        ['count 2', 2],
      ] as const) {
        const { falseDrops, ok } = measurement(result, label)
        // The model the plan uses, and a bound of 4.5 binomial standard deviations around it (n - 1 .. n + 1 rounds).
        expect(falseDropModel({ idle: 1_000, count, loss }).perRound).toBeCloseTo(q ** count, 12)
        expect(falseDrops!.predicted).toBeCloseTo(1 - (1 - q ** count) ** rounds, 12)
        const spread = (f: number) => 4.5 * Math.sqrt((f * (1 - f)) / falseDrops!.connections)
        const [lowest, highest] = [1 - (1 - q ** count) ** (rounds - 1), 1 - (1 - q ** count) ** (rounds + 1)]
        expect(falseDrops!.measured).toBeGreaterThanOrEqual(lowest - spread(lowest))
        expect(falseDrops!.measured).toBeLessThanOrEqual(highest + spread(highest))
        expect(falseDrops!.dropped).toBeGreaterThan(0) // aggressive settings do drop healthy connections
        expect(ok).toBe(true)
      }
      console.log(
        'lossy link, measured vs predicted false-drop fraction:',
        result.map((m) => `${m.label}: ${m.falseDrops?.measured ?? 0} vs ${m.falseDrops?.predicted ?? 0}`),
      )
      // Controls: count 8 (the model expects 1e-5 drops here) and no keepalive (no probes to lose) keep every connection.
      expect(measurement(result, 'count 8').falseDrops!.dropped).toBe(0)
      expect(measurement(result, 'no keepalive').outcome).toMatch(/^0 of 50 dropped/)
    })
  })

  it(
    'the tcp_keepalive_* sysctls are per network namespace, set only defaults, enable nothing; doctor shows its own',
    { timeout: 20_000 },
    () => {
      const hostValue = () => Number(readFileSync('/proc/sys/net/ipv4/tcp_keepalive_time', 'utf8'))
      const host = hostValue()
      const lab = new Lab()
      try {
        const inside = lab.namespaceCommand('client')
        const exec = (command: string[]) => spawnSync(inside[0], [...inside.slice(1), ...command], { encoding: 'utf8' })
        expect(exec(['sysctl', '-qw', 'net.ipv4.tcp_keepalive_time=111']).status).toBe(0)
        expect(exec(['cat', '/proc/sys/net/ipv4/tcp_keepalive_time']).stdout.trim()).toBe('111')
        expect(hostValue()).toBe(host) // the host keeps its own (7200 unless someone changed it)
        expect(host).not.toBe(111)
        console.log(`tcp_keepalive_time: 111 in the namespace, ${host} on the host`)

        // doctor reads the values of the namespace it runs in.
        const doctor = (command: string[]) => JSON.parse(command.length ? exec(command).stdout : '')
        const cli = [process.execPath, path.join(__dirname, '..', 'dist', 'cli', 'main.js'), 'doctor', '--json']
        expect(doctor(cli).kernelDefaults.idle).toBe(111_000)
        const onHost = JSON.parse(spawnSync(cli[0], cli.slice(1), { encoding: 'utf8' }).stdout)
        expect(onHost.kernelDefaults.idle).toBe(host * 1000)

        // A socket that enables SO_KEEPALIVE gets 111 s; one that does not gets no keepalive at all.
        const script = `
        const net = require('node:net')
        const { configureKeepalive, readKeepalive } = require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'index.js'))})
        const server = net.createServer().listen(0, '127.0.0.1', () => {
          const port = server.address().port
          const plain = net.connect(port, '127.0.0.1')
          const enabled = configureKeepalive(net.connect(port, '127.0.0.1'), { enable: true })
          let connected = 0
          for (const socket of [plain, enabled]) socket.on('connect', () => {
            if (++connected < 2) return
            const ss = require('node:child_process').execFileSync('ss', ['-tnoiH', 'sport = :' + enabled.localPort + ' or sport = :' + plain.localPort], { encoding: 'utf8' })
            console.log(JSON.stringify({ plain: readKeepalive(plain), enabled: readKeepalive(enabled), plainPort: plain.localPort, ss }))
            process.exit(0)
          })
        })`
        const result = JSON.parse(exec([process.execPath, '-e', script]).stdout)
        expect(result.enabled).toMatchObject({ enabled: true, idle: 111_000 })
        expect(result.plain).toMatchObject({ enabled: false })
        const timers = result.ss.split('\n').filter((line: string) => /timer:\(keepalive,/.test(line))
        expect(timers).toHaveLength(1) // only the socket that enabled it
        const remaining = parseSsDuration(/timer:\(keepalive,([^,]+),/.exec(timers[0])![1])
        expect(remaining).toBeLessThanOrEqual(111_000)
        expect(remaining).toBeGreaterThan(100_000) // the namespace's default, not the host's 2 h
        expect(timers[0]).not.toContain(`:${result.plainPort} `)
      } finally {
        lab.close()
      }
    },
  )

  describe('harness', () => {
    it('removes its namespaces on close', () => {
      const lab = new Lab()
      expect(labNamespacesOf(process.pid).length).toBe(3)
      lab.close()
      expect(labNamespacesOf(process.pid)).toEqual([])
      const withProxy = new Lab({ proxy: true }) // client, proxy, router, server
      expect(labNamespacesOf(process.pid).length).toBe(4)
      withProxy.close()
      expect(labNamespacesOf(process.pid)).toEqual([])
    })

    const pidNamespace = /\d+/.exec(readlinkSync('/proc/self/ns/pid'))![0]

    it("sweeps an earlier crashed run's namespaces: its pid gone, or reused by another process", () => {
      const dead = spawnSync(process.execPath, ['-e', '0']).pid! // a pid that no longer runs
      // Named as a run of this PID namespace names them: pid, start time, PID namespace.
      const leftovers = [`tka${dead}x1x${pidNamespace}x1c`, `tka${process.pid}x1x${pidNamespace}x1c`] // this pid, another start time
      for (const leftover of leftovers) ip('netns', 'add', leftover)
      const lab = new Lab()
      expect(labNamespacesOf(process.pid)).toHaveLength(3) // its own, not the leftover with its pid
      lab.close()
      expect(labNamespacesOf(dead)).toEqual([])
      expect(labNamespacesOf(process.pid)).toEqual([])
    })

    const labScript = `
        const { Lab } = require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'lab', 'lab.js'))})
        new Lab()
        console.log('up')
        setInterval(() => {}, 1000)`

    it.each(['SIGINT', 'SIGTERM', 'SIGHUP'] as const)(
      'tears down on %s (Ctrl-C, kill, a dropped ssh session)',
      { timeout: 20_000 },
      async (name) => {
        const child = spawn(process.execPath, ['-e', labScript], { stdio: ['ignore', 'pipe', 'inherit'] })
        await once(child.stdout, 'data')
        expect(labNamespacesOf(child.pid!).length).toBe(3)
        child.kill(name)
        const [code, signal] = await once(child, 'exit')
        expect(signal ?? code).toBe(name)
        expect(labNamespacesOf(child.pid!)).toEqual([])
      },
    )

    it.runIf(canRun('unshare (util-linux), for a PID namespace', hasCommand('unshare')))(
      "a run in another PID namespace (it cannot see this run's pid) leaves this run's namespaces alone",
      { timeout: 20_000 },
      async () => {
        const child = spawn(process.execPath, ['-e', labScript], { stdio: ['ignore', 'pipe', 'inherit'] })
        try {
          await once(child.stdout, 'data')
          const held = labNamespacesOf(child.pid!)
          expect(held).toHaveLength(3)
          // Another run, in a new PID namespace sharing /run/netns: it makes and closes its own lab, sweeping first.
          const other = `const { Lab } = require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'lab', 'lab.js'))}); new Lab().close()`
          const result = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', process.execPath, '-e', other], { encoding: 'utf8' })
          expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' })
          expect(labNamespacesOf(child.pid!)).toEqual(held)
        } finally {
          child.kill('SIGINT')
          await once(child, 'exit')
        }
        expect(labNamespacesOf(child.pid!)).toEqual([])
      },
    )

    it.runIf(canRun(`nginx: ${nginxUnavailableReason()}`, nginxUnavailableReason() === null))(
      'Ctrl-C during the nginx scenario removes its temp dir (config, pid file), not only the namespaces',
      { timeout: 30_000 },
      async () => {
        // Its own TMPDIR: another run's nginx scenario may be in /tmp at the same time.
        const own = mkdtempSync(path.join(tmpdir(), 'tcp-keepalive-lab-test-'))
        chmodSync(own, 0o755) // nginx's workers run as nobody
        try {
          const script = `require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'lab', 'nginx.js'))}).nginxScenario().run()`
          const child = spawn(process.execPath, ['-e', script], { stdio: 'ignore', env: { ...process.env, TMPDIR: own } })
          while (!readdirSync(own).some((name) => name.startsWith('tcp-keepalive-nginx-'))) {
            await new Promise((resolve) => setTimeout(resolve, 20))
          }
          await new Promise((resolve) => setTimeout(resolve, 500)) // nginx started from it
          child.kill('SIGINT')
          const [code, signal] = await once(child, 'exit')
          expect(signal ?? code).toBe('SIGINT')
          expect(readdirSync(own)).toEqual([])
          expect(labNamespacesOf(child.pid!)).toEqual([])
        } finally {
          rmSync(own, { recursive: true, force: true })
        }
      },
    )
  })
})
