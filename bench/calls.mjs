// Cost per call, side by side in one process: each contender against its
// floor (the same system calls looped in C, bench/floor) and against Node's
// own setKeepAlive where that makes the same writes. Rounds alternate
// between contenders so machine noise hits all of them alike.
import { configureKeepalive, readKeepalive } from '../dist/index.mjs'
import { connectedSocket, median, nodeSetKeepAlive, nodeTakesIntervalAndCount, printTable, ratio } from './shared.mjs'

const ROUNDS = 11
const CALLS_PER_ROUND = 20_000

/** Contenders that loop in JS: `fn(socket, i)` is one call. Values alternate, or Node skips the call as unchanged. */
const js = (fn) => (socket, calls) => {
  const start = process.hrtime.bigint()
  for (let i = 0; i < calls; i++) fn(socket, i)
  return Number(process.hrtime.bigint() - start) / calls
}
const delay = (i) => 1000 + (i & 1) * 1000

export function contenders(floor, netKeepalive) {
  return {
    set: [
      { name: 'floor: 4 setsockopt in C (idle, interval, count, on)', floor: 'floor4', run: (s, n) => floor.writeLoop(s._handle.fd, 4, n) },
      { name: 'floor: 2 setsockopt in C (idle, on)', floor: 'floor2', run: (s, n) => floor.writeLoop(s._handle.fd, 2, n) },
      {
        name: 'configureKeepalive({ idle, interval, count })',
        vs: ['floor4', 'node', ...(nodeTakesIntervalAndCount ? ['node4'] : [])],
        run: js((s, i) => configureKeepalive(s, { idle: delay(i), interval: delay(i), count: 3 })),
      },
      { name: 'configureKeepalive({ idle })', vs: ['floor2', 'node'], run: js((s, i) => configureKeepalive(s, { idle: delay(i) })) },
      {
        name: "Node's socket.setKeepAlive(true, delay): 4 writes",
        floor: 'node',
        vs: ['floor4'],
        run: js((s, i) => nodeSetKeepAlive.call(s, true, delay(i))),
      },
      nodeTakesIntervalAndCount && {
        name: "Node's socket.setKeepAlive(true, delay, interval, count)",
        floor: 'node4',
        vs: ['floor4'],
        run: js((s, i) => nodeSetKeepAlive.call(s, true, delay(i), delay(i), 3)),
      },
      {
        name: 'socket.setKeepAlive(true, delay) wrapped for sticky settings, socket not configured',
        vs: ['node'],
        run: js((s, i) => s.setKeepAlive(true, delay(i))),
      },
      {
        name: 'floor: 4 setsockopt in C (interval, count, user timeout, on)',
        floor: 'floor3',
        run: (s, n) => floor.writeLoop(s._handle.fd, 3, n),
      },
      {
        name: 'configureKeepalive({ interval, count, userTimeout })',
        floor: 'ours3',
        vs: ['floor3'],
        run: js((s, i) => configureKeepalive(s, { interval: delay(i), count: 3, userTimeout: 10_000 })),
      },
      netKeepalive && {
        name: 'net-keepalive: setKeepAliveInterval + Probes + setUserTimeout',
        vs: ['ours3'],
        run: js((s, i) => {
          netKeepalive.setKeepAliveInterval(s, delay(i))
          netKeepalive.setKeepAliveProbes(s, 3)
          netKeepalive.setUserTimeout(s, 10_000)
        }),
      },
    ].filter(Boolean),
    read: [
      { name: 'floor: 5 getsockopt in C', floor: 'floor5', run: (s, n) => floor.readLoop(s._handle.fd, n) },
      { name: 'readKeepalive() (5 fields)', floor: 'ours5', vs: ['floor5'], run: js((s) => readKeepalive(s)) },
      netKeepalive && {
        name: 'net-keepalive: getKeepAliveInterval + Probes + getUserTimeout (3 fields)',
        vs: ['ours5'],
        run: js((s) => {
          netKeepalive.getKeepAliveInterval(s)
          netKeepalive.getKeepAliveProbes(s)
          netKeepalive.getUserTimeout(s)
        }),
      },
    ].filter(Boolean),
  }
}

/** Runs contenders in alternating rounds; returns median ns/op by name. Each has its own socket: configure is sticky. */
export async function measure(list, server) {
  const sockets = await Promise.all(list.map(() => connectedSocket(server)))
  for (const socket of sockets) socket.setKeepAlive(true, 1000)
  const samples = list.map(() => [])
  for (let round = 0; round <= ROUNDS; round++) {
    list.forEach((contender, k) => {
      const ns = contender.run(sockets[k], CALLS_PER_ROUND)
      if (round > 0) samples[k].push(ns) // round 0 warms up
    })
  }
  for (const socket of sockets) socket.destroy()
  return list.map((contender, k) => ({ ...contender, ns: median(samples[k]) }))
}

export async function report(title, list, server) {
  const results = await measure(list, server)
  const bases = Object.fromEntries(results.filter((r) => r.floor).map((r) => [r.floor, r.ns]))
  console.log(`${title} (median of ${ROUNDS} rounds x ${CALLS_PER_ROUND} calls)`)
  const columns = Math.max(...results.map((r) => r.vs?.length ?? 0))
  const header = ['', 'ns/op', ...Array.from({ length: columns }, () => ['vs', 'ratio']).flat()]
  printTable([
    header,
    ...results.map((r) => {
      const against = Array.from({ length: columns }, (_, c) => r.vs?.[c] ?? '')
      return [r.name, r.ns.toFixed(0), ...against.flatMap((name) => [name, ratio(r.ns, bases[name])])]
    }),
  ])
  return results
}

/**
 * Speed-up over net-keepalive per field: it sets 3 fields with 3 calls where
 * configureKeepalive writes the same 3 plus enable; it reads 3 fields where
 * readKeepalive reads 5. The bound is what a call at its floor would reach:
 * net-keepalive's time per field over the floor's (the same system calls in C).
 */
export function perField(set, read) {
  const ns = (list, prefix) => list.find((r) => r.name.startsWith(prefix)).ns
  const theirSet = ns(set, 'net-keepalive') / 3
  const theirRead = ns(read, 'net-keepalive') / 3
  const floorPerField = ns(set, 'floor: 4 setsockopt in C (interval') / 3
  const oneRead = ns(read, 'floor: 5') / 5
  console.log('Per field against net-keepalive (the bound: a call costing only its system calls)')
  printTable([
    ['', 'x faster', 'bound'],
    [
      'set (interval, count, userTimeout)',
      (theirSet / (ns(set, 'configureKeepalive({ interval') / 3)).toFixed(1),
      (theirSet / floorPerField).toFixed(1),
    ],
    ['read', (theirRead / (ns(read, 'readKeepalive') / 5)).toFixed(1), (theirRead / oneRead).toFixed(1)],
  ])
}
