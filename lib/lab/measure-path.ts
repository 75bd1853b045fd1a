// `tcp-keepalive measure` on four known paths: it must tell which layer
// forgets an idle connection, and when. Each path is a lab whose truth is set
// by hand: a middlebox that forgets flows idle 3 s silently (a NAT, a firewall)
// or with a reset (LVS), a server that closes connections idle 2 s itself (an
// HTTP keep-alive timeout, Redis `timeout`), and a path that forgets nothing.
// The command runs on the client host as a user runs it, with --json.
import type { IdleTimeoutReport, Range } from '../idle-timeout.js'
import { Lab, type LabOptions } from './lab.js'
import { runCli, withLab } from './measure.js'
import type { Listener } from './peer.js'
import type { Measurement, Scenario } from './scenarios.js'

const PORT = 8001
const FORGET_AFTER_SECONDS = 3
const SERVER_CLOSES_AFTER_MS = 2000

export interface Path {
  label: string
  lab: LabOptions
  listener: Listener
  /** --max for the command. */
  maxMs: number
  truth: { forgetsAfter: number | null; how: 'silent' | 'reset' | null; serverClosesAfter: number | null }
}

const PATHS: Path[] = [
  {
    label: `middlebox forgets flows idle ${FORGET_AFTER_SECONDS} s, silently`,
    lab: { forgetIdleFlowsAfterSeconds: FORGET_AFTER_SECONDS },
    listener: { port: PORT, mode: 'hold' },
    maxMs: 30_000,
    truth: { forgetsAfter: FORGET_AFTER_SECONDS * 1000, how: 'silent', serverClosesAfter: null },
  },
  {
    label: `middlebox resets flows idle ${FORGET_AFTER_SECONDS} s (LVS)`,
    lab: { forgetIdleFlowsAfterSeconds: FORGET_AFTER_SECONDS, forgottenFlows: 'reset' },
    listener: { port: PORT, mode: 'hold' },
    maxMs: 30_000,
    truth: { forgetsAfter: FORGET_AFTER_SECONDS * 1000, how: 'reset', serverClosesAfter: null },
  },
  {
    label: `server closes connections idle ${SERVER_CLOSES_AFTER_MS / 1000} s, no middlebox`,
    lab: {},
    listener: { port: PORT, mode: 'close-idle', delayMs: SERVER_CLOSES_AFTER_MS },
    maxMs: 30_000,
    truth: { forgetsAfter: null, how: null, serverClosesAfter: SERVER_CLOSES_AFTER_MS },
  },
  {
    label: 'nothing forgets within --max 10s',
    lab: {},
    listener: { port: PORT, mode: 'hold' },
    maxMs: 10_000,
    truth: { forgetsAfter: null, how: null, serverClosesAfter: null },
  },
]

/**
 * How narrow a range can be: the kernel's idle is whole seconds, and its timer
 * wheel sends a probe up to 1/8 of the idle late; 100 ms for the rest.
 */
export function resolutionMs(high: number): number {
  return 1000 + Math.ceil(high / 8) + 100
}

/** Whether a measured range holds the true value and is as narrow as the kernel allows. */
function holds(range: Range | null, truth: number | null): boolean {
  if (range === null || truth === null) return range === truth
  return range.low <= truth && truth <= range.high && range.high - range.low <= resolutionMs(range.high)
}

const shown = (range: Range | null) => (range === null ? 'none' : `${range.low}–${range.high} ms`)

export function measurePathScenario(): Scenario {
  return {
    id: 'measure',
    title: 'tcp-keepalive measure: which layer forgets an idle connection, and when',
    expectedMs: 4 * 2000 + 6_000 + 3_000 + 10_000,
    run: async () => {
      const measurements: Measurement[] = []
      for (const path of PATHS) measurements.push(await measurePath(path))
      return measurements
    },
  }
}

/** Runs `tcp-keepalive measure --json` from the client host of a lab built for `path`, and judges it against the truth. */
export async function measurePath(path: Path): Promise<Measurement> {
  return withLab(new Lab(path.lab), async (lab) => {
    await lab.start('server', { role: 'server', host: lab.serverAddress, listeners: [path.listener] })
    const args = ['measure', `${lab.serverAddress}:${PORT}`, '--max', `${path.maxMs / 1000}s`, '--json']
    const started = Date.now()
    const { code, stdout, stderr } = await runCli(args, lab.namespaceCommand('client'))
    const wallMs = Date.now() - started
    let report: IdleTimeoutReport | null = null
    try {
      report = JSON.parse(stdout) as IdleTimeoutReport
    } catch {
      // reported below with the exit code and stderr
    }
    const { truth } = path
    const expected =
      `path ${truth.forgetsAfter === null ? 'forgets nothing' : `forgets after ${truth.forgetsAfter} ms (${truth.how})`}; ` +
      `server ${truth.serverClosesAfter === null ? 'closes nothing' : `closes after ${truth.serverClosesAfter} ms`}`
    if (report === null) {
      return { label: path.label, expected, outcome: `exit ${code}: ${stderr.trim()}`, measuredMs: wallMs, boundMs: path.maxMs, ok: false }
    }
    const ok =
      code === 0 &&
      holds(report.forgetsAfter, truth.forgetsAfter) &&
      report.how === truth.how &&
      holds(report.serverClosesAfter, truth.serverClosesAfter) &&
      report.elapsedMs <= path.maxMs
    return {
      label: path.label,
      expected,
      outcome:
        `forgets after ${shown(report.forgetsAfter)}${report.how ? ` (${report.how})` : ''}; server closes after ${shown(report.serverClosesAfter)}; ` +
        `${report.connections} connections, ${report.rounds} round(s)`,
      measuredMs: report.elapsedMs,
      boundMs: path.maxMs,
      ok,
      measure: { args, report },
    }
  })
}
