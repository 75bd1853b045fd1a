// Keepalive is per hop: a proxy that terminates TCP answers the client's
// probes itself, so they never reach the flow behind it.
import { setTimeout as sleep } from 'node:timers/promises'
import type { KeepaliveOptions } from '../index.js'
import { Lab } from './lab.js'
import { findEvent, SLACK_MS, settingsLabel, withLab } from './measure.js'
import { type Connection, serverSideName } from './peer.js'
import type { Measurement, Scenario } from './scenarios.js'

const SERVER_PORT = 8201
const PLAIN_PROXY_PORT = 9001
const PRELOADED_PROXY_PORT = 9002
/** The proxy's TCP_KEEPALIVE: the same settings the client's own socket gets. */
const PRELOAD = 'idle=1s interval=1s count=3'

/**
 * 8. client -> TCP proxy (its own host) -> a middlebox that forgets flows idle T -> server,
 * which answers a request 2T later. Keepalive on the client's socket keeps only the client ->
 * proxy hop alive (the proxy's kernel answers its probes); the proxy -> server flow is
 * forgotten and the answer never comes. The preload on the proxy process alone
 * (`--require tcp-keepalive/register`, TCP_KEEPALIVE), no code change, keeps it; so does an
 * application heartbeat, whose pings cross every hop.
 */
export function perHopScenario(forgetAfterSeconds = 2): Scenario {
  const forgetMs = forgetAfterSeconds * 1000
  const lateMs = 2 * forgetMs
  const keepalive: KeepaliveOptions = { idle: 1000, interval: 1000, count: 3 }
  if (keepalive.idle! >= forgetMs) throw new Error('the keepalive idle must be below the middlebox timeout')
  const names = {
    none: 'through the proxy, no keepalive anywhere',
    client: `through the proxy, keepalive on the client's socket only (${settingsLabel(keepalive)})`,
    preload: `through the proxy under the preload (TCP_KEEPALIVE="${PRELOAD}"), none on the client`,
    heartbeat: 'through the proxy, an application heartbeat every 500 ms, no keepalive',
  }
  const request = 'query\n'
  const connections: Connection[] = [
    { name: names.none, port: PLAIN_PROXY_PORT, request },
    { name: names.client, port: PLAIN_PROXY_PORT, request, keepalive },
    { name: names.preload, port: PRELOADED_PROXY_PORT, request },
    { name: names.heartbeat, port: PLAIN_PROXY_PORT, request, heartbeat: { intervalMs: 500, deadlineMs: 1000 } },
  ]
  const boundMs = lateMs + SLACK_MS
  return {
    id: 'per-hop',
    title: `Keepalive is per hop: client -> proxy -> middlebox forgetting flows idle ${forgetAfterSeconds} s -> server answering after ${lateMs / 1000} s`,
    expectedMs: lateMs + 4 * SLACK_MS, // the wait, and starting four programs on three hosts
    run: () =>
      withLab(new Lab({ forgetIdleFlowsAfterSeconds: forgetAfterSeconds, proxy: true }), async (lab) => {
        const server = await lab.start('server', {
          role: 'server',
          host: lab.serverAddress,
          listeners: [{ port: SERVER_PORT, mode: 'reply', delayMs: lateMs }],
        })
        const upstream = { host: lab.serverAddress, port: SERVER_PORT }
        const plain = await lab.start('proxy', { role: 'proxy', host: lab.proxyAddress, proxies: [{ port: PLAIN_PROXY_PORT, upstream }] })
        const preloaded = await lab.start(
          'proxy',
          { role: 'proxy', host: lab.proxyAddress, proxies: [{ port: PRELOADED_PROXY_PORT, upstream }] },
          { preload: PRELOAD },
        )
        const client = await lab.start('client', { role: 'client', host: lab.proxyAddress, connections })
        await sleep(lateMs + 2 * SLACK_MS) // long enough to see that nothing comes

        return connections.map(({ name, port, keepalive: options }): Measurement => {
          const proxy = port === PLAIN_PROXY_PORT ? plain : preloaded
          const clientPort = findEvent(client, 'connected', name)!.localPort
          // The proxy's connection to the server for this client, and the request's arrival there.
          const upstreamPort = findEvent(proxy, 'connected', `upstream of ${serverSideName(port, clientPort)}`)?.localPort
          const onServer = upstreamPort === undefined ? undefined : serverSideName(SERVER_PORT, upstreamPort)
          const asked = onServer === undefined ? undefined : findEvent(server, 'data', onServer, (e) => e.text.includes('query'))
          const answer = findEvent(client, 'data', name, (e) => e.text.includes('reply'))
          const measuredMs = answer && asked ? answer.at - asked.at : null
          // The kernel as oracle: is a keepalive timer armed on each hop's socket?
          const timer = (text: string) => /timer:\(keepalive,/.test(text)
          const clientHop = timer(lab.ss('client', clientPort))
          const proxyHop = upstreamPort !== undefined && timer(lab.ss('proxy', upstreamPort))
          const hops = `keepalive timer on the client's socket: ${clientHop ? 'yes' : 'no'}, on the proxy's upstream socket: ${proxyHop ? 'yes' : 'no'}`
          const arrives = name === names.preload || name === names.heartbeat
          return {
            label: name,
            expected: arrives
              ? `the answer arrives after ${lateMs / 1000} s`
              : 'the answer never arrives: the middlebox forgot the proxy -> server flow',
            outcome: `${answer ? 'received' : 'nothing arrived'} (${hops})`,
            measuredMs,
            boundMs: arrives ? boundMs : null,
            ok:
              (arrives ? measuredMs !== null && measuredMs >= lateMs && measuredMs <= boundMs : answer === undefined) &&
              clientHop === (options !== undefined) &&
              proxyHop === (name === names.preload),
          }
        })
      }),
  }
}
