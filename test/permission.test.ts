// The binding under Node's own restrictions: --no-addons and the permission
// model. It loads where it is allowed to; elsewhere the fallback says which
// flag is the cause and what fixes it, in keepaliveSupport.reason and in every
// warning about a field it could not set. Loading never throws.
import { execFileSync } from 'node:child_process'
import path from 'node:path'
import { describe, expect, it } from 'vitest'

const root = path.join(__dirname, '..')
// Node 20-23.4 name the permission model --experimental-permission; later ones --permission (and add --allow-net).
const permission = process.allowedNodeEnvironmentFlags.has('--permission') ? '--permission' : '--experimental-permission'
const allowNet = process.allowedNodeEnvironmentFlags.has('--allow-net') ? ['--allow-net'] : []

/** Loads the package, configures a loopback connection with every field, and reports. */
const SCRIPT = `
const net = require('node:net')
const warnings = []
process.on('warning', (warning) => warnings.push(warning.message))
const tk = require(${JSON.stringify(root)})
const server = net.createServer().listen(0, '127.0.0.1', () => {
  const socket = net.connect(server.address().port, '127.0.0.1', () => {
    tk.configureKeepalive(socket, { idle: 31000, interval: 4000, count: 5, userTimeout: 41000 })
    const held = tk.readKeepalive(socket)
    setImmediate(() => {
      console.log(JSON.stringify({ native: tk.keepaliveSupport.native, reason: tk.keepaliveSupport.reason, held, warnings: warnings.filter((w) => w.startsWith('tcp-keepalive')) }))
      process.exit(0)
    })
  })
})
`

function run(flags: string[]): { native: boolean; reason: string | null; held: unknown; warnings: string[] } {
  const stdout = execFileSync(process.execPath, [...flags, '-e', SCRIPT], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  return JSON.parse(stdout)
}

describe("Node's restrictions on addons", () => {
  it('--no-addons: the fallback names the flag, also in the warning for a field it cannot set', () => {
    const out = run(['--no-addons'])
    expect(out.native).toBe(false)
    expect(out.reason).toBe('native addons are disabled (node --no-addons, perhaps through NODE_OPTIONS): drop that flag')
    expect(out.warnings).toContainEqual(expect.stringContaining(`userTimeout: the native binding is not in use (${out.reason}), and`))
  })

  it(`${permission} without --allow-addons: the fallback says to add it`, () => {
    const out = run([permission, `--allow-fs-read=${root}`, ...allowNet])
    expect(out).toMatchObject({
      native: false,
      reason: "the permission model does not allow native addons: add --allow-addons to Node's flags",
    })
  })

  it(`${permission} --allow-addons, reading only the package: the binding loads and every field reaches the kernel`, () => {
    const out = run([permission, '--allow-addons', `--allow-fs-read=${root}`, ...allowNet])
    expect(out).toEqual({
      native: true,
      reason: null,
      held: { enabled: true, idle: 31_000, interval: 4_000, count: 5, userTimeout: 41_000 },
      warnings: [],
    })
  })
})
