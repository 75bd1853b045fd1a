// System calls per call, counted by strace: each contender runs in a child
// that makes it `CALLS` times on one socket, and once with 0 calls; the
// difference, divided by `CALLS`, is what one call makes.
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { once } from 'node:events'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { printTable } from './shared.mjs'

const CALLS = 100
const CONTENDERS = {
  'configureKeepalive(socket, { idle, interval, count })': (k, s) => k.configureKeepalive(s, { idle: 30_000, interval: 5_000, count: 3 }),
  'configureKeepalive(socket, { idle })': (k, s) => k.configureKeepalive(s, { idle: 30_000 }),
  'configureKeepalive(fd, { idle, interval, count })': (k, s) =>
    k.configureKeepalive(s._handle.fd, { idle: 30_000, interval: 5_000, count: 3 }),
  'readKeepalive(socket)': (k, s) => k.readKeepalive(s),
  'readKeepalive(fd)': (k, s) => k.readKeepalive(s._handle.fd),
  "Node's socket.setKeepAlive(true, delay)": (_k, s, i) => s.setKeepAlive(true, 1000 + (i & 1) * 1000),
}

/** Child: connect, then make `calls` calls of one contender. */
async function child(name, calls) {
  const keepalive = await import('../dist/index.mjs')
  const server = net.createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const socket = net.connect(server.address().port, '127.0.0.1')
  await once(socket, 'connect')
  for (let i = 0; i < calls; i++) CONTENDERS[name](keepalive, socket, i)
  socket.destroy()
  server.close()
}

function count(name, calls, dir) {
  const log = path.join(dir, `${calls}`)
  execFileSync('strace', [
    '-f',
    '-qq',
    '-e',
    'trace=setsockopt,getsockopt',
    '-o',
    log,
    process.execPath,
    fileURLToPath(import.meta.url),
    '--child',
    name,
    String(calls),
  ])
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter((line) => /setsockopt|getsockopt/.test(line)).length
}

export function report() {
  if (spawnSync('strace', ['-V']).status !== 0) {
    console.log('System calls per call: strace is not installed, skipped\n')
    return
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'tcp-keepalive-bench-'))
  console.log(`System calls per call (strace: setsockopt + getsockopt over ${CALLS} calls, minus a run with none)`)
  printTable([
    ['', 'syscalls/call'],
    ...Object.keys(CONTENDERS).map((name) => [name, ((count(name, CALLS, dir) - count(name, 0, dir)) / CALLS).toFixed(2)]),
  ])
  rmSync(dir, { recursive: true, force: true })
}

if (process.argv[2] === '--child') await child(process.argv[3], Number(process.argv[4]))
