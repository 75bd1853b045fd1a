// Small helpers every scenario shares: a lab that is always
// closed, connection labels, and the grace given on top of a bound.
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import type { KeepaliveOptions } from '../index.js'
import type { Lab, Peer } from './lab.js'
import type { PeerEvent } from './peer.js'

/** The tests run lib/ from source, but the CLI is run as users run it: the built file. */
const BESIDE = path.join(__dirname, '..', 'cli', 'main.js')
export const CLI = existsSync(BESIDE) ? BESIDE : path.join(__dirname, '..', '..', 'dist', 'cli', 'main.js')

/** Runs the built CLI (`prefix`: e.g. `ip netns exec NAME`, to run it on a lab host) without blocking the event loop. */
export function runCli(args: string[], prefix: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
  const [command, ...rest] = [...prefix, process.execPath, CLI, ...args]
  return new Promise((resolve) => {
    execFile(command, rest, { encoding: 'utf8' }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    )
  })
}

/** Grace on top of a bound: timers, scheduling, and the child processes' reporting. */
export const SLACK_MS = 1000

export async function withLab<T>(lab: Lab, body: (lab: Lab) => Promise<T>): Promise<T> {
  try {
    return await body(lab)
  } finally {
    lab.close()
  }
}

/** 'idle 1 s, interval 1 s, count 2' */
export function settingsLabel(options: KeepaliveOptions | undefined): string {
  if (!options) return 'no keepalive'
  return Object.entries(options)
    .map(([key, value]) => (key === 'count' ? `count ${value}` : `${key} ${Number(value) / 1000} s`))
    .join(', ')
}

/** The first event of a kind for a connection that matches. */
export function findEvent<K extends PeerEvent['event']>(
  peer: Peer,
  kind: K,
  name: string,
  matches: (event: Extract<PeerEvent, { event: K }>) => boolean = () => true,
): Extract<PeerEvent, { event: K }> | undefined {
  return peer.events.find(
    (event) => event.event === kind && 'name' in event && event.name === name && matches(event as Extract<PeerEvent, { event: K }>),
  ) as Extract<PeerEvent, { event: K }> | undefined
}
