// A lossy link: healthy, idle connections dropped by keepalive itself when
// enough probes (or their ACKs) are lost in a row. Measured over many
// connections at once and compared with planKeepalive's model.
import { setTimeout as sleep } from 'node:timers/promises'
import type { KeepaliveOptions } from '../index.js'
import { falseDropModel } from '../plan.js'
import { Lab } from './lab.js'
import { SLACK_MS, settingsLabel, withLab } from './measure.js'
import type { Connection } from './peer.js'
import type { Measurement, Scenario } from './scenarios.js'

const PORT = 8301
/** How far from the prediction a measured fraction may fall: 4.5 binomial standard deviations (two-sided p < 1e-5). */
const Z = 4.5

interface Group {
  name: string
  keepalive?: KeepaliveOptions
  connections: number
}

/**
 * The model's prediction for a group: each round ends in a false drop with q^count, so over n
 * rounds a connection is dropped with 1 - (1 - q^count)^n. n is counted by the kernel: the
 * probes a connection that was never dropped sent while the loss lasted (idle = interval, so
 * one probe a round). The bound: n - 1 to n + 1 rounds (a probe at either edge of the window),
 * widened by Z binomial standard deviations.
 */
export function predictFalseDrops(
  keepalive: KeepaliveOptions | undefined,
  loss: number,
  rounds: number,
  connections: number,
): { predicted: number; low: number; high: number } {
  if (!keepalive) return { predicted: 0, low: 0, high: 0 } // no probes: nothing to lose
  const { idle = 1000, count = 1 } = keepalive
  const { perRound } = falseDropModel({ idle, count, loss })
  const fraction = (n: number) => 1 - (1 - perRound) ** Math.max(0, n)
  const spread = (f: number) => Z * Math.sqrt((f * (1 - f)) / connections)
  const [lowest, highest] = [fraction(rounds - 1), fraction(rounds + 1)]
  return {
    predicted: fraction(rounds),
    low: Math.max(0, lowest - spread(lowest)),
    high: Math.min(1, highest + spread(highest)),
  }
}

/**
 * 9. The router drops a fraction of all packets at random, both ways (nftables
 * `numgen random`; this kernel has no netem), starting once every connection is up.
 * Healthy idle connections with an aggressive setting are dropped by lost probes; the
 * fraction dropped within the window is compared with the model planKeepalive uses.
 */
export function lossyLinkScenario(loss = 0.1, windowMs = 6000): Scenario {
  const groups: Group[] = [
    { name: 'count 1', keepalive: { idle: 1000, interval: 1000, count: 1 }, connections: 200 },
    { name: 'count 2', keepalive: { idle: 1000, interval: 1000, count: 2 }, connections: 200 },
    { name: 'count 8', keepalive: { idle: 1000, interval: 1000, count: 8 }, connections: 100 },
    { name: 'no keepalive', connections: 50 },
  ]
  const connections: Connection[] = groups.map(({ name, keepalive, connections: copies }) => ({ name, port: PORT, keepalive, copies }))
  const percent = Number((loss * 100).toPrecision(6))
  return {
    id: 'lossy-link',
    title: `Lossy link: the router drops ${percent} % of packets at random; ${groups.reduce((n, g) => n + g.connections, 0)} healthy idle connections for ${windowMs / 1000} s`,
    expectedMs: windowMs + 2 * SLACK_MS,
    run: () =>
      withLab(new Lab(), async (lab) => {
        await lab.start('server', { role: 'server', host: lab.serverAddress, listeners: [{ port: PORT, mode: 'hold' }] })
        const client = await lab.start('client', { role: 'client', host: lab.serverAddress, connections })
        const before = lab.segmentsSent('client')
        lab.setLoss(loss)
        await sleep(windowMs)
        const after = lab.segmentsSent('client')
        const { packets, dropped } = lab.lossCounters()
        lab.setLoss(null)
        // Every probe sent under loss has its answer, or its drop, one interval later.
        await sleep(1000 + 300)
        // Rounds under loss: the probes each count-8 connection (never dropped) sent meanwhile; they all connected together.
        const ports = client.events.flatMap((e) => (e.event === 'connected' && e.name.startsWith('count 8 #') ? [e.localPort] : []))
        const sent = ports.map((port) => (after.get(port) ?? NaN) - (before.get(port) ?? NaN)).sort((a, b) => a - b)
        const rounds = sent[Math.floor(sent.length / 2)]
        const pct = (f: number) => `${(f * 100).toFixed(1)} %`
        const lossSeen = `the router dropped ${dropped} of ${packets} packets (${pct(dropped / packets)})`
        return groups.map(({ name, keepalive, connections: total }): Measurement => {
          const errors = client.events.filter((e) => e.event === 'error' && e.name.startsWith(`${name} #`))
          const codes = [...new Set(errors.map((e) => (e.event === 'error' ? e.code : '')))]
          const measured = errors.length / total
          const { predicted, low, high } = predictFalseDrops(keepalive, loss, rounds, total)
          return {
            label: `${name} (${settingsLabel(keepalive)}) x ${total}`,
            expected: keepalive
              ? `model over ${rounds} rounds: ${pct(predicted)} dropped (bound ${pct(low)} - ${pct(high)})`
              : 'none dropped: without probes there is nothing to lose',
            outcome: `${errors.length} of ${total} dropped (${pct(measured)})${codes.length ? `, ${codes.join(', ')}` : ''}; ${lossSeen}`,
            measuredMs: null,
            boundMs: null,
            ok: Number.isInteger(rounds) && measured >= low && measured <= high && codes.every((code) => code === 'ETIMEDOUT'),
            falseDrops: { connections: total, dropped: errors.length, measured, predicted, low, high, rounds },
          }
        })
      }),
  }
}
