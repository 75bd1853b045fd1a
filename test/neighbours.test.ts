// tcp-keepalive shares net.Socket.prototype with the real neighbours a
// service runs (OpenTelemetry's net instrumentation, dd-trace, a hand-written
// wrapper), in every load order, CommonJS and ESM, through keepaliveProcess and
// through the preload: the neighbour sees every connection before, during
// and after a rule, and the kernel holds the settings exactly while one is on.
import { execFile } from 'node:child_process'
import path from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const run = promisify(execFile)
const root = path.join(__dirname, '..')
const children = path.join(__dirname, 'children')

type Phase = { made: number; seen: number; setKeepAlives: number; configured: number }
type Case = {
  neighbour: 'otel' | 'dd-trace' | 'hand'
  order: 'keepalive-first' | 'neighbour-first'
  mode: 'code' | 'preload'
  module: 'cjs' | 'mjs'
}

async function shared({ neighbour, order, mode, module }: Case): Promise<Record<string, Phase>> {
  const script = path.join(children, `shared-process.${module}`)
  const preloads: string[] = []
  const flag = module === 'cjs' ? '--require' : '--import'
  if (mode === 'preload') {
    if (order === 'neighbour-first') preloads.push('--require', path.join(children, 'neighbour.cjs'))
    preloads.push(flag, 'tcp-keepalive/register') // resolved from the package root, as an app resolves it
  }
  const { stdout } = await run(process.execPath, [...preloads, script], {
    cwd: root,
    env: {
      ...process.env,
      TK_NEIGHBOUR: neighbour,
      TK_ORDER: order,
      TK_MODE: mode,
      TK_NEIGHBOUR_PRELOAD: preloads.includes('--require') && order === 'neighbour-first' ? '1' : '',
      TCP_KEEPALIVE: 'idle=31s interval=4s count=5',
    },
    timeout: 60_000,
  })
  return JSON.parse(stdout.trim().split('\n').pop()!)
}

const cases: Case[] = []
for (const neighbour of ['otel', 'dd-trace', 'hand'] as const) {
  for (const order of ['keepalive-first', 'neighbour-first'] as const) {
    cases.push({ neighbour, order, mode: 'code', module: 'cjs' })
    if (neighbour === 'hand') continue
    cases.push({ neighbour, order, mode: 'preload', module: 'cjs' })
    cases.push({ neighbour, order, mode: 'code', module: 'mjs' })
  }
}
cases.push({ neighbour: 'otel', order: 'keepalive-first', mode: 'preload', module: 'mjs' })

describe('beside other instrumentation', () => {
  it.each(cases)('$neighbour, $order, $mode, $module: the neighbour sees every connection; the kernel holds the rule', async (given) => {
    const phases = await shared(given)
    for (const [name, phase] of Object.entries(phases)) {
      expect(phase.seen, `${name}: connections the neighbour saw`).toBe(phase.made)
      if (given.neighbour === 'hand') expect(phase.setKeepAlives, `${name}: setKeepAlive calls it saw`).toBe(phase.made)
      const ruled = name === 'rule' || name === 'again'
      expect(phase.configured, `${name}: connections the kernel shows configured`).toBe(ruled ? phase.made : 0)
    }
    expect(Object.keys(phases)).toEqual(given.mode === 'code' ? ['before', 'rule', 'stopped', 'again'] : ['rule'])
  })
})
