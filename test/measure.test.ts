// measureIdleTimeout and `tcp-keepalive measure` on loopback: what it takes,
// what it refuses, and that it leaves nothing open and sends no data. (Paths
// with middleboxes are in lab-measure.test.ts.)
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { measureIdleTimeout } from '../lib/index.js'
import { bin, run } from './cli-run.js'
import { canRun, closeAll, hasCommand, listen } from './helpers.js'

afterEach(closeAll)

/** A server that counts what it accepts and receives, optionally closing connections idle `closeIdleMs`. */
async function countingServer(closeIdleMs?: number) {
  const sockets = new Set<net.Socket>()
  let accepted = 0
  let bytes = 0
  const server = await listen(
    net.createServer((socket) => {
      accepted++
      sockets.add(socket)
      socket.on('data', (chunk) => (bytes += chunk.length))
      socket.on('close', () => sockets.delete(socket))
      socket.on('error', () => {})
      if (closeIdleMs !== undefined) socket.setTimeout(closeIdleMs, () => socket.end())
    }),
  )
  return {
    port: server.port,
    stats: () => ({ accepted, bytes, open: sockets.size }),
    /** Waits until every accepted connection has closed on the server's side too. */
    async drained(): Promise<void> {
      while (sockets.size > 0) await once([...sockets][0], 'close')
    },
  }
}

describe('measureIdleTimeout on loopback', () => {
  it('a path that forgets nothing: no range, every connection closed, not a byte sent', { timeout: 15_000 }, async () => {
    const server = await countingServer()
    const report = await measureIdleTimeout({ host: '127.0.0.1', port: server.port, max: 5_000, connections: 4 })
    expect(report).toMatchObject({ forgetsAfter: null, how: null, serverClosesAfter: null, plan: null, maxMs: 5_000, rounds: 1 })
    // max 5 s leaves idles up to 2 s (each verdict comes within interval x count + 0.5 s): probes at 1 s and 2 s answered.
    expect(report.survivedIdle).toBeGreaterThanOrEqual(2_000)
    expect(report.elapsedMs).toBeLessThanOrEqual(5_000)
    expect(report.connections).toBe(2)
    await server.drained()
    expect(server.stats()).toEqual({ accepted: 2, bytes: 0, open: 0 })
  })

  it('a server that closes idle connections after 1 s: serverClosesAfter holds 1 s', { timeout: 15_000 }, async () => {
    const server = await countingServer(1_000)
    const report = await measureIdleTimeout({ host: '127.0.0.1', port: server.port, max: 10_000 })
    expect(report.forgetsAfter).toBeNull()
    expect(report.serverClosesAfter!.low).toBeLessThanOrEqual(1_000)
    expect(report.serverClosesAfter!.high).toBeGreaterThanOrEqual(1_000)
    expect(report.serverClosesAfter!.high - report.serverClosesAfter!.low).toBeLessThanOrEqual(200)
    expect(report.notes.join('\n')).toMatch(/The server closes idle connections itself/)
    await server.drained()
    expect(server.stats()).toMatchObject({ bytes: 0, open: 0 })
  })

  it('an abort stops it: AbortError, and every connection closed', { timeout: 15_000 }, async () => {
    const server = await countingServer()
    const controller = new AbortController()
    const measuring = measureIdleTimeout({ host: '127.0.0.1', port: server.port, max: 60_000, signal: controller.signal })
    while (server.stats().accepted < 8) await new Promise((resolve) => setTimeout(resolve, 20))
    controller.abort()
    await expect(measuring).rejects.toMatchObject({ name: 'AbortError' })
    await server.drained()
    expect(server.stats()).toEqual({ accepted: 8, bytes: 0, open: 0 })
  })

  it('a refused target: the system error (ECONNREFUSED), no socket or timer left behind', async () => {
    const count = (kind: string) => process.getActiveResourcesInfo().filter((resource) => resource === kind).length
    const before = { timers: count('Timeout'), sockets: count('TCPSocketWrap') }
    const closed = await listen(net.createServer())
    const freePort = closed.port
    closed.close()
    await once(closed, 'close')
    await expect(measureIdleTimeout({ host: '127.0.0.1', port: freePort, max: 10_000 })).rejects.toMatchObject({
      code: 'ECONNREFUSED',
      syscall: 'connect',
    })
    // Destroyed handles finish closing on a later turn of the event loop.
    for (let turn = 0; turn < 100 && count('TCPSocketWrap') > before.sockets; turn++)
      await new Promise((resolve) => setTimeout(resolve, 10))
    expect(count('Timeout')).toBe(before.timers)
    expect(count('TCPSocketWrap')).toBeLessThanOrEqual(before.sockets) // (earlier tests' sockets may still be closing)
  })

  it('bad requests: TypeError / RangeError with codes, before any connection', async () => {
    const cases: Array<[unknown, string]> = [
      [undefined, 'ERR_INVALID_ARG_TYPE'],
      [{ host: '', port: 80 }, 'ERR_INVALID_ARG_TYPE'],
      [{ host: '127.0.0.1', port: 0 }, 'ERR_OUT_OF_RANGE'],
      [{ host: '127.0.0.1', port: 80.5 }, 'ERR_OUT_OF_RANGE'],
      [{ host: '127.0.0.1', port: 80, max: 4_999 }, 'ERR_OUT_OF_RANGE'],
      [{ host: '127.0.0.1', port: 80, max: Infinity }, 'ERR_OUT_OF_RANGE'],
      [{ host: '127.0.0.1', port: 80, connections: 1 }, 'ERR_OUT_OF_RANGE'],
      [{ host: '127.0.0.1', port: 80, onProgress: 'yes' }, 'ERR_INVALID_ARG_TYPE'],
    ]
    for (const [request, code] of cases) {
      await expect(measureIdleTimeout(request as never), JSON.stringify(request)).rejects.toMatchObject({ code })
    }
  })
})

describe('tcp-keepalive measure', () => {
  it('prints what it found, in words', { timeout: 15_000 }, async () => {
    const server = await countingServer(1_000)
    const { code, stdout } = await runAsync(['measure', `127.0.0.1:${server.port}`, '--max', '6s'])
    expect(code).toBe(0)
    expect(stdout).toMatch(/^The path: no idle flow forgotten/m)
    expect(stdout).toMatch(/^The server closes idle connections itself after more than 0\.9\d* s and at most 1\.\d+ s\.$/m)
  })

  it.skipIf(!canRun('script (util-linux), for a terminal', hasCommand('script')))(
    'progress on a terminal, redrawn while a round runs; none on a pipe',
    { timeout: 15_000 },
    async () => {
      const server = await countingServer()
      const command = `${process.execPath} ${bin} measure 127.0.0.1:${server.port} --max 5s`
      // script gives the command a terminal; what it wrote comes back on our pipe.
      const terminal = await runAsync(['-q', '-e', '-c', command, '/dev/null'], 'script')
      expect(terminal.code).toBe(0)
      const redrawn = terminal.stdout.match(/\r\x1b\[Kround 1: idle 1 s, 2 s \([^)]+ of at most 5 s\)/g) ?? []
      expect(redrawn.length).toBeGreaterThanOrEqual(2) // drawn when the round starts, and again a second later (it lasts 2 s and more)
      const piped = await runAsync(['measure', `127.0.0.1:${server.port}`, '--max', '5s'])
      expect(piped.code).toBe(0)
      expect(piped.stdout).not.toMatch(/round 1|\x1b/)
    },
  )

  it('usage errors: exit 2 with one line', () => {
    for (const [args, message] of [
      [['measure'], 'give one target'],
      [['measure', 'localhost'], "the target is <host>:<port> (e.g. db.internal:5432 or [::1]:8080), got 'localhost'"],
      [['measure', 'localhost:70000'], "got 'localhost:70000'"],
      [['measure', '127.0.0.1:80', '--max', '10'], "--max takes a duration with ms, s, m or h (e.g. 10m), got '10'"],
      [['measure', '127.0.0.1:80', '--max', '4s'], "--max must be at least 5s, got '4s'"],
      [['measure', '127.0.0.1:80', '--connections', '1'], "--connections takes a whole number from 2 to 64, got '1'"],
    ] as const) {
      const { code, stderr } = run([...args])
      expect(code, args.join(' ')).toBe(2)
      expect(stderr).toContain(message)
    }
  })

  it('a refused target: exit 1, one line naming it', async () => {
    const closed = await listen(net.createServer())
    const port = closed.port
    closed.close()
    await once(closed, 'close')
    const { code, stdout, stderr } = run(['measure', `127.0.0.1:${port}`])
    expect(code).toBe(1)
    expect(stdout).toBe('')
    expect(stderr).toBe(`tcp-keepalive measure: 127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}\n`)
  })
})

/**
 * run() blocks the event loop; a test whose server lives in this process needs the command in the background:
 * the CLI with `args`, or another program.
 */
async function runAsync(args: string[], program?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(program ?? process.execPath, program ? args : [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk) => (stdout += chunk))
  child.stderr.on('data', (chunk) => (stderr += chunk))
  const [code] = (await once(child, 'exit')) as [number | null]
  return { code, stdout, stderr }
}
