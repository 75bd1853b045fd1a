// The lookup of a socket's fd by its addresses (Bun's http.Server
// connections, every Deno socket; native/socket_lookup_linux.cc): one scan of
// the process's own fds, so its cost grows with the number open. Timed with
// 10, 1 000 and 10 000 open TCP sockets (a listener and connection pairs, both
// ends in this process), side by side with what a call costs once the fd is
// known: the check of a kept fd (one fstat) and a read through Node's handle
// (no lookup at all: Node's path). Linux only.
import { once } from 'node:events'
import net from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { median, printTable, ratio, require } from './shared.mjs'

const SIZES = [10, 1_000, 10_000]
const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')

/** µs per call of `body`, median of `runs` runs of `calls` calls. */
function time(body, calls, runs = 9) {
  const samples = []
  for (let run = 0; run < runs; run++) {
    const started = process.hrtime.bigint()
    for (let i = 0; i < calls; i++) body()
    samples.push(Number(process.hrtime.bigint() - started) / 1e3 / calls)
  }
  return median(samples)
}

/** Opens connection pairs until `total` TCP sockets are open (the listener included). */
async function openSockets(server, open, total) {
  while (open.length + 1 < total) {
    const accepted = once(server, 'connection')
    const client = net.connect(server.address().port, '127.0.0.1')
    await once(client, 'connect')
    const [socket] = await accepted
    open.push(client, socket)
  }
}

export async function report() {
  const binding = require('node-gyp-build')(root)
  if (!binding.socketLookup) return console.log('lookup: no lookup by address on this platform\n')
  const server = net.createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const open = []
  const rows = []
  let base
  for (const size of SIZES) {
    await openSockets(server, open, size)
    const last = open.at(-1) // any socket costs the same: the scan visits every fd to rule out a second match
    const ends = [last.localAddress, last.localPort, last.remoteAddress, last.remotePort]
    if (binding.findSocket(...ends) !== 1 || binding.found[1] !== last._handle.fd) throw new Error('lookup: not found')
    const calls = Math.max(3, Math.round(20_000 / size))
    const scan = time(() => binding.findSocket(...ends), calls)
    const kept = time(() => binding.socketInode(last._handle.fd), 20_000)
    const read = time(() => binding.read(last._handle.fd, false), 20_000)
    base ??= scan
    rows.push([
      `${(open.length + 1).toLocaleString('en')} sockets`,
      scan.toFixed(1),
      ratio(scan, base),
      ((scan * 1000) / (open.length + 1)).toFixed(0),
      (kept * 1000).toFixed(0),
      (read * 1000).toFixed(0),
      ratio(scan, read),
    ])
  }
  console.log('Lookup by address: one scan of /proc/self/fd (median of 9 runs); a kept fd is checked with one fstat')
  printTable([['', 'scan µs', 'vs 10', 'ns/socket', 'kept fd ns', 'read via handle ns', 'scan vs read'], ...rows])
  for (const socket of open) socket.destroy()
  server.close()
}
