// The process-wide path at the cost of its system calls, counted with strace
// and checked against the kernel: accepted connections under the preload cost
// none once their listener holds the rules, and a sticky socket is not
// rewritten by a setKeepAlive that Node itself skipped.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { keepaliveProcess, type ProcessKeepalive, readKeepalive } from '../lib/index.js'
import { canRun, closeAll, fdOf, hasCommand, listen, tempDir } from './helpers.js'

const root = path.join(__dirname, '..')
// Not on fds 0-2: Node asks SO_TYPE of its stdio, which vitest makes socketpairs.
const KEEPALIVE_CALL = /[gs]etsockopt\((?![012],).*(SO_KEEPALIVE|TCP_KEEP|TCP_USER_TIMEOUT|SO_TYPE|SO_PROTOCOL)/

/** Runs `script` under strace; `drive` gets the first line it prints. Returns its keepalive-related calls and its last line. */
async function traced(script: string, env: NodeJS.ProcessEnv, drive: (firstLine: string) => Promise<void>) {
  const log = path.join(tempDir('strace'), 'trace')
  const child = spawn('strace', ['-f', '-qq', '-e', 'trace=setsockopt,getsockopt', '-o', log, process.execPath, '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
    cwd: root,
  })
  let output = ''
  const firstLine = new Promise<string>((resolve) =>
    child.stdout.on('data', (chunk) => {
      output += chunk
      if (output.includes('\n')) resolve(output.split('\n')[0])
    }),
  )
  await drive(await firstLine)
  await once(child, 'exit')
  const calls = readFileSync(log, 'utf8')
    .split('\n')
    .filter((line) => KEEPALIVE_CALL.test(line))
  return { calls: calls.length, last: output.trim().split('\n').pop()! }
}

/** `connections` connections to `port`, one after another, each until the server closes it. */
async function connectInTurn(port: number, connections: number): Promise<void> {
  for (let i = 0; i < connections; i++) {
    const client = net.connect(port, '127.0.0.1')
    client.on('error', () => {})
    await new Promise((resolve) => client.once('close', resolve))
  }
}

describe.skipIf(!canRun('strace, to count system calls', hasCommand('strace')))('system calls', () => {
  it('a setKeepAlive repeated with the same arguments (http.Agent on each reuse) writes nothing after the first', async () => {
    const run = (calls: number) =>
      traced(
        `const net = require('node:net')
        const { configureKeepalive, readKeepalive } = require(${JSON.stringify(root)})
        const server = net.createServer().listen(0, '127.0.0.1', () => {
          const socket = net.connect(server.address().port, '127.0.0.1', () => {
            configureKeepalive(socket, { idle: 30000, interval: 5000, count: 3, userTimeout: 20000 })
            for (let i = 0; i < ${calls}; i++) socket.setKeepAlive(true, 1000)
            console.log('done')
            console.log(JSON.stringify(readKeepalive(socket)))
            socket.destroy(); server.close()
          })
        })`,
        {},
        async () => undefined,
      )
    const [once_, hundred] = [await run(1), await run(100)]
    console.log(`keepalive-related calls: 1 setKeepAlive ${once_.calls}, 100 setKeepAlive ${hundred.calls}`)
    // configure: 5 writes; Node's first call: 4 (on, idle, interval 1 s, count 10); ours after it: idle,
    // interval, count (Node leaves the user timeout alone); the read at the end: 5. The 99 others: nothing.
    expect(once_.calls).toBe(5 + 4 + 3 + 5)
    expect(hundred.calls).toBe(once_.calls)
    expect(JSON.parse(hundred.last)).toEqual({ enabled: true, idle: 30_000, interval: 5_000, count: 3, userTimeout: 20_000 })
  })

  it('accepted connections under the preload cost no keepalive system call, however many', async () => {
    const run = (connections: number) =>
      traced(
        `const net = require('node:net')
        const { readKeepalive } = require(${JSON.stringify(root)})
        let accepted = 0
        // Closed after the channel has published them, as a server that serves its connections.
        const server = net.createServer((socket) => {
          if (++accepted < ${connections}) return setImmediate(() => socket.destroy())
          console.log(JSON.stringify(readKeepalive(socket)))
          setImmediate(() => { socket.destroy(); server.close() })
        }).listen(0, '127.0.0.1', () => console.log(server.address().port))`,
        { NODE_OPTIONS: '--require tcp-keepalive/register', TCP_KEEPALIVE: 'idle=30s interval=5s count=3' },
        (port) => connectInTurn(Number(port), connections),
      )
    const [few, many] = [await run(10), await run(200)]
    console.log(`keepalive-related calls under the preload: 10 connections ${few.calls}, 200 connections ${many.calls}`)
    expect(many.calls).toBe(few.calls)
    // The listener, a raw fd (a TCP check of 2 before the read and before the write): its former values
    // read (5), the rules written (4); the first accepted socket read back once (5); the last one read by
    // the script (5).
    expect(few.calls).toBe(2 + 5 + 2 + 4 + 5 + 5)
    expect(JSON.parse(many.last)).toEqual({ enabled: true, idle: 30_000, interval: 5_000, count: 3, userTimeout: 0 })
  })

  it('a server listening before the rule, with connections queued meanwhile: once one inherits, the rest cost nothing', async () => {
    const run = (connections: number) =>
      traced(
        `const net = require('node:net')
        const { execFileSync } = require('node:child_process')
        const { keepaliveProcess, readKeepalive } = require(${JSON.stringify(root)})
        const queued = []
        let accepted = 0
        // Half-open allowed: the queued connections' clients are gone by the time they are accepted.
        const server = net.createServer({ allowHalfOpen: true }, (socket) => {
          // The driver connects once the queued ones are in: its connections all come after the listener's write.
          if (++accepted <= 3) return queued.push(socket) === 3 && console.log(server.address().port)
          // Closed after the channel has published it: a server not watched gets each one configured there.
          if (accepted < 3 + ${connections}) return setImmediate(() => socket.destroy())
          console.log(JSON.stringify([...queued, socket].map((each) => readKeepalive(each))))
          for (const each of queued) each.destroy()
          socket.destroy(); server.close()
        }).listen(0, '127.0.0.1', () => {
          const port = server.address().port
          // 3 handshakes complete while this process is busy: queued, holding what the listener held before the rule.
          execFileSync(process.execPath, ['-e', \`let left = 3; for (let i = 0; i < 3; i++) require('node:net').connect(\${port}, '127.0.0.1', () => --left || process.exit())\`])
          keepaliveProcess({ idle: 30000, interval: 5000, count: 3 }, { accepted: true, outgoing: false })
        })`,
        {},
        (port) => connectInTurn(Number(port), connections),
      )
    const [few, many] = [await run(10), await run(200)]
    console.log(`keepalive-related calls, a server listening before the rule: 10 connections ${few.calls}, 200 connections ${many.calls}`)
    expect(many.calls).toBe(few.calls)
    const rules = { enabled: true, idle: 30_000, interval: 5_000, count: 3, userTimeout: 0 }
    expect(JSON.parse(many.last)).toEqual([rules, rules, rules, rules]) // the 3 queued ones configured, the last one inherited
  })
})

describe('a listening socket configured by the rules', () => {
  const rules: ProcessKeepalive[] = []
  afterEach(() => {
    for (const rule of rules.splice(0)) rule.stop()
    closeAll()
  })

  it('follows the rules as they are added and stopped, and holds what it held before when the last one stops', async () => {
    const server = await listen(net.createServer())
    const before = readKeepalive(fdOf(server))
    rules.push(keepaliveProcess({ idle: 40_000, count: 4 }, { accepted: true, outgoing: false }))
    // A server listening before any rule was never seen listening: it is watched from its first connection on.
    expect(readKeepalive(fdOf(server))).toEqual(before)
    const watched = await listen(net.createServer())
    const held = readKeepalive(fdOf(watched))
    expect(held).toMatchObject({ enabled: true, idle: 40_000, count: 4 })
    const later = keepaliveProcess({ interval: 6_000 }, { accepted: true, outgoing: false, ports: [watched.port] })
    expect(readKeepalive(fdOf(watched))).toMatchObject({ enabled: true, idle: 40_000, interval: 6_000, count: 4 })
    const accepted = once(watched, 'connection') as Promise<[net.Socket]>
    const client = net.connect(watched.port, '127.0.0.1')
    await once(client, 'connect')
    expect(readKeepalive((await accepted)[0])).toMatchObject({ enabled: true, idle: 40_000, interval: 6_000, count: 4 })
    later.stop()
    expect(readKeepalive(fdOf(watched))).toMatchObject({ enabled: true, idle: 40_000, interval: before.interval, count: 4 })
    rules.splice(0).forEach((rule) => rule.stop())
    expect(readKeepalive(fdOf(watched))).toEqual(before)
    client.destroy()
  })

  it("a server being closed (its 'close' still to come) is left alone when rules change: its fd may be another socket's now", async () => {
    rules.push(keepaliveProcess({ idle: 40_000 }, { accepted: true, outgoing: false }))
    const server = await listen(net.createServer())
    const oldFd = fdOf(server)
    const accepted = once(server, 'connection') as Promise<[net.Socket]>
    const client = net.connect(server.port, '127.0.0.1')
    await once(client, 'connect')
    const [kept] = await accepted // open: 'close' waits for it
    server.close()
    // The lowest free fd is the listener's old one: the next socket takes it.
    const other = await listen(net.createServer(), '127.0.0.2')
    const reused = fdOf(other) === oldFd
    const before = readKeepalive(fdOf(other))
    const warned: string[] = []
    const onWarning = (warning: Error) => warned.push(warning.message)
    process.on('warning', onWarning)
    rules.push(keepaliveProcess({ count: 7 }, { accepted: true, outgoing: false, ports: [server.port] }))
    await new Promise((resolve) => setImmediate(resolve))
    process.off('warning', onWarning)
    expect(readKeepalive(fdOf(other))).toEqual(before) // not written through the old number
    expect(warned).toEqual([])
    expect(reused || 'the fd was not reused this time').toBeTruthy()
    kept.destroy()
    client.destroy()
  })

  it('a function rule beside a static one: the static fields inherited, the function decides the rest per connection', async () => {
    rules.push(keepaliveProcess({ idle: 40_000, count: 4 }, { accepted: true, outgoing: false }))
    rules.push(keepaliveProcess(() => ({ interval: 9_000 }), { accepted: true, outgoing: false }))
    const server = await listen(net.createServer())
    for (let i = 0; i < 2; i++) {
      const accepted = once(server, 'connection') as Promise<[net.Socket]>
      const client = net.connect(server.port, '127.0.0.1')
      await once(client, 'connect')
      expect(readKeepalive((await accepted)[0])).toMatchObject({ enabled: true, idle: 40_000, interval: 9_000, count: 4 })
      client.destroy()
    }
  })
})
