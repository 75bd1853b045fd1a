// `ss -tnoi` (iproute2) as an oracle that does not depend on our getsockopt
// code: the kernel's keepalive timer for one connection.
import { execFileSync } from 'node:child_process'

/** Remaining time of the keepalive timer of the connection local → remote port, in ms; null when none is armed. */
export function ssKeepaliveTimer(localPort: number, remotePort?: number): number | null {
  return timerOf(remotePort === undefined ? `sport = :${localPort}` : `( sport = :${localPort} and dport = :${remotePort} )`)
}

/**
 * The keepalive timer of exactly this connection, by its 4-tuple: another
 * connection may share either port, the local one included (one ephemeral
 * port serves connections to different peers).
 */
export function ssConnectionKeepaliveTimer(socket: {
  localAddress?: string
  localPort?: number
  remoteAddress?: string
  remotePort?: number
}): number | null {
  const endpoint = (address = '', port = 0) => (address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`)
  return timerOf(`( src ${endpoint(socket.localAddress, socket.localPort)} and dst ${endpoint(socket.remoteAddress, socket.remotePort)} )`)
}

function timerOf(filter: string): number | null {
  const out = execFileSync('ss', ['-tnoiH', 'state', 'established', filter], { encoding: 'utf8' })
  const timer = /timer:\(keepalive,([^,]+),\d+\)/.exec(out)
  return timer ? parseSsDuration(timer[1]) : null
}

/** Whether the ss command can be run here. */
export function hasSs(): boolean {
  try {
    execFileSync('ss', ['-V'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/**
 * ss prints durations as "119min", "1min58sec", "29sec", "9.500ms" (9.5 s) or
 * "500ms", dropping precision as they grow (iproute2's print_ms_timer): whole
 * minutes from 10 min, whole seconds from 10 s. The result is floored to what was printed.
 */
export function parseSsDuration(text: string): number {
  const match = /^(?:(\d+)min)?(?:(\d+)sec|(\d+)\.(\d{3})ms|(\d+)ms)?$/.exec(text)
  if (!match) throw new Error(`unexpected ss duration: ${text}`)
  const [, min = '0', sec, whole, fraction, ms] = match
  return Number(min) * 60_000 + Number(sec ?? whole ?? 0) * 1000 + Number(fraction ?? ms ?? 0)
}
