#!/usr/bin/env node
// npm's install step. node-gyp-build uses a prebuilt binary when one loads,
// or builds from source. When neither works (no prebuild for this platform
// and no compiler), the user's install must not fail: the package then runs
// on Node's own setKeepAlive, and keepaliveSupport.reason says why.
// TCP_KEEPALIVE_REQUIRE_NATIVE=1 turns that into a failed install.
//
// `--from-source` (npm run build, in a clone) always builds, and fails when the build does.
// No package.json script names node-gyp itself: yarn 4 adds node-gyp@latest (and ~20
// packages) to every install of a package whose scripts mention it.
'use strict'
const { spawnSync } = require('node:child_process')

const REQUIRE_NATIVE = 'TCP_KEEPALIVE_REQUIRE_NATIVE'
const fromSource = process.argv.includes('--from-source')
const required = fromSource || process.env[REQUIRE_NATIVE] === '1'

// On Windows the binding can set nothing (libuv hides the SOCKET behind the fd), so a compiler
// would buy nothing: no source build, and the package uses Node's setKeepAlive.
if (process.platform === 'win32' && !fromSource) process.exit(0)

const result = spawnSync(process.execPath, [require.resolve('node-gyp-build/bin.js')], {
  encoding: 'utf8',
  stdio: ['ignore', 'pipe', 'pipe'],
  env: fromSource ? { ...process.env, npm_config_build_from_source: 'true' } : process.env,
})
if (fromSource) {
  process.stdout.write(result.stdout ?? '')
  process.stderr.write(result.stderr ?? '')
}
if (result.status === 0) process.exit(0)

const output = `${result.stdout ?? ''}${result.stderr ?? ''}${result.error ? result.error.message : ''}`
if (required) {
  if (!fromSource) process.stderr.write(output)
  process.stderr.write(
    `tcp-keepalive: the native binding could not be built, and ${fromSource ? '--from-source' : `${REQUIRE_NATIVE}=1`} requires it\n`,
  )
  process.exit(1)
}
// The build's first error line is the most useful cause (e.g. "gyp ERR! stack Error: not found: make").
const cause = output.split('\n').find((line) => /gyp ERR! (stack Error|find Python)|error:/i.test(line))
process.stderr.write(
  `tcp-keepalive: no prebuilt binary for ${process.platform}-${process.arch} and the source build failed` +
    `${cause ? ` (${cause.replace(/^gyp ERR! (stack )?/, '').trim()})` : ''}; ` +
    "it will use Node's setKeepAlive (idle time only). For full control install a C++ toolchain and run " +
    `'npm rebuild tcp-keepalive'; set ${REQUIRE_NATIVE}=1 to make this an error.\n`,
)
