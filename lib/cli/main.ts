#!/usr/bin/env node
// The `tcp-keepalive` command. Exit codes: 0 success, 1 failure, 2 wrong arguments.
import { apply } from './apply.js'
import { type Command, CommandError, UsageError } from './command.js'
import { demo } from './demo.js'
import { doctor } from './doctor.js'
import { inspect } from './inspect.js'
import { measure } from './measure.js'
import { plan } from './plan.js'
import { registerPath } from './register-path.js'
import { VERSION } from '../version.js'

const COMMANDS: Record<string, Command> = { apply, demo, doctor, inspect, measure, plan, 'register-path': registerPath }

const USAGE = `Usage: tcp-keepalive <command> [options]

Commands:
${Object.entries(COMMANDS)
  .map(([name, command]) => `  ${name.padEnd(15)}${command.summary}`)
  .join('\n')}

Options:
  -h, --help     Show this help (also: tcp-keepalive help [command])
  -v, --version  Print the package's version

Run 'tcp-keepalive <command> --help' for a command's options.
`

/** The command called `name`; not a key inherited from Object.prototype (`tcp-keepalive constructor`). */
function commandNamed(name: string | undefined): Command | undefined {
  return name !== undefined && Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined
}

/** The name within two edits of `typed` (a typo, a swap counts as two), or undefined. */
function closest(typed: string, names: string[]): string | undefined {
  const distance = (a: string, b: string) => {
    let previous = Array.from({ length: b.length + 1 }, (_, i) => i)
    for (let i = 1; i <= a.length; i++) {
      const row = [i]
      for (let j = 1; j <= b.length; j++)
        row[j] = Math.min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
      previous = row
    }
    return previous[b.length]
  }
  const [best] = names.map((name) => ({ name, edits: distance(typed.toLowerCase(), name) })).sort((x, y) => x.edits - y.edits)
  return best && best.edits <= 2 ? best.name : undefined
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name === '--version' || name === '-v') {
    process.stdout.write(`${VERSION}\n`)
    return 0
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    // `help <command>` is that command's --help; an unknown one falls through to the error below.
    if (name !== 'help' || rest.length === 0) {
      process.stdout.write(USAGE)
      return 0
    }
    const command = commandNamed(rest[0])
    if (command !== undefined) {
      process.stdout.write(command.help)
      return 0
    }
    return main(rest)
  }
  const command = commandNamed(name)
  if (command === undefined) {
    const guess = name === undefined ? undefined : closest(name, Object.keys(COMMANDS))
    const unknown = name === undefined ? '' : `tcp-keepalive: unknown command '${name}'${guess ? `; did you mean '${guess}'?` : ''}\n\n`
    process.stderr.write(`${unknown}${USAGE}`)
    return 2
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(command.help)
    return 0
  }
  try {
    return await command.run(rest, process.stdout)
  } catch (error) {
    const code = (error as { code?: unknown }).code
    if (error instanceof UsageError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_'))) {
      // parseArgs adds advice about '--' (with an unclosed quote) to an unknown option: its first sentence is the point.
      const message = code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? (error as Error).message.split('. ')[0] : (error as Error).message
      process.stderr.write(`tcp-keepalive ${name}: ${message}\nRun 'tcp-keepalive ${name} --help' for usage.\n`)
      return 2
    }
    if (error instanceof CommandError) {
      process.stderr.write(`tcp-keepalive ${name}: ${error.message}\n`)
      return 1
    }
    throw error
  }
}

if (require.main === module) {
  // A reader that stops early (`tcp-keepalive doctor | head`): stop quietly, as other commands do.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error
    process.exit(0)
  })
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (error: unknown) => {
      process.stderr.write(`tcp-keepalive: ${(error as Error).stack ?? String(error)}\n`)
      process.exitCode = 1
    },
  )
}
