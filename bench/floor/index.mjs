// Loads the floor addon (floor.cc), building it on first use with the
// node-gyp npm runs scripts with. N-API: one build serves every Node.
import { spawnSync } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

const dir = fileURLToPath(new URL('.', import.meta.url))
const built = `${dir}build/Release/floor.node`

/** The floor's 4 writes on one socket or listening server, as one call: `writesOn(floor)(socket)`. */
export function writesOn(floor) {
  const fds = new Int32Array(1)
  return (owner) => {
    fds[0] = owner._handle.fd
    floor.writeEachOnce(fds)
  }
}

export function loadFloor() {
  if (!existsSync(built) || statSync(built).mtimeMs < statSync(`${dir}floor.cc`).mtimeMs) {
    const nodeGyp = process.env.npm_config_node_gyp
    if (!nodeGyp) throw new Error('the C floor is built with node-gyp: run the benchmark with `npm run bench`')
    const result = spawnSync(process.execPath, [nodeGyp, 'rebuild', '--loglevel=error'], {
      cwd: dir,
      stdio: ['ignore', 'ignore', 'inherit'],
    })
    if (result.status !== 0) throw new Error(`building bench/floor failed (exit ${result.status})`)
  }
  return createRequire(import.meta.url)(built)
}
