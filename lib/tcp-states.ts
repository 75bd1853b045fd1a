// TCP state names by the kernel's number (include/net/tcp_states.h), as
// TCP_INFO and /proc/net/tcp report them.
const TCP_STATES = [
  'UNKNOWN',
  'ESTABLISHED',
  'SYN_SENT',
  'SYN_RECV',
  'FIN_WAIT1',
  'FIN_WAIT2',
  'TIME_WAIT',
  'CLOSE',
  'CLOSE_WAIT',
  'LAST_ACK',
  'LISTEN',
  'CLOSING',
  'NEW_SYN_RECV',
] as const

export function tcpStateName(state: number): string {
  return TCP_STATES[state] ?? `UNKNOWN(${state})`
}
