// What every CLI command provides, and the one error type for bad input.
import type { Writable } from 'node:stream'

export interface Command {
  /** One line for the command list. */
  summary: string
  help: string
  /** Resolves to the exit code. */
  run(argv: string[], out: Writable & { isTTY?: boolean }): Promise<number>
}

/** Wrong arguments: printed without a stack trace, exit code 2. */
export class UsageError extends Error {}

/** An expected failure (no permission, no such process, not root): printed without a stack trace, exit code 1. */
export class CommandError extends Error {}
