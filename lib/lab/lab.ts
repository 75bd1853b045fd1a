// Throwaway networks: three namespaces joined by veth, with the peers
// running in them as child processes.
//
//   client (c0) --- (rc) router (rs) --- (s0) server
//
// or, with a proxy host that terminates TCP between the client and the router:
//
//   client (c0) --- (pc) proxy (p0) --- (rc) router (rs) --- (s0) server
//
// A link is cut by taking a host's own interface down: the other host's
// link stays up, so its packets leave it and vanish behind the router, as
// they do when a peer loses power or a cable far away. The router stays
// silent about it (no ICMP unreachable), like routers that do not know a
// host beyond their segment died. Addresses are from the documentation
// ranges (RFC 5737), which nothing routes: they exist only in these namespaces.
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import readline from 'node:readline'
import { createNamespaces, deleteNamespace, inNamespace, ip } from './netns.js'
import type { PeerCommand, PeerConfig, PeerEvent } from './peer.js'

export interface LabOptions {
  /**
   * A middlebox in the router that forgets established flows idle this many
   * seconds (conntrack), drops packets of flows it does not know, and lets
   * new flows in only with a SYN, like a NAT, stateful firewall or LVS.
   */
  forgetIdleFlowsAfterSeconds?: number
  /**
   * What the middlebox does with a packet of a flow it forgot: drop it silently (a NAT, most firewalls), or
   * answer it with a TCP reset (LVS, some firewalls and load balancers). Default 'drop'.
   */
  forgottenFlows?: 'drop' | 'reset'
  /** A proxy host between the client and the router: the client reaches only it (at proxyAddress). */
  proxy?: boolean
}

const ADDRESSES = {
  client: '192.0.2.2/24',
  routerClientSide: '192.0.2.1/24',
  routerServerSide: '198.51.100.1/24',
  server: '198.51.100.2/24',
  /** The client's link to the proxy host, when there is one. */
  clientBehindProxy: '203.0.113.2/24',
  proxyClientSide: '203.0.113.1/24',
}

const SILENT_ROUTER_RULES = `table inet lab {
  chain output {
    type filter hook output priority 0; policy accept;
    icmp type destination-unreachable drop
  }
}
`

/** Known flows pass, new ones only with a SYN; with `reset`, any other TCP packet is answered with a RST. */
function middleboxRules(forgotten: 'drop' | 'reset'): string {
  return `table inet middlebox {
  chain forward {
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    ct state new tcp flags & (syn | ack) == syn accept
${forgotten === 'reset' ? '    meta l4proto tcp reject with tcp reset\n' : ''}  }
}
`
}

/** The tests run lib/ from source, but a peer is a plain node process: it always runs the built file. */
const BESIDE = path.join(__dirname, 'peer.js')
const PEER_SCRIPT = existsSync(BESIDE) ? BESIDE : path.join(__dirname, '..', '..', 'dist', 'lab', 'peer.js')
/** The preload, tcp-keepalive/register, as built (a peer started with `preload` runs under it). */
const REGISTER_SCRIPT = path.join(path.dirname(PEER_SCRIPT), '..', 'register.js')

type Host = 'client' | 'server' | 'proxy'

export interface StartOptions {
  /** Run the peer under the preload (`--require tcp-keepalive/register`) with this TCP_KEEPALIVE. */
  preload?: string
}

export class Lab {
  readonly serverAddress: string
  /** Where the client reaches the proxy host (with `proxy`). */
  readonly proxyAddress: string
  private readonly namespaces: Record<'client' | 'router' | 'server', string> & { proxy?: string }
  private readonly peers = new Set<Peer>()

  constructor(readonly options: LabOptions = {}) {
    const { c, r, s, p } = createNamespaces(options.proxy ? (['c', 'r', 's', 'p'] as const) : (['c', 'r', 's'] as const)) as Record<
      'c' | 'r' | 's',
      string
    > & { p?: string }
    this.namespaces = { client: c, router: r, server: s, ...(p === undefined ? {} : { proxy: p }) }
    try {
      this.build()
    } catch (error) {
      this.close()
      throw error
    }
    this.serverAddress = ADDRESSES.server.split('/')[0]
    this.proxyAddress = ADDRESSES.proxyClientSide.split('/')[0]
  }

  private build(): void {
    const { router } = this.namespaces
    if (this.options.proxy) {
      this.joinRouter('proxy')
      this.joinProxy()
    } else {
      this.joinRouter('client')
    }
    this.joinRouter('server')
    inNamespace(router, ['sysctl', '-qw', 'net.ipv4.ip_forward=1'])
    inNamespace(router, ['nft', '-f', '-'], SILENT_ROUTER_RULES)
    const seconds = this.options.forgetIdleFlowsAfterSeconds
    if (seconds !== undefined) {
      inNamespace(router, ['nft', '-f', '-'], middleboxRules(this.options.forgottenFlows ?? 'drop')) // also loads conntrack in the router, making its sysctls appear
      inNamespace(router, [
        'sysctl',
        '-qw',
        `net.netfilter.nf_conntrack_tcp_timeout_established=${seconds}`,
        'net.netfilter.nf_conntrack_tcp_loose=0', // a forgotten flow's next packet must not be adopted again
      ])
    }
  }

  /** A host's veth link to the router, both addresses, and the host's default route (made again when the server reboots). */
  private joinRouter(host: Host): void {
    const namespace = this.namespace(host)
    const { router } = this.namespaces
    const [device, routerDevice] = { client: ['c0', 'rc'], proxy: ['p0', 'rc'], server: ['s0', 'rs'] }[host]
    const [cidr, routerCidr] =
      host === 'server' ? [ADDRESSES.server, ADDRESSES.routerServerSide] : [ADDRESSES.client, ADDRESSES.routerClientSide]
    this.link(namespace, device, cidr, router, routerDevice, routerCidr)
  }

  /** The client's link to the proxy host, its only way out. */
  private joinProxy(): void {
    this.link(this.namespaces.client, 'c0', ADDRESSES.clientBehindProxy, this.namespace('proxy'), 'pc', ADDRESSES.proxyClientSide)
  }

  /** A veth pair from a host to its gateway, both addresses, and the host's default route via the gateway. */
  private link(namespace: string, device: string, cidr: string, gateway: string, gatewayDevice: string, gatewayCidr: string): void {
    ip('link', 'add', device, 'netns', namespace, 'type', 'veth', 'peer', 'name', gatewayDevice, 'netns', gateway)
    for (const [where, dev, address] of [
      [namespace, device, cidr],
      [gateway, gatewayDevice, gatewayCidr],
    ]) {
      ip('-n', where, 'addr', 'add', address, 'dev', dev)
      ip('-n', where, 'link', 'set', dev, 'up')
    }
    ip('-n', namespace, 'route', 'add', 'default', 'via', gatewayCidr.split('/')[0])
  }

  private namespace(host: Host | 'router'): string {
    const name = this.namespaces[host]
    if (name === undefined) throw new Error(`this lab has no ${host} host (new Lab({ ${host}: true }))`)
    return name
  }

  /** Starts a peer program on a host; resolves once it reports ready (listening, or all connected). */
  async start(host: Host, config: PeerConfig, options: StartOptions = {}): Promise<Peer> {
    const preload =
      options.preload === undefined ? [] : ['env', `TCP_KEEPALIVE=${options.preload}`, `NODE_OPTIONS=--require ${REGISTER_SCRIPT}`]
    const peer = new Peer(this.spawn(host, [...preload, process.execPath, PEER_SCRIPT, JSON.stringify(config)]), host)
    this.peers.add(peer)
    await peer.next((event) => event.event === 'ready', 10_000)
    return peer
  }

  /** Runs any program on a host, or in the router (killed when the lab closes, with everything else in its namespace). */
  spawn(host: Host | 'router', command: string[]): ChildProcess {
    return spawn('ip', ['netns', 'exec', this.namespace(host), ...command], { stdio: ['pipe', 'pipe', 'pipe'] })
  }

  /** The command prefix that runs a program on a host: ip netns exec NAME. */
  namespaceCommand(host: Host): string[] {
    return ['ip', 'netns', 'exec', this.namespace(host)]
  }

  /**
   * The router drops this fraction of the packets it forwards, each independently (nftables
   * `numgen random`: this kernel has no netem), in both directions; null stops it.
   */
  setLoss(fraction: number | null): void {
    const { router } = this.namespaces
    if (fraction === null) {
      inNamespace(router, ['nft', 'delete', 'table', 'inet', 'loss'])
      return
    }
    const perTenThousand = Math.round(fraction * 10_000)
    if (!(perTenThousand >= 0 && perTenThousand <= 10_000)) throw new RangeError(`a loss of ${fraction} is not a fraction`)
    const rules = `table inet loss {
  chain forward {
    type filter hook forward priority -10; policy accept;
    counter
    numgen random mod 10000 < ${perTenThousand} counter drop
  }
}
`
    inNamespace(router, ['nft', '-f', '-'], rules)
  }

  /** Packets the router saw and dropped since setLoss (nftables counters). */
  lossCounters(): { packets: number; dropped: number } {
    const listing = inNamespace(this.namespaces.router, ['nft', 'list', 'table', 'inet', 'loss'])
    const [packets, dropped] = [...listing.matchAll(/counter packets (\d+)/g)].map((match) => Number(match[1]))
    return { packets, dropped }
  }

  /** Takes the host's own interface down: the other host now talks into a void, with no RST and no ICMP. */
  cutLink(host: Host): void {
    ip('-n', this.namespace(host), 'link', 'set', { client: 'c0', proxy: 'p0', server: 's0' }[host], 'down')
  }

  /** TCP segments each socket of a host has sent (ss segs_out, keepalive probes included), by local port. */
  segmentsSent(host: Host): Map<number, number> {
    const sent = new Map<number, number>()
    let port: number | undefined
    for (const line of inNamespace(this.namespace(host), ['ss', '-tniH']).split('\n')) {
      const local = /^\S+\s+\d+\s+\d+\s+\S+:(\d+)\s/.exec(line)
      if (local) port = Number(local[1])
      const segments = /segs_out:(\d+)/.exec(line)
      if (segments && port !== undefined) sent.set(port, Number(segments[1]))
    }
    return sent
  }

  /** ss -tnoi inside a host's namespace, for one local port. */
  ss(host: Host, localPort: number): string {
    return inNamespace(this.namespace(host), ['ss', '-tnoiH', `sport = :${localPort}`])
  }

  /** The server host crashes (its programs and all its connection state vanish) and comes back with the same address. */
  rebootServer(): void {
    // The link goes first: a crashing host sends nothing, but a program killed
    // while its link is up has its kernel close its sockets with a FIN.
    // Deleting the router's end destroys the pair at once.
    ip('-n', this.namespaces.router, 'link', 'del', 'rs')
    for (const peer of this.peers) if (peer.host === 'server') peer.kill()
    deleteNamespace(this.namespaces.server)
    ip('netns', 'add', this.namespaces.server)
    ip('-n', this.namespaces.server, 'link', 'set', 'lo', 'up')
    this.joinRouter('server')
  }

  close(): void {
    for (const peer of this.peers) peer.kill()
    for (const name of Object.values(this.namespaces)) if (name !== undefined) deleteNamespace(name)
  }
}

/** A peer program running in a namespace: its events so far, and a way to wait for more. */
export class Peer {
  readonly events: PeerEvent[] = []
  private readonly waiters = new Set<() => void>()
  private stderr = ''

  constructor(
    private readonly child: ChildProcess,
    readonly host: Host,
  ) {
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      this.events.push(JSON.parse(line) as PeerEvent)
      for (const wake of this.waiters) wake()
    })
    child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()))
    child.on('exit', () => {
      for (const wake of this.waiters) wake()
    })
  }

  /** The first event (past or future) that matches, or a rejection after timeoutMs. */
  next(matches: (event: PeerEvent) => boolean, timeoutMs: number): Promise<PeerEvent> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.events.find(matches)
        if (found) return done(() => resolve(found))
        if (this.child.exitCode !== null || this.child.signalCode !== null) {
          done(() => reject(new Error(`lab peer exited (${this.child.exitCode ?? this.child.signalCode}): ${this.stderr.trim()}`)))
        }
      }
      const timer = setTimeout(() => done(() => reject(new Error(`lab peer: no matching event within ${timeoutMs} ms`))), timeoutMs)
      const done = (settle: () => void) => {
        clearTimeout(timer)
        this.waiters.delete(check)
        settle()
      }
      this.waiters.add(check)
      check()
    })
  }

  /** The first event of a kind for a connection, if it happened. */
  find<K extends PeerEvent['event']>(kind: K, name: string): Extract<PeerEvent, { event: K }> | undefined {
    return this.events.find((event) => event.event === kind && 'name' in event && event.name === name) as
      Extract<PeerEvent, { event: K }> | undefined
  }

  send(command: PeerCommand): void {
    this.child.stdin!.write(`${JSON.stringify(command)}\n`)
  }

  /** SIGSTOP hangs the program (its kernel still answers for its sockets); SIGCONT resumes it. */
  signal(signal: 'SIGSTOP' | 'SIGCONT'): void {
    this.child.kill(signal) // ip netns exec execs the program: the child is the peer itself
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL')
  }
}
