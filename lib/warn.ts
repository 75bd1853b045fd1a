// What the package says in a user's process: TcpKeepaliveWarnings, each text
// once. And what it does when its own code fails there: code of ours runs
// inside programs it never saw (listeners, prototype hooks, a diagnostics
// channel subscriber), so a throw of ours must never reach them; it is said
// once, and the program carries on with the connection as it was.

const warned = new Set<string>()

/** Emits a TcpKeepaliveWarning once per process for each distinct text. */
export function warnOnce(text: string, code: string): void {
  if (warned.has(text)) return
  warned.add(text)
  process.emitWarning(text, { type: 'TcpKeepaliveWarning', code })
}

/** Reports a throw caught in code of ours that ran in the user's stead (`where`: what it was doing). */
export function survived(where: string, error: unknown): void {
  try {
    const message = error instanceof Error ? error.message : String(error)
    warnOnce(`tcp-keepalive: ${where} failed, left as it was: ${message}`, 'TCP_KEEPALIVE_FAILED')
  } catch {
    // A 'warning' listener that throws, or an error whose message throws: nothing more to say.
  }
}
