// `plan` across layers: presets with their kind and source, planLayers, and
// everything `plan` prints for the user to run, run: the configureKeepalive
// line and the TCP_KEEPALIVE line on real sockets, the sysctl lines in a
// throwaway network namespace, the Kubernetes block parsed and checked against
// the safe sysctls, and the HTTP server and client settings on real connections.
import { spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import { release } from 'node:os'
import path from 'node:path'
import { Agent as UndiciAgent, request as undiciRequest } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { parseSsDuration } from '../lib/cli/ss.js'
import { inNamespace, ip, labUnavailableReason } from '../lib/lab/netns.js'
import { IDLE_TIMEOUT_PRESETS, planKeepalive, planLayers, tcpKeepaliveLine } from '../lib/index.js'
import { expectOneLineFailure, root, run } from './cli-run.js'
import { canRun, closeAll, hasCommand, listen, tempDir } from './helpers.js'

afterEach(closeAll)

const dist = path.join(root, 'dist', 'index.js')

/** The lines of `plan`'s text output that start with `prefix`. */
function printed(stdout: string, prefix: string): string {
  const line = stdout.split('\n').find((candidate) => candidate.startsWith(prefix))
  if (!line) throw new Error(`plan printed no line starting with ${prefix}:\n${stdout}`)
  return line
}

/** The object literal inside a printed line, `{ keepAliveTimeout: 65000, ... }`, as an object. */
function literalOf(line: string): Record<string, number | boolean> {
  return JSON.parse(/\{.*\}/.exec(line)![0].replace(/(\w+):/g, '"$1":'))
}

function planJson(args: string[]) {
  const { code, stdout, stderr } = run(['plan', ...args, '--json'])
  expect({ code, stderr }).toEqual({ code: 0, stderr: '' })
  return JSON.parse(stdout)
}

describe('presets', () => {
  it('each names its kind and the vendor page its figure comes from', () => {
    for (const [name, { idleTimeout, kind, what, source }] of Object.entries(IDLE_TIMEOUT_PRESETS)) {
      expect(['tcp', 'http'], name).toContain(kind)
      expect(source, name).toMatch(/^https:\/\/(docs\.aws\.amazon\.com|cloud\.google\.com|learn\.microsoft\.com|docs\.kernel\.org)\//)
      expect(what.length, name).toBeGreaterThan(10)
      expect(Number.isInteger(idleTimeout) && idleTimeout >= 60_000, name).toBe(true)
    }
    expect(IDLE_TIMEOUT_PRESETS['aws-alb']).toMatchObject({ idleTimeout: 60_000, kind: 'http' })
    expect(IDLE_TIMEOUT_PRESETS['gcp-external-http-lb']).toMatchObject({ idleTimeout: 600_000, kind: 'http' })
    expect(IDLE_TIMEOUT_PRESETS['gcp-cloud-nat']).toMatchObject({ idleTimeout: 1_200_000, kind: 'tcp' })
    expect(IDLE_TIMEOUT_PRESETS['linux-conntrack']).toMatchObject({ idleTimeout: 432_000_000, kind: 'tcp' })
    // The old name keeps working, and says what its figure is.
    const { what, ...figures } = IDLE_TIMEOUT_PRESETS['gcp-lb']
    const { what: firewall, ...same } = IDLE_TIMEOUT_PRESETS['gcp-vpc-firewall']
    expect(figures).toEqual(same)
    expect(what).toBe(`${firewall}; 'gcp-lb' is its old name`)
  })
})

describe('planLayers', () => {
  it('a TCP box: TCP keepalive as planKeepalive plans it, and the HTTP timeouts around its idle', () => {
    const planned = planLayers({ behind: 'aws-nlb', detectWithin: 120_000 })
    expect(planned.tcp).toEqual(planKeepalive({ idleTimeout: 350_000, detectWithin: 120_000 }))
    expect(planned).toMatchObject({
      box: { name: 'aws-nlb', kind: 'tcp', idleTimeout: 350_000 },
      tcpKeepaliveHelps: true,
      httpServer: { keepAliveTimeout: 355_000, headersTimeout: 356_000, requestTimeout: 356_000 },
      httpClient: { idleSocketTimeout: 345_000 },
    })
  })

  it('an HTTP box: no TCP plan from its idle (probes carry no data), and says a long request needs bytes flowing', () => {
    const planned = planLayers({ behind: 'aws-alb' })
    expect(planned).toMatchObject({
      tcp: null,
      tcpKeepaliveHelps: false,
      httpServer: { keepAliveTimeout: 65_000, headersTimeout: 66_000, requestTimeout: 300_000 },
      httpClient: { idleSocketTimeout: 55_000 },
    })
    expect(planned.notes.join('\n')).toContain('TCP keepalive does not keep its connections open')
    expect(planned.notes.join('\n')).toMatch(/longer than 60 s .*streamed response, SSE comments, WebSocket pings/)
    // With a detection bound, TCP keepalive is planned for finding a dead peer only.
    expect(planLayers({ behind: 'aws-alb', detectWithin: 60_000 }).tcp).toEqual(planKeepalive({ detectWithin: 60_000 }))
  })

  it('every preset: server timeouts above its idle, within Node rule; clients below it', () => {
    for (const [name, { idleTimeout, kind }] of Object.entries(IDLE_TIMEOUT_PRESETS)) {
      const { httpServer, httpClient, tcp } = planLayers({ behind: name as keyof typeof IDLE_TIMEOUT_PRESETS })
      expect(httpServer!.keepAliveTimeout, name).toBeGreaterThan(idleTimeout)
      expect(httpServer!.headersTimeout, name).toBeGreaterThan(httpServer!.keepAliveTimeout)
      expect(httpServer!.requestTimeout, name).toBeGreaterThanOrEqual(httpServer!.headersTimeout)
      expect(httpClient!.idleSocketTimeout, name).toBeLessThan(idleTimeout)
      expect(tcp === null, name).toBe(kind === 'http')
    }
  })

  it('refuses a bad box with the codes Node uses', () => {
    const fails = (behind: unknown, code: string, message: string | RegExp) => {
      const matches = typeof message === 'string' ? expect.stringContaining(message) : expect.stringMatching(message)
      expect(() => planLayers({ behind: behind as never })).toThrow(expect.objectContaining({ code, message: matches }))
    }
    fails(
      'aws',
      'ERR_INVALID_ARG_VALUE',
      /^The "request\.behind" property is not a preset; presets are aws-nlb, aws-alb, .*, gcp-lb\. Received 'aws'$/,
    )
    fails(350, 'ERR_INVALID_ARG_TYPE', 'a preset name (string) or an object { idleTimeout, kind }')
    fails({ idleTimeout: '60s' }, 'ERR_INVALID_ARG_TYPE', '"request.behind.idleTimeout" property must be of type number')
    fails({ idleTimeout: 1_000 }, 'ERR_OUT_OF_RANGE', '>= 2000 (ms) and finite')
    fails({ idleTimeout: 60_000, kind: 'udp' }, 'ERR_INVALID_ARG_VALUE', "must be 'tcp' or 'http'")
    expect(() => planLayers({})).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }))
  })

  it('tcpKeepaliveLine is the line plan prints', () => {
    const { stdout } = run(['plan', '--behind', 'aws-nat-gateway'])
    expect(printed(stdout, 'TCP_KEEPALIVE=')).toBe(tcpKeepaliveLine(planLayers({ behind: 'aws-nat-gateway' }).tcp!))
  })
})

describe('tcp-keepalive plan across layers', () => {
  it('--json adds the layers beside the keys it had', () => {
    const plan = planJson(['--behind', 'aws-nlb', '--detect-within', '2m'])
    expect(Object.keys(plan)).toEqual([
      'middlebox',
      'options',
      'detection',
      'falseDrops',
      'reasoning',
      'box',
      'tcpKeepaliveHelps',
      'httpServer',
      'httpClient',
      'notes',
    ])
    expect(plan).toMatchObject({
      middlebox: IDLE_TIMEOUT_PRESETS['aws-nlb'].what,
      options: { idle: 60_000, interval: 20_000, count: 3, userTimeout: 120_000 },
      box: { name: 'aws-nlb', kind: 'tcp', idleTimeout: 350_000, source: IDLE_TIMEOUT_PRESETS['aws-nlb'].source },
      tcpKeepaliveHelps: true,
      httpServer: { keepAliveTimeout: 355_000, headersTimeout: 356_000 },
      httpClient: { idleSocketTimeout: 345_000 },
    })
    // --preset is --behind; --idle-timeout with --layer http is an HTTP box of that idle.
    expect(planJson(['--preset', 'aws-nlb', '--detect-within', '2m'])).toEqual(plan)
    expect(planJson(['--idle-timeout', '60s', '--layer', 'http'])).toMatchObject({
      middlebox: null,
      options: null,
      box: { name: null, kind: 'http', idleTimeout: 60_000, source: null },
      tcpKeepaliveHelps: false,
      httpServer: { keepAliveTimeout: 65_000, headersTimeout: 66_000, requestTimeout: 300_000 },
      httpClient: { idleSocketTimeout: 55_000 },
    })
    // Without a box there is no layer to plan for.
    expect(planJson(['--detect-within', '1m'])).toMatchObject({ box: null, tcpKeepaliveHelps: null, httpServer: null, notes: [] })
  })

  it('an HTTP box: says plainly that TCP keepalive does not keep it open, and prints no TCP settings', () => {
    const { code, stdout } = run(['plan', '--behind', 'aws-alb'])
    expect(code).toBe(0)
    expect(stdout).toContain(IDLE_TIMEOUT_PRESETS['aws-alb'].source)
    expect(stdout).toContain('so TCP keepalive does not keep its connections open')
    expect(stdout).toContain('A request that runs longer than 60 s without a byte is cut by the box')
    expect(stdout).not.toContain('TCP_KEEPALIVE=')
    expect(printed(stdout, 'http.createServer(')).toBe(
      'http.createServer({ keepAliveTimeout: 65000, headersTimeout: 66000, requestTimeout: 300000 })',
    )
    expect(printed(stdout, 'new http.Agent(')).toBe('new http.Agent({ keepAlive: true, timeout: 55000 })')
    expect(printed(stdout, 'new undici.Agent(')).toBe('new undici.Agent({ keepAliveTimeout: 55000, keepAliveMaxTimeout: 55000 })')
  })

  it('wrong arguments: exit 2 with one line', () => {
    expectOneLineFailure(run(['plan', '--behind', 'aws']), 2, /unknown preset 'aws'; presets: aws-nlb, aws-alb, /)
    expectOneLineFailure(
      run(['plan', '--behind', 'aws-nlb', '--idle-timeout', '1m']),
      2,
      'give one of --behind, --preset or --idle-timeout',
    )
    expectOneLineFailure(run(['plan', '--behind', 'aws-nlb', '--layer', 'http']), 2, '--layer goes with --idle-timeout')
    expectOneLineFailure(run(['plan', '--idle-timeout', '1m', '--layer', 'udp']), 2, "--layer takes tcp or http, got 'udp'")
    expectOneLineFailure(run(['plan', '--behind', 'aws-nlb', '--format', 'yaml']), 2, "--format takes sysctl or kubernetes, got 'yaml'")
    expectOneLineFailure(run(['plan', '--behind', 'aws-nlb', '--format', 'sysctl', '--json']), 2, 'give --json or --format, not both')
    expectOneLineFailure(
      run(['plan', '--behind', 'aws-alb', '--format', 'sysctl']),
      2,
      "TCP keepalive does not keep an HTTP box's connections open: give --detect-within",
    )
  })
})

describe('what plan prints, run', () => {
  const args = ['--behind', 'aws-nlb', '--detect-within', '2m']
  const expected = { enabled: true, idle: 60_000, interval: 20_000, count: 3, userTimeout: 120_000 }

  /** Runs `script` in a child Node (with `flags` before it), where `connected(socket)` is called on a connected client; returns what it printed. */
  function inChild(script: string, env: NodeJS.ProcessEnv = {}, flags: string[] = []) {
    const wrapper = `
      const net = require('node:net')
      const { configureKeepalive, readKeepalive } = require(${JSON.stringify(dist)})
      const server = net.createServer().listen(0, '127.0.0.1', () => {
        const socket = net.connect(server.address().port, '127.0.0.1')
        ${script}
        socket.on('connect', () => { console.log(JSON.stringify(readKeepalive(socket))); process.exit(0) })
      })`
    const child = spawnSync(process.execPath, [...flags, '-e', wrapper], { encoding: 'utf8', env: { ...process.env, ...env } })
    expect(child.stderr).toBe('')
    return JSON.parse(child.stdout)
  }

  it('the configureKeepalive line, on a real socket', () => {
    const line = printed(run(['plan', ...args]).stdout, 'configureKeepalive(socket, ')
    expect(inChild(line)).toEqual(expected)
  })

  it('the TCP_KEEPALIVE line, under the preload on a real socket', () => {
    const value = /^TCP_KEEPALIVE="(.+)"$/.exec(printed(run(['plan', ...args]).stdout, 'TCP_KEEPALIVE='))![1]
    expect(inChild('', { TCP_KEEPALIVE: value }, ['--require', path.join(root, 'dist', 'register.js')])).toEqual(expected)
  })

  const lab = labUnavailableReason()
  it.skipIf(!canRun(`a network namespace: ${lab}`, lab === null))(
    '--format sysctl: sysctl -p in a throwaway network namespace; a socket that only enables SO_KEEPALIVE there holds them',
    () => {
      const { code, stdout } = run(['plan', ...args, '--format', 'sysctl'])
      expect(code).toBe(0)
      const file = path.join(tempDir('tcp-keepalive-sysctl-'), '60-tcp-keepalive.conf')
      writeFileSync(file, stdout)
      const host = readFileSync('/proc/sys/net/ipv4/tcp_keepalive_time', 'utf8')
      const namespace = `tkp${process.pid}`
      ip('netns', 'add', namespace)
      try {
        inNamespace(namespace, ['ip', 'link', 'set', 'lo', 'up'])
        const applied = spawnSync('ip', ['netns', 'exec', namespace, 'sysctl', '-p', file], { encoding: 'utf8' })
        expect({ status: applied.status, stderr: applied.stderr }).toEqual({ status: 0, stderr: '' })
        const script = `
          const net = require('node:net')
          const { configureKeepalive, readKeepalive } = require(${JSON.stringify(dist)})
          const server = net.createServer().listen(0, '127.0.0.1', () => {
            const socket = configureKeepalive(net.connect(server.address().port, '127.0.0.1'), { enable: true })
            socket.on('connect', () => {
              const ss = require('node:child_process').execFileSync('ss', ['-tnoiH', 'sport = :' + socket.localPort], { encoding: 'utf8' })
              console.log(JSON.stringify({ keepalive: readKeepalive(socket), ss }))
              process.exit(0)
            })
          })`
        const { keepalive, ss } = JSON.parse(inNamespace(namespace, [process.execPath, '-e', script]))
        expect(keepalive).toEqual({ ...expected, userTimeout: 0 }) // the sysctls have no TCP_USER_TIMEOUT: the kernel default
        const remaining = parseSsDuration(/timer:\(keepalive,([^,]+),/.exec(ss)![1]) // an independent reader: ss
        expect(remaining).toBeLessThanOrEqual(60_000)
        expect(remaining).toBeGreaterThan(50_000)
      } finally {
        ip('netns', 'delete', namespace)
      }
      expect(readFileSync('/proc/sys/net/ipv4/tcp_keepalive_time', 'utf8')).toBe(host) // the host's own are untouched
    },
  )

  const yaml = hasCommand('python3') && spawnSync('python3', ['-c', 'import yaml']).status === 0
  it.skipIf(!canRun('python3 with PyYAML (apt-get install python3-yaml)', yaml))(
    "--format kubernetes: a pod's securityContext.sysctls, all on Kubernetes' safe list, with the same TCP plan",
    () => {
      const { code, stdout } = run(['plan', ...args, '--format', 'kubernetes'])
      expect(code).toBe(0)
      const parsed = spawnSync('python3', ['-c', 'import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))'], {
        input: stdout,
        encoding: 'utf8',
      })
      expect(parsed.status).toBe(0)
      // The safe set of Kubernetes 1.32 (kubernetes.io/docs/tasks/administer-cluster/sysctl-cluster/); the three
      // tcp_keepalive ones since 1.29, namespaced since Linux 4.5.
      const safe = [
        'kernel.shm_rmid_forced',
        'net.ipv4.ip_local_port_range',
        'net.ipv4.tcp_syncookies',
        'net.ipv4.ping_group_range',
        'net.ipv4.ip_unprivileged_port_start',
        'net.ipv4.ip_local_reserved_ports',
        'net.ipv4.tcp_keepalive_time',
        'net.ipv4.tcp_fin_timeout',
        'net.ipv4.tcp_keepalive_intvl',
        'net.ipv4.tcp_keepalive_probes',
        'net.ipv4.tcp_rmem',
        'net.ipv4.tcp_wmem',
      ]
      const { securityContext } = JSON.parse(parsed.stdout)
      expect(Object.keys(securityContext)).toEqual(['sysctls'])
      expect(securityContext.sysctls).toEqual([
        { name: 'net.ipv4.tcp_keepalive_time', value: '60' },
        { name: 'net.ipv4.tcp_keepalive_intvl', value: '20' },
        { name: 'net.ipv4.tcp_keepalive_probes', value: '3' },
      ])
      for (const { name } of securityContext.sysctls) expect(safe).toContain(name)
      const [major, minor] = release().split('.').map(Number)
      expect(major > 4 || (major === 4 && minor >= 5)).toBe(true) // where they are namespaced
    },
  )

  it('every preset: Node accepts the printed server options', () => {
    for (const name of Object.keys(IDLE_TIMEOUT_PRESETS)) {
      const options = literalOf(printed(run(['plan', '--behind', name]).stdout, 'http.createServer('))
      const server = http.createServer(options) // throws ERR_OUT_OF_RANGE if headersTimeout > requestTimeout
      expect({ name, ...server }).toMatchObject({ name, ...options })
    }
  })

  it(
    'behind an HTTP box of 3 s: the printed server keeps an idle connection past 3 s, the printed clients close theirs before',
    { timeout: 20_000 },
    async () => {
      const { stdout } = run(['plan', '--idle-timeout', '3s', '--layer', 'http'])
      const serverOptions = literalOf(printed(stdout, 'http.createServer('))
      expect(serverOptions).toEqual({ keepAliveTimeout: 4_500, headersTimeout: 5_500, requestTimeout: 300_000 })
      const server = await listen(http.createServer(serverOptions, (_request, response) => response.end('ok')))
      // When each side closes an idle connection, seen from the other: the time from the answer to the FIN.
      const finAfter = (socket: net.Socket, since: () => number) =>
        new Promise<number>((resolve) => socket.once('end', () => resolve(Date.now() - since())))

      // The server: a raw client asks once, then stays idle until the server closes.
      const raw = net.connect(server.port, '127.0.0.1')
      raw.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n')
      await once(raw, 'data')
      const answered = Date.now()
      const serverClosed = await finAfter(raw, () => answered)
      raw.destroy()
      console.log(`printed server (keepAliveTimeout 4.5 s) closed an idle connection after ${serverClosed} ms`)
      expect(serverClosed).toBeGreaterThan(3_000) // never before the box: it closes first
      expect(serverClosed).toBeLessThanOrEqual(4_500 + 1_000 + 1_000) // Node 20.20 and later close 1 s after keepAliveTimeout

      // The clients: a pooled socket idle after one request is closed by the client, before the box's 3 s.
      const agentOptions = literalOf(printed(stdout, 'new http.Agent('))
      const undiciOptions = literalOf(printed(stdout, 'new undici.Agent('))
      expect(agentOptions).toEqual({ keepAlive: true, timeout: 1_500 })
      expect(undiciOptions).toEqual({ keepAliveTimeout: 1_500, keepAliveMaxTimeout: 1_500 })
      const clientCloses = async (ask: () => Promise<void>) => {
        const accepted = once(server, 'connection') as Promise<[net.Socket]>
        await ask()
        const answeredAt = Date.now()
        return finAfter((await accepted)[0], () => answeredAt)
      }
      const agent = new http.Agent(agentOptions)
      const viaAgent = await clientCloses(async () => {
        const [response] = (await once(http.get({ port: server.port, host: '127.0.0.1', agent }), 'response')) as [http.IncomingMessage]
        response.resume()
        await once(response, 'end')
      })
      agent.destroy()
      const dispatcher = new UndiciAgent(undiciOptions as never)
      const viaUndici = await clientCloses(async () => {
        await (await undiciRequest(`http://127.0.0.1:${server.port}/`, { dispatcher })).body.text()
      })
      await dispatcher.close()
      console.log(`printed clients closed their idle pooled socket after ${viaAgent} ms (http.Agent), ${viaUndici} ms (undici)`)
      for (const closed of [viaAgent, viaUndici]) {
        expect(closed).toBeGreaterThanOrEqual(1_000)
        expect(closed).toBeLessThan(3_000) // before the box forgets or closes it
      }
    },
  )
})
