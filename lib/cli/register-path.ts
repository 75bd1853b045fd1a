// `tcp-keepalive register-path`: the preload's absolute path, for launchers
// that start the process in another directory (systemd, PM2, Docker WORKDIR)
// or resolve modules in their own way (Yarn Plug'n'Play, Bun, Deno), where
// `--require tcp-keepalive/register` is not found.
import path from 'node:path'
import { parseArgs } from 'node:util'
import type { Command } from './command.js'

const HELP = `Usage: tcp-keepalive register-path

Prints the absolute path of the preload (tcp-keepalive/register) in this
installation, for a --require that works from any working directory:

  NODE_OPTIONS="--require $(npx tcp-keepalive register-path)"
  bun --preload "$(bunx tcp-keepalive register-path)" app.js

The path is this installation's: print it again after reinstalling or moving
the app. Settings still come from TCP_KEEPALIVE.

Options:
  -h, --help  Show this help
`

/** dist/register.js, beside dist/cli/ (lib/ when run from source). */
export function registerFile(): string {
  return path.join(__dirname, '..', `register${path.extname(__filename)}`)
}

export const registerPath: Command = {
  summary: "Print the preload's absolute path, for --require from any directory",
  help: HELP,
  async run(argv, out) {
    parseArgs({ args: argv, options: {} })
    out.write(`${registerFile()}\n`)
    return 0
  },
}
