// What happens to idle and busy connections on real (simulated) networks,
// measured. Each scenario builds its own lab, runs peers in it, and reports
// one measurement per connection against a bound derived from the settings.
import { setTimeout as sleep } from 'node:timers/promises'
import { deadPeerDetectionMs } from '../detection.js'
import type { IdleTimeoutReport } from '../idle-timeout.js'
import type { KeepaliveOptions } from '../index.js'
import { hungPeerDataScenario, hungPeerIdleScenario } from './hung-peer.js'
import { httpClientReuseScenario, httpIncidentScenario, httpProxyReuseScenario, type ReuseRace } from './http-scenarios.js'
import { Lab, type Peer } from './lab.js'
import { SLACK_MS, settingsLabel, withLab } from './measure.js'
import { measurePathScenario } from './measure-path.js'
import { nginxScenario } from './nginx.js'
import { lossyLinkScenario } from './lossy-link.js'
import { type Connection, serverSideName } from './peer.js'
import { perHopScenario } from './per-hop.js'

export interface Measurement {
  /** The connection: what it had. */
  label: string
  /** What must happen, in words. */
  expected: string
  /** What happened: an error code, 'received', 'nothing arrived', 'still open', ... */
  outcome: string
  /** From the scenario's reference point (last packet, or the write) to the outcome; null when nothing happened. */
  measuredMs: number | null
  /** The time the outcome must come within, when there is one. */
  boundMs: number | null
  ok: boolean
  /** What TCP_INFO showed along the way (ms from the reference point), where it was watched. */
  timeline?: Array<{ atMs: number; what: string }>
  /** For a group of connections on a lossy link: the fraction dropped, the model's prediction and the bound. */
  falseDrops?: { connections: number; dropped: number; measured: number; predicted: number; low: number; high: number; rounds: number }
  /** For `tcp-keepalive measure` on a lab path: its arguments and its JSON report. */
  measure?: { args: string[]; report: IdleTimeoutReport }
  /** For requests reusing kept-alive connections at swept idle gaps: how many failed, at which gaps, how. */
  reuseRace?: ReuseRace
}

export interface Scenario {
  id: string
  title: string
  /** Roughly how long it runs, for progress displays. */
  expectedMs: number
  /** Builds a lab, runs the peers, tears it all down; one measurement per connection. */
  run(): Promise<Measurement[]>
}

const PORT = 8001
const QUERY_PORT = 8002

function detection(options: KeepaliveOptions): number {
  const { idle = 0, interval = 0, count = 0, userTimeout = 0 } = options
  return deadPeerDetectionMs({ enabled: true, idle, interval, count, userTimeout })!
}

function connectedAt(peer: Peer, name: string): number {
  const connected = peer.find('connected', name)
  if (!connected) throw new Error(`lab: ${name} never connected`)
  return connected.at
}

/** A server that accepts and holds connections (optionally configuring them), and a client host with these connections. */
async function holdingServerAndClient(
  lab: Lab,
  connections: Connection[],
  serverKeepalive?: KeepaliveOptions,
): Promise<{ server: Peer; client: Peer }> {
  const server = await lab.start('server', {
    role: 'server',
    host: lab.serverAddress,
    listeners: [{ port: PORT, mode: 'hold', keepalive: serverKeepalive }],
  })
  const client = await lab.start('client', { role: 'client', host: lab.serverAddress, connections })
  return { server, client }
}

/**
 * 1. A NAT / firewall / LVS forgets flows idle for T seconds. The server
 * sends 2T after the last packet: unprompted (push) or as the answer to a
 * request (a long query). Only connections whose keepalive idle is below T
 * keep the flow in the middlebox's table and receive it.
 */
export function middleboxScenario(forgetAfterSeconds = 3): Scenario {
  const forgetMs = forgetAfterSeconds * 1000
  const lateMs = 2 * forgetMs
  const keepalive: KeepaliveOptions = { idle: 1000, interval: 1000, count: 3 }
  if (keepalive.idle! >= forgetMs) throw new Error('the keepalive idle must be below the middlebox timeout')
  const connections: Connection[] = [
    { name: 'push, no keepalive', port: PORT },
    { name: 'push, keepalive', port: PORT, keepalive },
    { name: 'long query, no keepalive', port: QUERY_PORT, request: 'query\n' },
    { name: 'long query, keepalive', port: QUERY_PORT, request: 'query\n', keepalive },
  ]
  return {
    id: 'middlebox',
    title: `Middlebox forgets flows idle ${forgetAfterSeconds} s; the server sends after ${2 * forgetAfterSeconds} s`,
    expectedMs: lateMs + 2 * SLACK_MS,
    run: () =>
      withLab(new Lab({ forgetIdleFlowsAfterSeconds: forgetAfterSeconds }), async (lab) => {
        const server = await lab.start('server', {
          role: 'server',
          host: lab.serverAddress,
          listeners: [
            { port: PORT, mode: 'push', delayMs: lateMs },
            { port: QUERY_PORT, mode: 'reply', delayMs: lateMs },
          ],
        })
        const client = await lab.start('client', { role: 'client', host: lab.serverAddress, connections })
        await sleep(lateMs + 2 * SLACK_MS) // long enough to see that nothing comes
        const measurements = connections.map(({ name, port, keepalive: options, request }): Measurement => {
          const data = client.find('data', name)
          // Counted from where the server starts its delay: the accept (push) or the request's arrival (reply).
          const onServer = serverSideName(port, client.find('connected', name)!.localPort)
          const start = request === undefined ? server.find('connected', onServer) : server.find('data', onServer)
          const measuredMs = data && start ? data.at - start.at : null
          const boundMs = options ? lateMs + SLACK_MS : null
          return {
            label: `${name} (${settingsLabel(options)})`,
            expected: options ? `arrives after ${lateMs / 1000} s` : 'never arrives: the middlebox forgot the flow',
            outcome: data ? 'received' : 'nothing arrived',
            measuredMs,
            boundMs,
            ok: options ? measuredMs !== null && measuredMs <= boundMs! : data === undefined,
          }
        })
        return measurements
      }),
  }
}

/**
 * 2. The server's link is cut while connections are idle (power loss,
 * cable, crashed VM): no FIN, no RST, no ICMP. Keepalive finds out in
 * idle + interval x count; the kernel defaults take 2 h 11 min.
 */
export function deadPeerScenario(): Scenario {
  const settings: KeepaliveOptions[] = [
    { idle: 1000, interval: 1000, count: 2 },
    { idle: 2000, interval: 1000, count: 3 },
  ]
  const connections: Connection[] = [
    ...settings.map((keepalive) => ({ name: settingsLabel(keepalive), port: PORT, keepalive, watchProbes: true })),
    { name: 'kernel defaults (keepalive on)', port: PORT, keepalive: { enable: true } },
  ]
  const windowMs = Math.max(...settings.map(detection)) + SLACK_MS
  return {
    id: 'dead-peer',
    title: "Dead peer: the server's link is cut while idle",
    expectedMs: windowMs,
    run: () =>
      withLab(new Lab(), async (lab) => {
        const { client } = await holdingServerAndClient(lab, connections)
        lab.cutLink('server')
        const started = Date.now()
        await Promise.race([
          Promise.all(
            settings.map((keepalive) => client.next((e) => e.event === 'error' && e.name === settingsLabel(keepalive), windowMs)),
          ),
          sleep(windowMs),
        ]).catch(() => {})
        await sleep(Math.max(0, started + windowMs - Date.now())) // the control is judged at the end of the window
        return connections.map(({ name, keepalive }): Measurement => {
          const error = client.find('error', name)
          const measuredMs = error ? error.at - connectedAt(client, name) : null
          if (keepalive && 'idle' in keepalive) {
            const expectedMs = detection(keepalive)
            return {
              label: name,
              expected: `ETIMEDOUT after ${expectedMs / 1000} s of silence`,
              outcome: error?.code ?? 'still open',
              measuredMs,
              boundMs: expectedMs + SLACK_MS,
              // Not before the last probe could have gone unanswered: it was keepalive, nothing else.
              ok: error?.code === 'ETIMEDOUT' && measuredMs! <= expectedMs + SLACK_MS && measuredMs! >= expectedMs - keepalive.interval!,
              timeline: probeTimeline(client, name),
            }
          }
          return {
            label: name,
            expected: `still open after ${windowMs / 1000} s (it takes 2 h 11 min)`,
            outcome: error?.code ?? 'still open',
            measuredMs,
            boundMs: null,
            ok: error === undefined,
          }
        })
      }),
  }
}

/** When each keepalive probe went out unanswered (TCP_INFO), and how it ended, from the connection's last packet. */
function probeTimeline(client: Peer, name: string): Array<{ atMs: number; what: string }> {
  const start = connectedAt(client, name)
  const timeline = client.events.flatMap((event) =>
    event.event === 'probes' && event.name === name && event.probes > 0
      ? [{ atMs: event.at - start, what: `probe ${event.probes} sent, unanswered` }]
      : [],
  )
  const error = client.find('error', name)
  if (error) timeline.push({ atMs: error.at - start, what: error.code })
  return timeline
}

/**
 * 3. The server host crashes and comes back with the same address but none
 * of its connections. An idle client learns it from the RST that answers
 * its next keepalive probe, without ever sending data.
 */
export function peerRebootedScenario(): Scenario {
  const keepalive: KeepaliveOptions = { idle: 2000, interval: 1000, count: 10 }
  const name = settingsLabel(keepalive)
  const boundMs = detection(keepalive)
  return {
    id: 'peer-rebooted',
    title: 'Peer rebooted: the server comes back without its connection state',
    expectedMs: keepalive.idle! + SLACK_MS,
    run: () =>
      withLab(new Lab(), async (lab) => {
        const { client } = await holdingServerAndClient(lab, [{ name, port: PORT, keepalive }])
        lab.rebootServer()
        const error = await client.next((e) => e.event === 'error', boundMs + SLACK_MS).catch(() => undefined)
        const measuredMs = error ? error.at - connectedAt(client, name) : null
        const code = error?.event === 'error' ? error.code : 'still open'
        return [
          {
            label: `${name}, no data sent`,
            expected: `ECONNRESET at the first probe after the server is back (idle ${keepalive.idle! / 1000} s)`,
            outcome: code,
            measuredMs,
            boundMs,
            ok: code === 'ECONNRESET' && measuredMs! <= boundMs && client.events.every((e) => e.event !== 'written'),
          },
        ]
      }),
  }
}

/**
 * 4. Data is sent into a cut link. Keepalive does not probe while data is
 * unacknowledged, so only TCP_USER_TIMEOUT bounds how long the sender
 * retransmits (otherwise ~15 min with tcp_retries2 = 15).
 */
export function dataInFlightScenario(userTimeoutMs = 3000): Scenario {
  const keepalive: KeepaliveOptions = { idle: 1000, interval: 1000, count: 2 }
  const withTimeout: KeepaliveOptions = { ...keepalive, userTimeout: userTimeoutMs }
  const connections: Connection[] = [
    { name: settingsLabel(withTimeout), port: PORT, keepalive: withTimeout },
    { name: settingsLabel(keepalive), port: PORT, keepalive },
  ]
  const windowMs = userTimeoutMs + SLACK_MS
  return {
    id: 'data-in-flight',
    title: 'Data in flight on a cut link',
    expectedMs: windowMs,
    run: () =>
      withLab(new Lab(), async (lab) => {
        const { client } = await holdingServerAndClient(lab, connections)
        lab.cutLink('server')
        for (const { name } of connections) client.send({ cmd: 'write', name, data: 'data that will never be acknowledged\n' })
        await Promise.all(connections.map(({ name }) => client.next((e) => e.event === 'written' && e.name === name, 5000)))
        await sleep(windowMs)
        return connections.map(({ name, keepalive: options }): Measurement => {
          const error = client.find('error', name)
          const measuredMs = error ? error.at - client.find('written', name)!.at : null
          if (options?.userTimeout) {
            return {
              label: name,
              expected: `ETIMEDOUT ${userTimeoutMs / 1000} s after the write`,
              outcome: error?.code ?? 'still open',
              measuredMs,
              boundMs: userTimeoutMs + SLACK_MS,
              ok: error?.code === 'ETIMEDOUT' && measuredMs! <= userTimeoutMs + SLACK_MS,
            }
          }
          // ss shows the retransmission timer ("on") rather than keepalive's.
          const retransmitting = !error && /timer:\(on,/.test(lab.ss('client', client.find('connected', name)!.localPort))
          return {
            label: name,
            expected: `still retransmitting after ${windowMs / 1000} s, though idle + interval x count is ${detection(keepalive) / 1000} s`,
            outcome: error?.code ?? (retransmitting ? 'still retransmitting' : 'open, not retransmitting'),
            measuredMs,
            boundMs: null,
            ok: retransmitting,
          }
        })
      }),
  }
}

/**
 * 5. A server that configures its accepted connections notices a client
 * whose link was cut, and frees the connection.
 */
export function serverSideScenario(): Scenario {
  const keepalive: KeepaliveOptions = { idle: 1000, interval: 1000, count: 2 }
  const boundMs = detection(keepalive) + SLACK_MS
  return {
    id: 'server-side',
    title: "Server side: a client's link is cut",
    expectedMs: boundMs,
    run: () =>
      withLab(new Lab(), async (lab) => {
        const { server } = await holdingServerAndClient(lab, [{ name: 'client', port: PORT }], keepalive)
        const accepted = await server.next((e) => e.event === 'connected', 5000)
        const name = (accepted as { name: string }).name
        lab.cutLink('client')
        const closed = await server.next((e) => e.event === 'close' && e.name === name, boundMs + SLACK_MS).catch(() => undefined)
        const error = server.find('error', name)
        const measuredMs = error ? error.at - accepted.at : null
        const open = closed?.event === 'close' ? closed.open : null
        return [
          {
            label: `accepted connection (${settingsLabel(keepalive)})`,
            expected: `ETIMEDOUT after ${detection(keepalive) / 1000} s, connection freed`,
            outcome: error ? `${error.code}, ${open === 0 ? 'freed' : `${open} still open`}` : 'still open',
            measuredMs,
            boundMs,
            ok: error?.code === 'ETIMEDOUT' && measuredMs! <= boundMs && open === 0,
          },
        ]
      }),
  }
}

export function allScenarios(): Scenario[] {
  return [
    middleboxScenario(),
    deadPeerScenario(),
    peerRebootedScenario(),
    dataInFlightScenario(),
    serverSideScenario(),
    // What keepalive cannot see, each in its own file.
    hungPeerIdleScenario(),
    hungPeerDataScenario(),
    perHopScenario(),
    lossyLinkScenario(),
    // The LVS + nginx incident, repaired by tcp-keepalive apply.
    nginxScenario(),
    // Which layer forgets an idle connection, and when: tcp-keepalive measure on four known paths.
    measurePathScenario(),
    // HTTP Keep-Alive is not TCP keepalive: each failure fixed on its own layer.
    httpIncidentScenario(),
    httpProxyReuseScenario(),
    httpClientReuseScenario(),
  ]
}
