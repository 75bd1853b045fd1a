// keepaliveProcess: what a rule adds to opening a connection. A loopback
// connect here takes 30-50 µs and moves by several µs from run to run, more
// than the 2-3 µs a rule adds, so the end-to-end time cannot resolve it.
// What a rule adds is synchronous work in two places: the connect() call
// (the hook) and the socket's 'connect' event (the writes). Both are timed,
// per connection, in one process, with the modes interleaved connection by
// connection (same JIT state, same caches, same moment):
// - no rule: Node's own connect (taken before the rule was added);
// - two floors, each Node's connect with the 4 writes done in C from a first
//   'connect' listener:
//   - the writes: the listener is put on before the timed call and stays;
//   - a writer: the listener is put on with the connect() call and removes
//     itself when it runs, as a rule's must (no once() wrapper: the least a
//     rule that writes on 'connect' can pay);
// - a rule for every port (the preload's usual line), which configures each connection;
// - a rule with ports, for another port (only the port is checked) and for its port.
// A 5 % trimmed mean per mode; the added cost against no rule, and against each floor's.
import net from 'node:net'
import { keepaliveProcess } from '../dist/index.mjs'
import { loadFloor, writesOn } from './floor/index.mjs'
import { listening, printTable, STEADY_STATE } from './shared.mjs'

const CONNECTIONS = 4_000 // per mode, after STEADY_STATE to warm up
const OPTIONS = { idle: 30_000, interval: 5_000, count: 3 }

/** Mean of the middle 90 %. */
function trimmedMean(values) {
  const sorted = [...values].sort((a, b) => a - b)
  const cut = Math.floor(sorted.length * 0.05)
  const kept = sorted.slice(cut, sorted.length - cut)
  return kept.reduce((sum, value) => sum + value, 0) / kept.length
}

export async function report() {
  const write = writesOn(loadFloor())
  function floorWrites() {
    write(this)
  }
  function floorWriter() {
    this.removeListener('connect', floorWriter)
    write(this)
  }
  const servers = await Promise.all([0, 1].map(() => listening(net.createServer((socket) => socket.destroy()))))
  const [otherPort, rulePort] = servers.map((server) => server.address().port)
  const nodeConnect = net.Socket.prototype.connect

  // The time spent inside emit('connect'): our listener's writes, or the floor's.
  let inConnectEvent = 0n
  const emit = net.Socket.prototype.emit
  net.Socket.prototype.emit = function (event, ...args) {
    if (event !== 'connect') return emit.call(this, event, ...args)
    const started = process.hrtime.bigint()
    try {
      return emit.call(this, event, ...args)
    } finally {
      inConnectEvent += process.hrtime.bigint() - started
    }
  }

  /** ns of synchronous work for one connection: the connect() call and its 'connect' event. */
  async function timeOne({ viaHook, port, floorAs }) {
    const socket = new net.Socket()
    if (floorAs === 'writes') socket.prependListener('connect', floorWrites)
    const connected = new Promise((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('error', reject)
    })
    inConnectEvent = 0n
    const started = process.hrtime.bigint()
    if (floorAs === 'writer') socket.prependListener('connect', floorWriter)
    ;(viaHook ? socket.connect : nodeConnect).call(socket, port, '127.0.0.1')
    const inCall = process.hrtime.bigint() - started
    await connected // resumes after emit('connect') has returned
    const ns = Number(inCall + inConnectEvent)
    socket.destroy()
    return ns
  }

  /** Trimmed mean ns per mode, the modes interleaved connection by connection under `scope`'s rule. */
  async function phase(scope, modes) {
    const rule = keepaliveProcess(OPTIONS, scope)
    const samples = modes.map(() => [])
    for (let i = 0; i < STEADY_STATE + CONNECTIONS; i++) {
      const order = i % 2 === 0 ? modes.keys() : [...modes.keys()].reverse()
      for (const m of order) {
        const ns = await timeOne(modes[m])
        if (i >= STEADY_STATE) samples[m].push(ns)
      }
    }
    rule.stop()
    return samples.map(trimmedMean)
  }

  const noRule = { viaHook: false, port: otherPort }
  const floors = [
    { viaHook: false, port: otherPort, floorAs: 'writes' },
    { viaHook: false, port: otherPort, floorAs: 'writer' },
  ]
  // As the preload's usual line: a rule for every port (no port to check).
  const everyPort = await phase(undefined, [noRule, ...floors, { viaHook: true, port: otherPort }])
  // A rule with ports: each connection's port is checked.
  const withPorts = await phase({ ports: [rulePort] }, [
    noRule,
    ...floors,
    { viaHook: true, port: otherPort },
    { viaHook: true, port: rulePort },
  ])
  net.Socket.prototype.emit = emit
  for (const server of servers) server.close()

  /** Rows of a phase: [none, writes, writer, ...modes], each against that phase's no rule and floors. */
  const rows = (names, [none, ...means]) => {
    const [writes, writer] = [means[0] - none, means[1] - none]
    return [
      [names[0], none.toFixed(0), '', '', ''],
      ...means.map((mean, m) => [
        names[m + 1],
        mean.toFixed(0),
        (mean - none).toFixed(0),
        `x${((mean - none) / writes).toFixed(2)}`,
        `x${((mean - none) / writer).toFixed(2)}`,
      ]),
    ]
  }
  console.log(
    `keepaliveProcess: synchronous work per outgoing connection (the connect() call and its 'connect' event), ${CONNECTIONS} connections per mode, interleaved`,
  )
  const floorNames = [
    'floor, the writes: 4 in C, from a first connect listener in place',
    'floor, a writer: the same listener, added with connect() and run once',
  ]
  printTable([
    ['', 'ns/connection', 'ns added', 'vs the writes', 'vs a writer'],
    ...rows(['no rule', ...floorNames, 'keepaliveProcess(options): a rule for every port'], everyPort),
    ...rows(
      [
        'no rule (beside a rule with ports)',
        ...floorNames.map((name) => `${name} (beside a rule with ports)`),
        'a rule with ports, for another port (the port check only)',
        'a rule with ports, for this port',
      ],
      withPorts,
    ),
  ])
}
