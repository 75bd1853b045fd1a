// A link with a real round-trip time, for the HTTP reuse races. This kernel
// has no netem (and no fq for EDT pacing), so the router's kernel stops
// forwarding and a small userspace router takes over: it reads each frame
// addressed to the router from one veth end (AF_PACKET), holds it for the
// one-way delay, and sends it out the other end with the next hop's MAC.
// Every packet is delayed the same in both directions, in order, unchanged
// but for the TCP checksum, which the sender's veth left to an offload that
// never comes: the two hosts see the same TCP they would across a path with
// that RTT. It runs in the router's namespace; python3 is in CI. Meant for
// small messages: a bulk sender's offloaded frames larger than the MTU cannot
// be sent on and are dropped (reported on stderr), which no real link does.
import type { Lab } from './lab.js'

/**
 * argv: one-way delay in ms, then interface=address of the host at its far end, for the
 * router's two links. The kernel answers ARP and anything addressed to the router itself.
 */
const DELAY_LINE = String.raw`
import collections, select, socket, struct, sys, time
delay = float(sys.argv[1]) / 1000
links = [arg.split('=') for arg in sys.argv[2:]]
with open('/proc/sys/net/ipv4/ip_forward', 'w') as f:
    f.write('0')  # from now on only this program forwards

own = set()  # the router's own addresses: the kernel answers those

def mac_of(address):
    # A datagram to the host makes the kernel resolve its MAC; read it from the ARP table.
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.connect((address, 9))
    own.add(socket.inet_aton(probe.getsockname()[0]))
    for _ in range(250):
        try:
            probe.send(b'')
        except OSError:
            pass  # the host's port unreachable, reported on the next send
        for line in open('/proc/net/arp').read().splitlines()[1:]:
            fields = line.split()
            if fields[0] == address and fields[2] == '0x2':
                return bytes.fromhex(fields[3].replace(':', ''))
        time.sleep(0.02)
    sys.exit('delay line: no ARP answer from ' + address)

def with_tcp_checksum(frame):
    ip = 14
    header = (frame[ip] & 15) * 4
    if frame[ip + 9] != 6:  # not TCP
        return frame
    end = ip + int.from_bytes(frame[ip + 2:ip + 4], 'big')
    segment = frame[ip + header:end]
    summed = frame[ip + 12:ip + 20] + b'\x00\x06' + len(segment).to_bytes(2, 'big') + segment[:16] + segment[18:]
    summed += b'\x00' * (len(summed) % 2)
    total = sum(struct.unpack('!%dH' % (len(summed) // 2), summed))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    checksum = (~total & 0xFFFF).to_bytes(2, 'big')
    return frame[:ip + header + 16] + checksum + frame[ip + header + 18:]

ends = []
for name, address in links:
    end = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))  # ETH_P_ALL
    end.bind((name, 3))
    ends.append((end, end.getsockname()[4], mac_of(address)))
# A frame in on one end goes out the other, its Ethernet header rewritten as a router would: next hop, then ours.
out = {ends[0][0]: (ends[1][0], ends[1][2] + ends[1][1]), ends[1][0]: (ends[0][0], ends[0][2] + ends[0][1])}
queue = collections.deque()
print('ready', flush=True)
while True:
    wait = max(0.0, queue[0][0] - time.monotonic()) if queue else None
    readable, _, _ = select.select(list(out), [], [], wait)
    for end in readable:
        frame, (_, _, kind, _, _) = end.recvfrom(65535)
        # Only IPv4 frames sent to the router's MAC (not the copies of what it sends) and not for the router itself.
        if kind != socket.PACKET_HOST or frame[12:14] != b'\x08\x00' or frame[30:34] in own:
            continue
        target, header = out[end]
        queue.append((time.monotonic() + delay, target, header + with_tcp_checksum(frame)[12:]))
    now = time.monotonic()
    while queue and queue[0][0] <= now:
        _, target, frame = queue.popleft()
        try:
            target.send(frame)
        except OSError as error:
            print('delay line: ' + str(error), file=sys.stderr, flush=True)
`

/** The host at the far end of the router's client-side link (lab.ts: the client, or the proxy host when there is one). */
const ROUTER_CLIENT_SIDE_NEIGHBOUR = '192.0.2.2'

/**
 * Gives the path through the lab's router a round-trip time of 2 x oneWayMs, until the lab
 * closes (the program dies with the router's namespace).
 */
export async function delayRouter(lab: Lab, oneWayMs: number): Promise<void> {
  const line = lab.spawn('router', [
    'python3',
    '-c',
    DELAY_LINE,
    String(oneWayMs),
    `rc=${ROUTER_CLIENT_SIDE_NEIGHBOUR}`,
    `rs=${lab.serverAddress}`,
  ])
  let errors = ''
  line.stderr!.on('data', (chunk: Buffer) => (errors += chunk.toString()))
  let timer: NodeJS.Timeout | undefined
  try {
    await new Promise<void>((resolve, reject) => {
      line.stdout!.once('data', () => resolve())
      line.once('exit', (code) => reject(new Error(`lab: the delay line exited (${code}): ${errors.trim()}`)))
      line.once('error', reject)
      timer = setTimeout(() => reject(new Error('lab: the delay line did not start within 10 s')), 10_000)
    })
  } finally {
    clearTimeout(timer)
  }
}
