// The zero-code preload: `node --require tcp-keepalive/register app.js` (or
// --import; or NODE_OPTIONS for any launcher). Configured by TCP_KEEPALIVE,
// e.g. "idle=30s interval=5s count=3 user-timeout=40s ports=5432,6379":
// every TCP connection the process opens or accepts (on those ports) gets the
// settings. Empty or unset: nothing. Malformed: the process stops at start
// with one line naming the bad token.
import { writeSync } from 'node:fs'
import { parseSettings, SettingError, VARIABLE } from './environment.js'
import { keepaliveProcess } from './process.js'

/**
 * Writes all of `text` before the process exits: process.stderr on a pipe
 * queues what the pipe cannot take at once, and exit drops the queue.
 */
function writeFully(fd: number, text: string): void {
  const bytes = Buffer.from(text)
  for (let offset = 0; offset < bytes.length;) {
    try {
      offset += writeSync(fd, bytes, offset)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') return // stderr is gone: nothing more to say
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1) // the reader is behind: wait 1 ms
    }
  }
}

function register(): void {
  let settings: ReturnType<typeof parseSettings>
  try {
    settings = parseSettings(process.env[VARIABLE] ?? '')
  } catch (error) {
    if (!(error instanceof SettingError)) throw error
    writeFully(2, `tcp-keepalive/register: ${error.message}\n`)
    process.exit(9) // Node's own exit code for an invalid argument
  }
  if (settings === null) return
  keepaliveProcess(settings.options, { outgoing: true, accepted: true, ports: settings.ports })
}

register()
