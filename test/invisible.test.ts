// The preload in programs it never saw: what a program can see of its own
// servers and sockets (listener counts, util.inspect, its exit code and its
// output) is the same with and without it (issue 26; the cases come from
// Node's own tests and ws's, test/suites/ runs those suites themselves).
import { execFile } from 'node:child_process'
import path from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const child = path.join(__dirname, 'children', 'invisible.cjs')
const preload = path.join(__dirname, '..', 'dist', 'register.js')
const RULES = [
  'idle=30s interval=5s count=3 user-timeout=40s',
  'idle=1s interval=1s count=1 user-timeout=2s',
  'idle=30s ports=1', // a scope that leaves every server of the program out
]

interface Outcome {
  code: number
  stdout: string
  stderr: string
}

async function run(which: string, rule?: string): Promise<Outcome> {
  const args = rule === undefined ? [child, which] : ['--require', preload, child, which]
  const env = { ...process.env, TCP_KEEPALIVE: rule ?? '', NODE_OPTIONS: '' }
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, args, { env, timeout: 20_000 })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const { code, stdout, stderr } = error as { code: number; stdout: string; stderr: string }
    return { code, stdout, stderr }
  }
}

describe('the preload is invisible to the program', () => {
  it.each([
    [
      'listeners',
      "every server event's listener count, before listen(), while listening and after close(); no MaxListenersExceededWarning",
    ],
    ['hasref', "Node's test-handle-wrap-hasref.js: the listening handle closed before 'listening'"],
    ['torndown', "Node's test-tls-connect-abort-controller.js: no warning for a connection torn down as it connects"],
    ['inspect', 'util.inspect of servers, sockets and handles shows none of our state'],
  ])('%s: %s', async (which) => {
    const plain = await run(which)
    expect(plain).toMatchObject({ code: 0, stderr: '' })
    expect(plain.stdout).not.toBe('')
    for (const rule of RULES) expect({ rule, ...(await run(which, rule)) }).toEqual({ rule, ...plain })
  })
})
