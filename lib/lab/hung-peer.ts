// A peer whose process hangs (SIGSTOP: a deadlock, a GC pause that never
// ends, a VM frozen by its hypervisor) while its kernel carries on: it still
// answers keepalive probes and ACKs data until its receive buffer is full.
import { release } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import { deadPeerDetectionMs } from '../detection.js'
import type { KeepaliveOptions } from '../index.js'
import { Lab } from './lab.js'
import { findEvent, SLACK_MS, settingsLabel, withLab } from './measure.js'
import type { Connection } from './peer.js'
import type { Scenario } from './scenarios.js'

const HUNG_PORT = 8101
const LIVE_PORT = 8102
const KEEPALIVE: KeepaliveOptions = { idle: 1000, interval: 1000, count: 2 }
const KEEPALIVE_MS = deadPeerDetectionMs({ enabled: true, idle: 1000, interval: 1000, count: 2, userTimeout: 0 })!

/** A hung server and a live one, each its own process on the server host; the client connects to both. */
async function hungAndLive(lab: Lab, mode: 'reply' | 'sink', connections: Connection[]) {
  const hung = await lab.start('server', { role: 'server', host: lab.serverAddress, listeners: [{ port: HUNG_PORT, mode }] })
  const live = await lab.start('server', { role: 'server', host: lab.serverAddress, listeners: [{ port: LIVE_PORT, mode }] })
  const client = await lab.start('client', { role: 'client', host: lab.serverAddress, connections })
  return { hung, live, client }
}

/**
 * 6. The server process hangs while its connections are idle. Its kernel answers every
 * keepalive probe, so keepalive never notices; an application heartbeat (a ping that must
 * be answered within a deadline) does.
 */
export function hungPeerIdleScenario(): Scenario {
  const heartbeat = { intervalMs: 500, deadlineMs: 1000 }
  const names = {
    keepalive: `hung server, ${settingsLabel(KEEPALIVE)}`,
    heartbeat: `hung server, heartbeat every ${heartbeat.intervalMs} ms, deadline ${heartbeat.deadlineMs} ms`,
    control: `live server, heartbeat every ${heartbeat.intervalMs} ms, deadline ${heartbeat.deadlineMs} ms`,
  }
  const connections: Connection[] = [
    { name: names.keepalive, port: HUNG_PORT, keepalive: KEEPALIVE, watchProbes: true },
    { name: names.heartbeat, port: HUNG_PORT, keepalive: KEEPALIVE, heartbeat },
    { name: names.control, port: LIVE_PORT, keepalive: KEEPALIVE, heartbeat },
  ]
  // Long enough for keepalive to have given up, with a margin, had the probes gone unanswered.
  const windowMs = KEEPALIVE_MS + SLACK_MS
  const heartbeatBoundMs = heartbeat.intervalMs + heartbeat.deadlineMs + SLACK_MS
  return {
    id: 'hung-peer-idle',
    title: 'Hung peer, idle: the server process is stopped, its kernel still answers',
    expectedMs: windowMs + SLACK_MS,
    run: () =>
      withLab(new Lab(), async (lab) => {
        const { hung, client } = await hungAndLive(lab, 'reply', connections)
        await sleep(heartbeat.intervalMs * 2) // heartbeats answered before the hang
        hung.signal('SIGSTOP')
        const stoppedAt = Date.now()
        await sleep(windowMs)
        const sinceStop = (at: number | undefined) => (at === undefined ? null : at - stoppedAt)

        const kept = findEvent(client, 'error', names.keepalive)
        // TCP_INFO, polled every 20 ms, can catch a probe in flight (probes 1 until its ACK is in, microseconds later):
        // unanswered is a probe still outstanding 500 ms on, which on a dead link lasts the whole interval.
        const probeEvents = client.events.filter((e) => e.event === 'probes' && e.name === names.keepalive)
        const inFlight = probeEvents.filter((e) => e.event === 'probes' && e.probes > 0).length
        const judgedAt = Date.now() // a probe caught in the last 500 ms is judged by ss's lastack below
        const unanswered = probeEvents.filter(
          (e) =>
            e.event === 'probes' &&
            e.probes > 0 &&
            e.at <= judgedAt - 500 &&
            !probeEvents.some((later) => later.event === 'probes' && later.probes === 0 && later.at >= e.at && later.at - e.at <= 500),
        )
        // ss: the hung server's kernel ACKs every probe (lastack recent), while no data has come for the whole window.
        const ss = kept ? '' : lab.ss('client', findEvent(client, 'connected', names.keepalive)!.localPort)
        const lastAckMs = Number(/lastack:(\d+)/.exec(ss)?.[1] ?? NaN)
        const lastDataMs = Number(/lastrcv:(\d+)/.exec(ss)?.[1] ?? NaN)
        const probesAnswered = /timer:\(keepalive,/.test(ss) && lastAckMs <= KEEPALIVE.idle! + 500 && lastDataMs >= windowMs
        const noticed = findEvent(client, 'error', names.heartbeat)
        const controlError = findEvent(client, 'error', names.control)
        const pongsAfterStop = client.events.filter(
          (e) => e.event === 'data' && e.name === names.control && e.text.includes('pong') && e.at > stoppedAt,
        ).length
        return [
          {
            label: names.keepalive,
            expected: `still open ${windowMs / 1000} s after the hang (idle + interval x count is ${KEEPALIVE_MS / 1000} s): every probe answered`,
            outcome: kept
              ? kept.code
              : `still open, ${unanswered.length === 0 ? 'no probe unanswered' : `${unanswered.length} probes unanswered`}` +
                (inFlight - unanswered.length > 0 ? `, ${inFlight - unanswered.length} caught in flight and answered` : '') +
                ' ' +
                `(last ACK ${lastAckMs} ms ago, last data ${lastDataMs} ms ago)`,
            measuredMs: sinceStop(kept?.at),
            boundMs: null,
            ok: kept === undefined && unanswered.length === 0 && probesAnswered,
          },
          {
            label: names.heartbeat,
            expected: `HEARTBEAT_TIMEOUT within interval + deadline + 1 s = ${heartbeatBoundMs / 1000} s of the hang`,
            outcome: noticed?.code ?? 'still open',
            measuredMs: sinceStop(noticed?.at),
            boundMs: heartbeatBoundMs,
            ok: noticed?.code === 'HEARTBEAT_TIMEOUT' && noticed.at > stoppedAt && noticed.at - stoppedAt <= heartbeatBoundMs,
          },
          {
            label: names.control,
            expected: `still open, pongs keep coming for ${windowMs / 1000} s`,
            outcome: controlError?.code ?? `still open, ${pongsAfterStop} pongs`,
            measuredMs: null,
            boundMs: null,
            ok: controlError === undefined && pongsAfterStop >= Math.floor(windowMs / heartbeat.intervalMs / 2), // at least half: a busy machine
          },
        ]
      }),
  }
}

/**
 * 7. The server process hangs while the client is sending: the server's kernel ACKs until its
 * receive buffer is full, then advertises a zero window. The client probes the window for ever
 * (RFC 1122: as long as the peer answers); keepalive does not probe while data is queued. Only
 * TCP_USER_TIMEOUT ends it, and on a closed window only since Linux 5.11.
 */
export function hungPeerDataScenario(userTimeoutMs = 3000): Scenario {
  const bounded: KeepaliveOptions = { ...KEEPALIVE, userTimeout: userTimeoutMs }
  const names = {
    bounded: `hung server, ${settingsLabel(bounded)}`,
    keepalive: `hung server, ${settingsLabel(KEEPALIVE)}`,
    control: `live server, ${settingsLabel(bounded)}`,
  }
  const connections: Connection[] = [
    { name: names.bounded, port: HUNG_PORT, keepalive: bounded, watchProbes: true },
    { name: names.keepalive, port: HUNG_PORT, keepalive: KEEPALIVE, watchProbes: true },
    { name: names.control, port: LIVE_PORT, keepalive: bounded },
  ]
  const bytes = 8 * 1024 * 1024 // more than the server's receive buffer and the client's send buffer together
  const boundMs = userTimeoutMs + SLACK_MS
  const kernel = release()
  return {
    id: 'hung-peer-data',
    title: `Hung peer, data in flight: the server process is stopped while the client sends (Linux ${kernel})`,
    expectedMs: boundMs + SLACK_MS,
    run: () =>
      withLab(new Lab(), async (lab) => {
        const { hung, client } = await hungAndLive(lab, 'sink', connections)
        hung.signal('SIGSTOP')
        for (const { name } of connections) client.send({ cmd: 'flood', name, bytes })
        // The window closes: the client starts probing it (TCP_INFO backoff > 0).
        const stalls = await Promise.all(
          [names.bounded, names.keepalive].map((name) =>
            client.next((e) => e.event === 'backoff' && e.name === name && e.backoff > 0, 5000).catch(() => undefined),
          ),
        )
        const lastStall = Math.max(...stalls.map((stall) => stall?.at ?? Date.now()))
        await sleep(Math.max(0, lastStall + boundMs + 300 - Date.now())) // the bounded one is gone by now; the other is not

        const stalledAt = (name: string) => findEvent(client, 'backoff', name, (e) => e.backoff > 0)?.at
        const error = findEvent(client, 'error', names.bounded)
        const measuredMs = error && stalledAt(names.bounded) !== undefined ? error.at - stalledAt(names.bounded)! : null
        const keptError = findEvent(client, 'error', names.keepalive)
        const keptSs = keptError ? '' : lab.ss('client', findEvent(client, 'connected', names.keepalive)!.localPort)
        const queued = Number(/^\S+\s+\d+\s+(\d+)/.exec(keptSs)?.[1] ?? 0) // ss Send-Q: in the send queue, sent or not, not acknowledged
        const probing = /timer:\(persist,/.test(keptSs) // the zero-window probe timer
        const controlError = findEvent(client, 'error', names.control)
        const delivered = findEvent(client, 'written', names.control)
        return [
          {
            label: names.bounded,
            expected: `ETIMEDOUT within userTimeout + 1 s = ${boundMs / 1000} s of the window closing (Linux 5.11+; this is ${kernel})`,
            outcome: error?.code ?? (stalledAt(names.bounded) === undefined ? 'the window never closed' : 'still open'),
            measuredMs,
            boundMs,
            ok: error?.code === 'ETIMEDOUT' && measuredMs !== null && measuredMs >= userTimeoutMs - 500 && measuredMs <= boundMs,
          },
          {
            label: names.keepalive,
            expected: `still open ${(boundMs + 300) / 1000} s after the window closed, data queued, probing the window`,
            outcome:
              keptError?.code ??
              (stalledAt(names.keepalive) === undefined
                ? 'the window never closed'
                : `still open, ${queued} bytes queued in the kernel (ss Send-Q), ${probing ? 'probing the zero window' : 'not probing'}`),
            measuredMs: null,
            boundMs: null,
            ok: keptError === undefined && stalledAt(names.keepalive) !== undefined && probing && queued > 0,
          },
          {
            label: names.control,
            expected: `all ${bytes / 1024 / 1024} MiB delivered, still open`,
            outcome: controlError?.code ?? (delivered ? 'delivered, still open' : 'not delivered'),
            measuredMs: null,
            boundMs: null,
            ok: controlError === undefined && delivered !== undefined,
          },
        ]
      }),
  }
}
