// The packed tarball installed by npm, pnpm, yarn 4 (Plug'n'Play and
// node-modules) and bun into fresh apps, from the npm registry alone (caches
// outside the checkout, as scripts/tools.sh keeps them). Under each: what the
// install says about the blocked install script, that the binding loads natively
// through the manager's `run` (the kernel's values read from outside), and the
// preload by its absolute path (tcp-keepalive register-path) in NODE_OPTIONS through
// `run` and from another working directory; Bun's --preload and bunfig.toml; Deno's --require.
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { canRun, closeAll, tempDir, toolPath } from '../helpers.js'
import { appSource, HELD, havePrebuilds, pack, runApp, TCP_KEEPALIVE } from './packed.js'

afterAll(closeAll)

const tools = process.env.TCP_KEEPALIVE_TOOLS ?? path.join(homedir(), '.cache', 'tcp-keepalive-tools')
const pnpm = toolPath('pnpm')
const yarn = toolPath('yarn')
const bun = toolPath('bun')
const deno = toolPath('deno')
const ready = canRun(
  'pnpm, yarn, bun and deno (scripts/tools.sh install pnpm yarn bun deno) and the prebuilds (npm run prebuilds)',
  [pnpm, yarn, bun, deno].every((tool) => tool !== '') && havePrebuilds,
)

/** What users' shells pass on: not this suite's CI=true (yarn makes installs immutable under CI). */
const userEnv: NodeJS.ProcessEnv = { ...process.env, CI: '', npm_config_nodedir: '', TCP_KEEPALIVE: '', NODE_OPTIONS: '' }

interface Manager {
  name: string
  /** Installs `tarball` in `app`; returns the install's output. */
  install(app: string, tarball: string): string
  /** The command that runs a package.json script. */
  run(script: string): string[]
  /** The command that runs the package's bin. */
  bin(...args: string[]): string[]
  /** What the install prints about the blocked install script (docs/platforms.md quotes it, under "Installing"). */
  blocked: RegExp
}

function sh(command: string[], cwd: string, env: NodeJS.ProcessEnv = userEnv): string {
  const result = spawnSync(command[0], command.slice(1), { cwd, env, encoding: 'utf8' })
  if (result.status !== 0) throw new Error(`${command.join(' ')} exited ${result.status}: ${result.stdout}${result.stderr}`)
  return `${result.stdout}${result.stderr}`
}

const yarnManager = (linker: 'pnp' | 'node-modules'): Manager => ({
  name: `yarn 4 (${linker === 'pnp' ? "Plug'n'Play" : 'node-modules'})`,
  install(app, tarball) {
    writeFileSync(
      path.join(app, '.yarnrc.yml'),
      [
        `nodeLinker: ${linker}`,
        'npmRegistryServer: "https://registry.npmjs.org"',
        'enableGlobalCache: true',
        `globalFolder: ${JSON.stringify(path.join(tools, 'yarn-global'))}`,
        'enableTelemetry: false',
      ].join('\n'),
    )
    writeFileSync(path.join(app, 'yarn.lock'), '')
    return sh([process.execPath, yarn, 'add', `tcp-keepalive@file:${tarball}`], app)
  },
  run: (script) => [process.execPath, yarn, 'run', script],
  bin: (...args) => [process.execPath, yarn, 'tcp-keepalive', ...args],
  blocked: /tcp-keepalive@file:.+ lists build scripts, but all build scripts have been disabled/,
})

const MANAGERS: Manager[] = [
  {
    name: 'npm',
    install: (app, tarball) => sh(['npm', 'install', '--no-audit', '--no-fund', '--prefer-offline', tarball], app),
    run: (script) => ['npm', 'run', '--silent', script],
    bin: (...args) => ['npm', 'exec', '--', 'tcp-keepalive', ...args],
    blocked: /npm warn install-scripts {3}tcp-keepalive@[\d.]+ \(install: node scripts\/install\.cjs/,
  },
  {
    name: 'pnpm 10',
    install: (app, tarball) => sh([process.execPath, pnpm, 'add', '--store-dir', path.join(tools, 'pnpm-store'), tarball], app),
    run: (script) => [process.execPath, pnpm, 'run', '--silent', script],
    bin: (...args) => [process.execPath, pnpm, 'exec', 'tcp-keepalive', ...args],
    blocked: /Ignored build scripts: tcp-keepalive@file:/,
  },
  yarnManager('pnp'),
  yarnManager('node-modules'),
  {
    name: 'bun',
    install: (app, tarball) => sh([bun, 'add', tarball], app, { ...userEnv, BUN_INSTALL_CACHE_DIR: path.join(tools, 'bun-install-cache') }),
    run: (script) => [bun, 'run', script],
    bin: (...args) => [bun, 'x', 'tcp-keepalive', ...args],
    blocked: /Blocked 1 postinstall/,
  },
]

let tarball: string
beforeAll(() => {
  if (ready) tarball = pack(tempDir('package-managers'))
})

const native = { native: true, reason: null, error: null, kernel: HELD }
const preloadEnv = (register: string): NodeJS.ProcessEnv => ({ ...userEnv, TCP_KEEPALIVE, NODE_OPTIONS: `--require ${register}` })

describe.skipIf(!ready).each(MANAGERS)('$name', { timeout: 120_000 }, (manager) => {
  let app: string
  let output: string
  let register: string
  beforeAll(() => {
    app = tempDir(`pm-${manager.name.replace(/\W+/g, '-')}`)
    const scripts = { app: 'node app.cjs', preloaded: 'node preloaded.cjs' }
    writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, scripts }))
    output = manager.install(app, tarball)
    writeFileSync(path.join(app, 'app.cjs'), appSource('cjs'))
    writeFileSync(path.join(app, 'preloaded.cjs'), appSource('cjs', 'preloaded'))
    register = sh(manager.bin('register-path'), app).trim().split('\n').at(-1)!
  }, 120_000)

  it('installs without node-gyp, and says the install script was blocked (the prebuild makes it unnecessary)', () => {
    expect(output).toMatch(manager.blocked)
    const lock = ['yarn.lock', 'pnpm-lock.yaml', 'package-lock.json', 'bun.lock'].map((file) => path.join(app, file)).find(existsSync)!
    expect(readFileSync(lock, 'utf8')).not.toMatch(/node-gyp@|node-gyp":|\/node-gyp\//)
  })

  it("the binding loads natively through the manager's run", async () => {
    expect(await runApp(manager.run('app'), { cwd: app, env: userEnv })).toEqual(native)
  })

  it('register-path prints an absolute path to the preload in this install', () => {
    expect(path.isAbsolute(register)).toBe(true)
    expect(register).toMatch(/[\\/]tcp-keepalive[\\/]dist[\\/]register\.js$/)
    expect(existsSync(register)).toBe(true)
  })

  it('NODE_OPTIONS="--require <register-path>" through the manager\'s run: every field on the app\'s connection', async () => {
    expect(await runApp(manager.run('preloaded'), { cwd: app, env: preloadEnv(register) })).toEqual(native)
  })

  // Under Plug'n'Play, node started directly needs the app's .pnp.cjs first, as yarn's own run gives it.
  it('the same preload from another working directory, node started directly', async () => {
    const pnp = path.join(app, '.pnp.cjs')
    const env = preloadEnv(register)
    if (existsSync(pnp)) env.NODE_OPTIONS = `--require ${pnp} ${env.NODE_OPTIONS}`
    expect(await runApp([process.execPath, path.join(app, 'preloaded.cjs')], { cwd: '/', env })).toEqual(native)
  })
})

describe.skipIf(!ready)('the preload in other runtimes and places (an npm install)', { timeout: 120_000 }, () => {
  let app: string
  let register: string
  beforeAll(() => {
    app = tempDir('pm-runtimes')
    writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }))
    MANAGERS[0].install(app, tarball)
    writeFileSync(path.join(app, 'preloaded.cjs'), appSource('cjs', 'preloaded'))
    register = execFileSync(
      process.execPath,
      [path.join(app, 'node_modules', 'tcp-keepalive', 'dist', 'cli', 'main.js'), 'register-path'],
      {
        encoding: 'utf8',
      },
    ).trim()
  }, 120_000)

  it('--require tcp-keepalive/register is resolved from the working directory: elsewhere it is not found, the absolute path is', () => {
    const env = { ...userEnv, TCP_KEEPALIVE, NODE_OPTIONS: '--require tcp-keepalive/register' }
    const result = spawnSync(process.execPath, ['-e', '0'], { cwd: '/', env, encoding: 'utf8' })
    expect(result.status).not.toBe(0)
    expect(result.stderr).toContain("Cannot find module 'tcp-keepalive/register'")
    expect(spawnSync(process.execPath, ['-e', '0'], { cwd: '/', env: preloadEnv(register) }).status).toBe(0)
  })

  it('Bun ignores NODE_OPTIONS; bun --preload <register-path> from anywhere, and bunfig.toml in the app, set every field', async () => {
    const script = path.join(app, 'preloaded.cjs')
    expect(await runApp([bun, script], { cwd: app, env: preloadEnv(register) })).toMatchObject({ native: true, kernel: { enabled: false } })
    expect(await runApp([bun, '--preload', register, script], { cwd: '/', env: { ...userEnv, TCP_KEEPALIVE } })).toEqual(native)
    writeFileSync(path.join(app, 'bunfig.toml'), 'preload = ["tcp-keepalive/register"]\n')
    expect(await runApp([bun, script], { cwd: app, env: { ...userEnv, TCP_KEEPALIVE } })).toEqual(native)
  })

  it('Deno: --require <register-path> from anywhere sets every field (its sockets found by their addresses)', async () => {
    const outcome = await runApp([deno, 'run', '-A', '--require', register, path.join(app, 'preloaded.cjs')], {
      cwd: '/',
      env: { ...userEnv, TCP_KEEPALIVE },
    })
    expect(outcome).toEqual(native)
  })
})
