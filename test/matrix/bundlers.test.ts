// The packed tarball installed into an app that is then bundled (esbuild to
// CommonJS and to ESM, webpack 5, rollup + commonjs, bun build --compile), each
// bundle run and the kernel's values for its socket read from outside. Beside the
// app's node_modules the binding comes from the installed package; deployed alone a
// bundle falls back and says why, until prebuilds/ is copied beside it or
// TCP_KEEPALIVE_BINDING names the .node file.
import { execFileSync } from 'node:child_process'
import { cpSync, mkdirSync, renameSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { canRun, closeAll, tempDir, toolPath } from '../helpers.js'
import { appSource, HELD, havePrebuilds, pack, runApp, SETTINGS } from './packed.js'

afterAll(closeAll)

const esbuild = toolPath('bundlers')
const bun = toolPath('bun')
const ready = canRun(
  'the bundlers and Bun (scripts/tools.sh install bundlers bun) and the prebuilds (npm run prebuilds)',
  esbuild !== '' && bun !== '' && havePrebuilds,
)
/** The bundlers' node_modules (scripts/tools.sh installs them beside esbuild). */
const bundlers = path.join(esbuild, '..', '..', '..')

const BANNER = "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);"
const FALLBACK = expect.stringMatching(
  /^tcp-keepalive was bundled \(its code runs from .+\), and no binary for linux-x64 was found beside the bundle \(prebuilds\/\) or in an installed tcp-keepalive .+: mark tcp-keepalive external/,
)

let app: string
beforeAll(() => {
  if (!ready) return
  const work = tempDir('bundlers')
  const tarball = pack(work)
  app = path.join(work, 'app')
  mkdirSync(app)
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }))
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts', tarball], {
    cwd: app,
    stdio: 'ignore',
  })
  writeFileSync(path.join(app, 'app.cjs'), appSource('cjs'))
  writeFileSync(path.join(app, 'app.mjs'), appSource('esm'))
  writeFileSync(path.join(app, 'default.mjs'), appSource('esm', 'default'))
}, 120_000)

/** Copies `bundle` alone into a new folder (a deployment without node_modules); returns its new path. */
function deployAlone(bundle: string, name: string): string {
  const dir = tempDir(`deployed-${name}`)
  cpSync(bundle, path.join(dir, path.basename(bundle)))
  return path.join(dir, path.basename(bundle))
}

/** The documented copy step: the installed package's prebuilds/ beside the bundle. */
function copyPrebuilds(besideFile: string): void {
  cpSync(path.join(app, 'node_modules', 'tcp-keepalive', 'prebuilds'), path.join(path.dirname(besideFile), 'prebuilds'), {
    recursive: true,
  })
}

const native = { native: true, reason: null, error: null, kernel: HELD }

describe.skipIf(!ready)('bundled apps', { timeout: 60_000 }, () => {
  it('esbuild --platform=node to CommonJS: native beside node_modules; alone, the fallback names the fix; then prebuilds/ or TCP_KEEPALIVE_BINDING', async () => {
    execFileSync(esbuild, ['app.cjs', '--bundle', '--platform=node', '--outfile=out/esbuild.cjs', '--log-level=error'], { cwd: app })
    const bundle = path.join(app, 'out', 'esbuild.cjs')
    expect(await runApp([process.execPath, bundle], { cwd: app })).toEqual(native)

    const alone = deployAlone(bundle, 'esbuild')
    const fallback = await runApp([process.execPath, alone], { cwd: path.dirname(alone) })
    expect(fallback).toMatchObject({ native: false, reason: FALLBACK, error: null })
    // Node's setKeepAlive still reached the kernel: idle as asked, its own interval 1 s and count 10.
    expect(fallback.kernel).toMatchObject({ enabled: true, idle: SETTINGS.idle })

    const binding = path.join(app, 'node_modules', 'tcp-keepalive', 'prebuilds', 'linux-x64', 'tcp-keepalive.glibc.node')
    expect(await runApp([process.execPath, alone], { cwd: '/', env: { TCP_KEEPALIVE_BINDING: binding } })).toEqual(native)
    expect(await runApp([process.execPath, alone], { cwd: '/', env: { TCP_KEEPALIVE_BINDING: '/nonexistent.node' } })).toMatchObject({
      native: false,
      reason: expect.stringMatching(/^TCP_KEEPALIVE_BINDING=\/nonexistent\.node did not load: /),
    })
    copyPrebuilds(alone)
    expect(await runApp([process.execPath, alone], { cwd: '/' })).toEqual(native)
  })

  it("esbuild --format=esm with the createRequire banner: native (named and default imports); alone, the fallback, then prebuilds/; without the banner esbuild's own shim throws", async () => {
    for (const entry of ['app.mjs', 'default.mjs']) {
      const out = `out/esbuild-${entry}`
      execFileSync(
        esbuild,
        [entry, '--bundle', '--platform=node', '--format=esm', `--outfile=${out}`, `--banner:js=${BANNER}`, '--log-level=error'],
        {
          cwd: app,
        },
      )
      expect(await runApp([process.execPath, path.join(app, out)], { cwd: '/' }), entry).toEqual(native)
    }
    const alone = deployAlone(path.join(app, 'out', 'esbuild-app.mjs'), 'esbuild-esm')
    expect(await runApp([process.execPath, alone], { cwd: '/' })).toMatchObject({ native: false, reason: FALLBACK })
    copyPrebuilds(alone)
    expect(await runApp([process.execPath, alone], { cwd: '/' })).toEqual(native)
    execFileSync(esbuild, ['app.mjs', '--bundle', '--platform=node', '--format=esm', '--outfile=out/no-banner.mjs', '--log-level=error'], {
      cwd: app,
    })
    await expect(runApp([process.execPath, path.join(app, 'out', 'no-banner.mjs')], { cwd: app })).rejects.toThrow(
      /Dynamic require of "node:\w+" is not supported/,
    )
  })

  it('webpack 5 (target node): native beside node_modules; alone, the fallback names the fix; then prebuilds/', async () => {
    const config = `
      const webpack = require(${JSON.stringify(path.join(bundlers, 'webpack'))})
      webpack({ mode: 'production', target: 'node', entry: './app.cjs', output: { path: ${JSON.stringify(path.join(app, 'out'))}, filename: 'webpack.cjs' } }, (error, stats) => {
        if (error || stats.hasErrors()) { console.error(error ?? stats.toString('errors-only')); process.exit(1) }
      })`
    execFileSync(process.execPath, ['-e', config], { cwd: app })
    const bundle = path.join(app, 'out', 'webpack.cjs')
    expect(await runApp([process.execPath, bundle], { cwd: app })).toEqual(native)
    const alone = deployAlone(bundle, 'webpack')
    expect(await runApp([process.execPath, alone], { cwd: '/' })).toMatchObject({ native: false, reason: FALLBACK })
    copyPrebuilds(alone)
    expect(await runApp([process.execPath, alone], { cwd: '/' })).toEqual(native)
  })

  it('rollup + @rollup/plugin-commonjs (ESM output): native beside node_modules; alone, the fallback names the fix; then prebuilds/', async () => {
    const plugin = (name: string) => JSON.stringify(path.join(bundlers, '@rollup', name, 'dist', 'es', 'index.js'))
    writeFileSync(
      path.join(app, 'rollup.config.mjs'),
      `import commonjs from ${plugin('plugin-commonjs')}
       import { nodeResolve } from ${plugin('plugin-node-resolve')}
       export default { input: 'app.mjs', output: { file: 'out/rollup.mjs', format: 'es' },
         plugins: [nodeResolve({ preferBuiltins: true, exportConditions: ['node'] }), commonjs()] }`,
    )
    execFileSync(process.execPath, [path.join(bundlers, 'rollup', 'dist', 'bin', 'rollup'), '-c', 'rollup.config.mjs', '--silent'], {
      cwd: app,
    })
    const bundle = path.join(app, 'out', 'rollup.mjs')
    expect(await runApp([process.execPath, bundle], { cwd: app })).toEqual(native)
    const alone = deployAlone(bundle, 'rollup')
    expect(await runApp([process.execPath, alone], { cwd: '/' })).toMatchObject({ native: false, reason: FALLBACK })
    copyPrebuilds(alone)
    expect(await runApp([process.execPath, alone], { cwd: '/' })).toEqual(native)
  })

  it('bun build --compile: native on the build machine; on one without the app, the fallback until prebuilds/ sits beside the executable', async () => {
    execFileSync(bun, ['build', '--compile', 'app.cjs', '--outfile', 'out/bun-app'], { cwd: app, stdio: 'ignore' })
    const executable = path.join(app, 'out', 'bun-app')
    expect(await runApp([executable], { cwd: '/' })).toEqual(native)
    // The executable holds the build machine's path to node_modules: take that away, as on another machine.
    const alone = deployAlone(executable, 'bun')
    const modules = path.join(app, 'node_modules')
    renameSync(modules, `${modules}.away`)
    try {
      expect(await runApp([alone], { cwd: '/' })).toMatchObject({ native: false, reason: FALLBACK })
      cpSync(path.join(`${modules}.away`, 'tcp-keepalive', 'prebuilds'), path.join(path.dirname(alone), 'prebuilds'), { recursive: true })
      expect(await runApp([alone], { cwd: '/' })).toEqual(native)
    } finally {
      renameSync(`${modules}.away`, modules)
    }
  })
})
