// npm run bench: what a keepalive call costs, measured side by side in one
// run. Sections: per call against the C floor and Node's own setKeepAlive;
// the first call on freshly accepted sockets; keepaliveServer under HTTP
// connection churn; keepaliveProcess on the connect path; the preload on an
// HTTP server calling a backend (accepted + outgoing churn); system calls per
// call (strace); memory kept per call; the lookup of an fd by address
// (Bun, Deno) with 10 to 10 000 open sockets.
// A benchmark reports ratios; it asserts nothing.
//
//   npm run bench [-- --only calls,first,churn,process,preload,syscalls,memory,lookup]
import net from 'node:net'
import os from 'node:os'
import { keepaliveSupport } from '../dist/index.mjs'
import * as calls from './calls.mjs'
import * as churn from './churn.mjs'
import * as firstCall from './first-call.mjs'
import * as lookup from './lookup.mjs'
import * as memory from './memory.mjs'
import * as preload from './preload.mjs'
import * as processWide from './process.mjs'
import * as syscalls from './syscalls.mjs'
import { loadFloor } from './floor/index.mjs'
import { listening, loadNetKeepalive } from './shared.mjs'

const onlyIndex = process.argv.indexOf('--only')
const sections =
  onlyIndex > 0 ? process.argv[onlyIndex + 1].split(',') : ['calls', 'first', 'churn', 'process', 'preload', 'syscalls', 'memory', 'lookup']

const floor = loadFloor()
const netKeepalive = loadNetKeepalive()
console.log(`node ${process.version}, ${process.platform}-${process.arch}, ${os.cpus()[0]?.model ?? 'unknown CPU'} x${os.cpus().length}`)
console.log(`tcp-keepalive native: ${keepaliveSupport.native}${netKeepalive ? '' : '; net-keepalive is not installed: left out'}\n`)

const server = await listening(net.createServer())
if (sections.includes('calls')) {
  const list = calls.contenders(floor, netKeepalive)
  const set = await calls.report('Set', list.set, server)
  const read = await calls.report('Read', list.read, server)
  if (netKeepalive) calls.perField(set, read)
}
server.close()
if (sections.includes('first')) await firstCall.report(floor)
if (sections.includes('churn')) await churn.report()
if (sections.includes('process')) await processWide.report()
if (sections.includes('preload')) await preload.report()
if (sections.includes('syscalls')) syscalls.report()
if (sections.includes('memory')) await memory.report()
if (sections.includes('lookup')) await lookup.report()
