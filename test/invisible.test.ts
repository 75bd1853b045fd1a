// The preload in programs it never saw: what a program can see of its own
// servers and sockets (listener counts, util.inspect, its exit code and its
// output) is the same with and without it (issue 26; the cases come from
// Node's own tests and ws's, test/suites/ runs those suites themselves).
import { execFile } from 'node:child_process'
import net from 'node:net'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterEach, describe, expect, it } from 'vitest'
import { configureKeepalive, type KeepaliveOptions, planKeepalive } from '../lib/index.js'
import { closeAll, listen } from './helpers.js'

afterEach(closeAll)

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

describe('userTimeout and a healthy reader that pauses (what no rule can tell from a hung peer)', () => {
  const TOTAL = 32 * 1024 * 1024 // far more than both ends' socket buffers hold: the reader's window closes
  const PAUSE_MS = 5_000

  /** The server streams TOTAL bytes with `options` on its socket; the client reads nothing for PAUSE_MS, then everything it can. */
  async function pausedReader(options: KeepaliveOptions) {
    const server = await listen(net.createServer())
    const served = new Promise<string>((resolve) =>
      server.once('connection', (socket: net.Socket) => {
        configureKeepalive(socket, options)
        socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message))
        socket.end(Buffer.alloc(TOTAL), () => resolve('sent'))
      }),
    )
    const client = net.connect(server.port, '127.0.0.1') // no 'data' listener: Node stops reading at its high-water mark
    await new Promise((resolve) => setTimeout(resolve, PAUSE_MS))
    let received = 0
    const read = new Promise<string>((resolve) => {
      client.on('data', (chunk: Buffer) => (received += chunk.length))
      client.on('end', () => resolve('end'))
      client.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message))
    })
    const [server_, client_] = await Promise.all([served, read])
    client.destroy()
    return { server: server_, client: client_, whole: received === TOTAL }
  }

  const keepalive = { idle: 1_000, interval: 1_000, count: 1 } // the second rule
  it(`with userTimeout 2 s, a reader paused ${PAUSE_MS / 1000} s is dropped like a hung peer`, { timeout: 20_000 }, async () => {
    expect(await pausedReader({ ...keepalive, userTimeout: 2_000 })).toEqual({ server: 'ETIMEDOUT', client: 'ECONNRESET', whole: false })
  })
  it('without userTimeout it gets the whole stream once it reads again', { timeout: 20_000 }, async () => {
    expect(await pausedReader(keepalive)).toEqual({ server: 'sent', client: 'end', whole: true })
  })
  it('plan, which offers a userTimeout, says the pause a healthy peer may take', () => {
    const { userTimeout, reasoning } = planKeepalive({ idleTimeout: 350_000 })
    expect(userTimeout).toBeGreaterThan(0)
    expect(reasoning.join('\n')).toContain(
      'That user timeout is also the longest a healthy peer may stop reading while this side writes: a slower reader (a paused stream, a slow consumer) is dropped like a dead one (ETIMEDOUT)',
    )
  })
})
