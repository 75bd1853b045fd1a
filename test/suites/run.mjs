// Other projects' own test suites, run plainly and under the preload with
// each rule in RULES: every test file that passes plainly must pass under
// both, and the package must print nothing there (issue 26). The suites come
// from Debian's source packages (pinned in SUITES: Node's own tests and ws's;
// npm's packages of ws and undici ship no tests, and CI reaches only npm and
// Debian), with the test runners from npm, all cached in
// $TCP_KEEPALIVE_TOOLS/suites like scripts/tools.sh's tools. Node's tests are
// run on the Node that runs this script, which must be of their major.
//
//   node test/suites/run.mjs [--jobs 2] [--only node,ws] [--json file] [--preload another/dist/register.js] [--first-slot 0]
//
// Exit 0 when the rule holds for every suite; 1 with the differences otherwise.
import { execFileSync, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, homedir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.join(here, '..', '..')
/** The preload under test: this checkout's, or (--preload) another build's, to compare. */
let preload = path.join(root, 'dist', 'register.js')
const cache = path.join(process.env.TCP_KEEPALIVE_TOOLS || path.join(homedir(), '.cache', 'tcp-keepalive-tools'), 'suites')

const RULES = ['idle=30s interval=5s count=3 user-timeout=40s', 'idle=1s interval=1s count=1 user-timeout=2s']
/** What the package prints (warnings, the preload's errors) or shows (a state symbol): not a path such as tcp-keepalive-tools/. */
const OURS = /TcpKeepaliveWarning|TCP_KEEPALIVE_[A-Z]|tcp-keepalive: |tcp-keepalive\/register: |Symbol\(tcp-keepalive/
/** Per test file and run; a file that takes longer fails. */
const TIMEOUT_MS = 60_000

/** Debian trixie's source packages; `files` are the test files to run, relative to the unpacked tree. */
const SUITES = {
  node: {
    source: 'nodejs=20.19.2+dfsg-1+deb13u3',
    major: 20,
    extract: ['*/test/*'], // not the sources: the tests and their fixtures
    files: (tree) => pinned('node.txt').map((file) => path.join(tree, file)),
    command: (file) => [...flagsOf(file), file],
  },
  ws: {
    source: 'node-ws=8.18.1+~cs14.18.2-1',
    npm: { mocha: '8.4.0' }, // ws's own devDependency (^8.4.0)
    files: (tree) => listed(path.join(tree, 'test'), /\.test\.js$/),
    // As ws's `npm test` runs them (without nyc): _mocha runs in this node, under its --require.
    command: (file, tree) => ['--throw-deprecation', path.join(tree, '.tools', 'node_modules', 'mocha', 'bin', '_mocha'), file],
  },
}

/** A pinned list next to this script: one path a line, # comments. */
function pinned(name) {
  return readFileSync(path.join(here, name), 'utf8')
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .filter(Boolean)
}

function listed(dir, pattern) {
  return readdirSync(dir)
    .filter((name) => pattern.test(name))
    .sort()
    .map((name) => path.join(dir, name))
}

/** A Node test's `// Flags:` line, passed to node as Node's test.py does. */
function flagsOf(file) {
  const match = /\/\/\s+Flags:(.*)/.exec(readFileSync(file, 'utf8'))
  return match ? match[1].trim().split(/\s+/) : []
}

/** apt-get with its lists in the cache: the deb-src entry for trixie without touching the system's sources. */
function apt(...args) {
  const dir = path.join(cache, 'apt')
  mkdirSync(path.join(dir, 'lists', 'partial'), { recursive: true })
  const key = '/usr/share/keyrings/debian-archive-keyring.gpg'
  writeFileSync(path.join(dir, 'sources.list'), `deb-src [signed-by=${key}] http://deb.debian.org/debian trixie main\n`)
  const options = [
    `Dir::Etc::SourceList=${path.join(dir, 'sources.list')}`,
    'Dir::Etc::SourceParts=/dev/null',
    'APT::Sandbox::User=root', // the cache is root's: apt's _apt user cannot write there
    `Dir::State::Lists=${path.join(dir, 'lists')}`,
    `Dir::Cache=${path.join(dir, 'cache')}`,
  ].flatMap((option) => ['-o', option])
  return execFileSync('apt-get', [...options, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
}

/** The source package's upstream tree, unpacked once into the cache (the orig tarball, checked against apt's SHA256). */
async function sourceTree(name, suite) {
  const tree = path.join(cache, suite.source.replace(/[=~+]/g, '_'))
  if (existsSync(path.join(tree, '.complete'))) return tree
  apt('update', '-qq')
  const uris = apt('source', '--print-uris', suite.source)
  const orig = /^'(\S+)' (\S+\.orig\.tar\.\w+) \d+ SHA256:(\w+)$/m.exec(uris)
  if (!orig) throw new Error(`${name}: no orig tarball for ${suite.source} in:\n${uris}`)
  const [, url, file, sha256] = orig
  const response = await fetch(url)
  if (!response.ok) throw new Error(`${name}: ${url}: ${response.status}`)
  const bytes = Buffer.from(await response.arrayBuffer())
  const got = createHash('sha256').update(bytes).digest('hex')
  if (got !== sha256) throw new Error(`${name}: ${file}: SHA256 ${got}, apt says ${sha256}`)
  const partial = `${tree}.partial`
  rmSync(partial, { recursive: true, force: true })
  mkdirSync(partial, { recursive: true })
  writeFileSync(path.join(partial, file), bytes)
  execFileSync('tar', ['-xf', file, '--strip-components=1', ...(suite.extract ? ['--wildcards', ...suite.extract] : [])], { cwd: partial })
  rmSync(path.join(partial, file))
  // The runner apart from the tree (npm install inside it would install the project's whole devDependencies).
  const tools = Object.entries(suite.npm ?? {}).map(([pkg, version]) => `${pkg}@${version}`)
  if (tools.length > 0) {
    mkdirSync(path.join(partial, '.tools'))
    writeFileSync(path.join(partial, '.tools', 'package.json'), '{"private":true}\n')
    execFileSync('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', ...tools], {
      cwd: path.join(partial, '.tools'),
      stdio: ['ignore', 'ignore', 'inherit'],
    })
  }
  writeFileSync(path.join(partial, '.complete'), '')
  rmSync(tree, { recursive: true, force: true })
  renameSync(partial, tree)
  return tree
}

/** One run of a test file: plainly (rule null) or under the preload with a rule. */
function runOnce(args, cwd, slot, rule) {
  return new Promise((resolve) => {
    const env = { ...process.env, NODE_OPTIONS: '', NODE_COMMON_PORT: String(12346 + slot * 100), TEST_THREAD_ID: String(slot) }
    delete env.TCP_KEEPALIVE
    if (rule !== null) env.TCP_KEEPALIVE = rule
    const child = spawn(process.execPath, rule === null ? args : ['--require', preload, ...args], {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (chunk) => (output += chunk))
    child.stderr.on('data', (chunk) => (output += chunk))
    const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ passed: code === 0, code: code ?? signal, printed: OURS.test(output), output })
    })
  })
}

/**
 * A file's outcome: plainly, then (if it passed) under each rule. A file that
 * fails under a rule, or prints something of ours there, is run again plainly
 * and under that rule: a difference counts only when it shows twice (Node's own
 * tests have flaky ones, which fail plainly too now and then).
 */
async function runFile(args, cwd, slot) {
  const started = Date.now()
  const plain = await runOnce(args, cwd, slot, null)
  const result = { plain: plain.passed, ms: Date.now() - started, rules: {}, flaky: false, output: {} }
  if (!plain.passed) return result
  for (const rule of RULES) {
    let ruled = await runOnce(args, cwd, slot, rule)
    const bad = (run) => !run.passed || (run.printed && !plain.printed)
    if (bad(ruled)) {
      const again = await runOnce(args, cwd, slot, null)
      const ruledAgain = await runOnce(args, cwd, slot, rule)
      if (!again.passed || !bad(ruledAgain)) result.flaky = true
      if (!bad(ruledAgain)) ruled = ruledAgain
    }
    result.rules[rule] = !bad(ruled)
    if (bad(ruled)) result.output[rule] = `exit ${ruled.code}\n${ruled.output.slice(-3000)}`
  }
  return result
}

async function runSuite(name, jobs) {
  const suite = SUITES[name]
  if (suite.major !== undefined && Number(process.versions.node.split('.')[0]) !== suite.major) {
    throw new Error(`${name}: its tests are Node ${suite.major}'s; this is Node ${process.version}`)
  }
  const tree = await sourceTree(name, suite)
  const files = suite.files(tree)
  const results = new Map()
  let next = 0
  const started = Date.now()
  await Promise.all(
    Array.from({ length: jobs }, async (_, slot) => {
      while (next < files.length) {
        const file = files[next++]
        results.set(file, await runFile(suite.command(file, tree), tree, firstSlot + slot))
      }
    }),
  )
  const all = [...results.values()]
  const summary = {
    suite: name,
    source: suite.source,
    files: files.length,
    passingPlainly: all.filter((each) => each.plain).length,
    ...Object.fromEntries(RULES.map((rule) => [rule, all.filter((each) => each.plain && each.rules[rule]).length])),
    seconds: Math.round((Date.now() - started) / 1000),
  }
  const differences = [...results].filter(([, each]) => each.plain && RULES.some((rule) => !each.rules[rule]))
  const flaky = [...results].filter(([, each]) => each.flaky).map(([file]) => path.relative(tree, file))
  return {
    summary,
    flaky,
    differences: differences.map(([file, each]) => ({ file: path.relative(tree, file), output: each.output })),
    files: Object.fromEntries(
      [...results].map(([file, each]) => [path.relative(tree, file), { plain: each.plain, ms: each.ms, rules: each.rules }]),
    ),
  }
}

const argument = (flag, fallback) => {
  const at = process.argv.indexOf(flag)
  return at > 0 ? process.argv[at + 1] : fallback
}
const jobs = Number(argument('--jobs', String(Math.max(2, availableParallelism()))))
const only = argument('--only', Object.keys(SUITES).join(',')).split(',')
preload = path.resolve(argument('--preload', preload))
/** Each job's TEST_THREAD_ID (its tmpdir) and NODE_COMMON_PORT; another run beside this one takes others. */
const firstSlot = Number(argument('--first-slot', '0'))
if (!existsSync(preload)) throw new Error(`${preload} is missing: npm run build:ts first`)

const reports = []
for (const name of only) {
  const report = await runSuite(name, jobs)
  reports.push(report)
  console.log(JSON.stringify(report.summary))
  if (report.flaky.length > 0) console.log(`  flaky (failed once, then passed): ${report.flaky.join(' ')}`)
  for (const { file, output } of report.differences) {
    for (const [rule, text] of Object.entries(output)) console.log(`\n== ${name}: ${file} fails under TCP_KEEPALIVE="${rule}"\n${text}`)
  }
}
const json = argument('--json', null)
if (json !== null) writeFileSync(json, JSON.stringify(reports, null, 2))
process.exitCode = reports.some((report) => report.differences.length > 0) ? 1 : 0
