// The packed tarball as a user gets it: what it contains, and `npm install`
// into a fresh project on a PATH with no compiler (only node and npm): with
// the prebuilds, without them, and with --ignore-scripts.
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { canRun, closeAll, tempDir } from './helpers.js'

const root = path.join(__dirname, '..')
const PREBUILDS = [
  'linux-arm64/tcp-keepalive.glibc.node',
  'linux-arm64/tcp-keepalive.musl.node',
  'linux-x64/tcp-keepalive.glibc.node',
  'linux-x64/tcp-keepalive.musl.node',
].map((file) => `prebuilds/${file}`)

/** What users need: the built JS and types, the docs README.md links to (and the measurements they cite), the native sources for a source build, the prebuilds, the install step. */
const ALLOWED = [
  /^(package\.json|README\.md|LICENSE|binding\.gyp|scripts\/install\.cjs)$/,
  /^docs\/[a-z-]+\.md$/,
  /^bench\/RESULTS\.md$/,
  /^dist\/.+\.(js|mjs|cjs|d\.ts|d\.mts|d\.cts)$/,
  /^native\/[a-z_]+\.(cc|h)$/,
  /^vendor\/node-addon-api\/(napi\.h|napi-inl\.h|napi-inl\.deprecated\.h|LICENSE\.md|README\.md)$/,
  /^prebuilds\/linux-(x64|arm64)\/tcp-keepalive\.(glibc|musl)\.node$/,
]

let work: string
let tarball: string
let files: Array<{ path: string; size: number }>
// Decided when tests are collected, before beforeAll runs; the tarball test below checks they were packed.
const haveAll = PREBUILDS.every((file) => existsSync(path.join(root, file)))

beforeAll(() => {
  work = tempDir('install')
  const [packed] = JSON.parse(
    execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }),
  )
  tarball = path.join(work, packed.filename)
  files = packed.files
  console.log(`tarball: ${packed.size} bytes packed, ${packed.unpackedSize} unpacked, ${files.length} files`)
  for (const file of files.filter((f) => f.path.endsWith('.node'))) console.log(`  ${file.path}: ${file.size} bytes`)
})
afterAll(closeAll)

describe('the tarball', () => {
  it('holds only what users need, and no source map pointing at unshipped sources', () => {
    expect(files.map((f) => f.path).filter((file) => !ALLOWED.some((pattern) => pattern.test(file)))).toEqual([])
    expect(files.some((f) => f.path === 'dist/index.js')).toBe(true)
    // README.md's links into docs/ work from node_modules too.
    expect(files.filter((f) => f.path.startsWith('docs/')).map((f) => f.path)).toEqual(
      readdirSync(path.join(root, 'docs'))
        .filter((file) => file.endsWith('.md'))
        .map((file) => `docs/${file}`)
        .sort(),
    )
    expect(files.some((f) => f.path === 'bench/RESULTS.md')).toBe(true) // docs/ cites it
    for (const file of files.filter((f) => /\.[mc]?js$/.test(f.path))) {
      expect(readFileSync(path.join(root, file.path), 'utf8'), file.path).not.toMatch(/sourceMappingURL/)
    }
  })

  it("vendors node-addon-api unchanged (the devDependency's headers), and depends on nothing that runs node-gyp", () => {
    for (const file of ['napi.h', 'napi-inl.h', 'napi-inl.deprecated.h', 'LICENSE.md']) {
      expect(
        readFileSync(path.join(root, 'vendor', 'node-addon-api', file)).equals(
          readFileSync(path.join(root, 'node_modules', 'node-addon-api', file)),
        ),
        file,
      ).toBe(true)
    }
    const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>
      dependencies: Record<string, string>
    }
    // yarn 4 adds node-gyp@latest to a package whose scripts name node-gyp or prebuild-install (this one's, and each dependency's).
    const namesNodeGyp = (scripts: Record<string, string> = {}) =>
      Object.values(scripts).filter((script) => /\b(node-gyp|prebuild-install)\b/.test(script))
    expect(namesNodeGyp(manifest.scripts)).toEqual([])
    for (const dependency of Object.keys(manifest.dependencies)) {
      const { scripts } = JSON.parse(readFileSync(path.join(root, 'node_modules', dependency, 'package.json'), 'utf8')) as {
        scripts?: Record<string, string>
      }
      expect(namesNodeGyp(scripts), dependency).toEqual([])
    }
  })

  it.skipIf(!canRun('the four prebuilds (npm run prebuilds)', haveAll || process.env.CI === 'true'))('ships all four prebuilds', () => {
    expect(files.map((f) => f.path).filter((file) => file.startsWith('prebuilds/'))).toEqual(PREBUILDS)
  })
})

/** A PATH with node, npm and sh only (as in a node:slim image): no make, no compiler, no python. */
function compilerlessPath(): string {
  const bin = path.join(work, 'bin')
  mkdirSync(bin, { recursive: true })
  for (const name of ['node', 'npm', 'sh']) {
    try {
      symlinkSync(execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim(), path.join(bin, name))
    } catch {
      // already linked by an earlier test
    }
  }
  return bin
}

/** Installs `tarballFile` into a new project; returns npm's result and what the package reports there. */
function install(name: string, tarballFile: string, extra: string[] = [], env: Record<string, string> = {}) {
  const app = path.join(work, name)
  mkdirSync(app)
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true }))
  const userconfig = path.join(work, 'npmrc') // no nodedir from the machine's ~/.npmrc: a user's machine has none
  writeFileSync(userconfig, '')
  const environment = {
    ...process.env,
    PATH: compilerlessPath(),
    npm_config_userconfig: userconfig,
    npm_config_nodedir: '',
    CI: '',
    TCP_KEEPALIVE_REQUIRE_NATIVE: '',
    ...env,
  }
  const result = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', ...extra, tarballFile], {
    cwd: app,
    env: environment,
    encoding: 'utf8',
  })
  const report = (loader: string) =>
    result.status === 0
      ? JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', loader], { cwd: app, encoding: 'utf8', env: environment }))
      : null
  return {
    result,
    require: report(`import { createRequire } from 'node:module'
      const { keepaliveSupport: s } = createRequire(import.meta.url)('tcp-keepalive')
      console.log(JSON.stringify({ native: s.native, reason: s.reason }))`),
    import: report(`const { keepaliveSupport: s } = await import('tcp-keepalive')
      console.log(JSON.stringify({ native: s.native, reason: s.reason }))`),
  }
}

/** The tarball without its prebuilds: a platform none of them matches. */
function withoutPrebuilds(): string {
  const unpacked = path.join(work, 'unpacked')
  mkdirSync(unpacked)
  execFileSync('tar', ['-xzf', tarball, '-C', unpacked])
  execFileSync('rm', ['-rf', path.join(unpacked, 'package', 'prebuilds')])
  const stripped = path.join(work, 'no-prebuilds.tgz')
  execFileSync('tar', ['-czf', stripped, '-C', unpacked, 'package'])
  return stripped
}

describe.skipIf(!canRun('the four prebuilds (npm run prebuilds)', haveAll || process.env.CI === 'true'))(
  'npm install with no compiler',
  () => {
    it('with the prebuilds: native for require and import', { timeout: 120_000 }, () => {
      const { result, require, import: esm } = install('with-prebuilds', tarball)
      expect(result.status, result.stderr).toBe(0)
      expect(require).toEqual({ native: true, reason: null })
      expect(esm).toEqual({ native: true, reason: null })
    })

    it('with --ignore-scripts: native still loads from the prebuild', { timeout: 120_000 }, () => {
      const { result, require } = install('ignore-scripts', tarball, ['--ignore-scripts'])
      expect(result.status, result.stderr).toBe(0)
      expect(require).toEqual({ native: true, reason: null })
    })

    it(
      "without a matching prebuild: the install succeeds, says why in one line, and the package runs on Node's setKeepAlive",
      { timeout: 120_000 },
      () => {
        const stripped = withoutPrebuilds()
        // npm shows a dependency's install output only with --foreground-scripts (or when it fails).
        const { result, require, import: esm } = install('no-prebuilds', stripped, ['--foreground-scripts'])
        expect(result.status, result.stderr).toBe(0)
        const lines = result.stderr.split('\n').filter((line) => line.startsWith('tcp-keepalive:'))
        expect(lines).toEqual([
          expect.stringMatching(/^tcp-keepalive: no prebuilt binary for linux-x64 and the source build failed .*npm rebuild tcp-keepalive/),
        ])
        expect(require).toEqual({
          native: false,
          reason: expect.stringMatching(
            /^no binary for linux-x64 in \S+\/no-prebuilds\/node_modules\/tcp-keepalive \(no prebuild matches and none was built\): install a C\+\+ toolchain and run 'npm rebuild tcp-keepalive'$/,
          ),
        })
        expect(esm).toEqual(require)

        const strict = install('no-prebuilds-required', stripped, [], { TCP_KEEPALIVE_REQUIRE_NATIVE: '1' })
        expect(strict.result.status).not.toBe(0)
        expect(strict.result.stderr).toContain('TCP_KEEPALIVE_REQUIRE_NATIVE=1 requires it')
      },
    )
  },
)
