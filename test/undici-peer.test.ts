// keepaliveConnector and the undici it finds, in an app laid out as a package manager
// leaves it: none, or one that another package brought (undici 8 hoisted into an app
// on Node 20, as yarn's node-modules linker did with node-gyp's copy).
import { execFileSync } from 'node:child_process'
import { cpSync, mkdirSync, symlinkSync } from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { bindingPath } from '../lib/native.js'
import { closeAll, tempDir } from './helpers.js'

afterAll(closeAll)

const root = path.join(__dirname, '..')

/** An app's node_modules with this package (built files only) and, if given, `undici` linked to that folder. */
function app(undici: string | null): string {
  const dir = tempDir('undici-peer')
  const modules = path.join(dir, 'node_modules')
  const pkg = path.join(modules, 'tcp-keepalive')
  mkdirSync(pkg, { recursive: true })
  cpSync(path.join(root, 'package.json'), path.join(pkg, 'package.json'))
  cpSync(path.join(root, 'dist'), path.join(pkg, 'dist'), { recursive: true })
  const binding = bindingPath()!
  cpSync(binding, path.join(pkg, path.relative(root, binding)))
  symlinkSync(path.join(root, 'node_modules', 'node-gyp-build'), path.join(modules, 'node-gyp-build'))
  if (undici !== null) symlinkSync(path.join(root, 'node_modules', undici), path.join(modules, 'undici'))
  return dir
}

/** keepaliveConnector's outcome in `dir` on this Node: the error's code and message, or 'built'. */
function connectorIn(dir: string): { code?: string; message?: string; built?: true } {
  const script = `
    try {
      require('tcp-keepalive').keepaliveConnector({ idle: 30000 })
      console.log(JSON.stringify({ built: true }))
    } catch (error) {
      console.log(JSON.stringify({ code: error.code, message: error.message }))
    }`
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: dir, encoding: 'utf8' }))
}

describe('keepaliveConnector checks the undici it finds', () => {
  it('none: ERR_KEEPALIVE_MISSING_PEER', () => {
    expect(connectorIn(app(null))).toEqual({
      code: 'ERR_KEEPALIVE_MISSING_PEER',
      message: 'keepaliveConnector needs undici: npm install undici',
    })
  })

  const [major, minor] = process.versions.node.split('.').map(Number)
  const runsUndici8 = major > 22 || (major === 22 && minor >= 19)
  it(`undici 8 on Node ${process.versions.node}: ${runsUndici8 ? 'the connector is built' : "ERR_KEEPALIVE_PEER_VERSION naming both, not undici's TypeError"}`, () => {
    const version = (require(path.join(root, 'node_modules', 'undici8', 'package.json')) as { version: string }).version
    expect(connectorIn(app('undici8'))).toEqual(
      runsUndici8
        ? { built: true }
        : {
            code: 'ERR_KEEPALIVE_PEER_VERSION',
            message: `keepaliveConnector found undici ${version}, which needs Node >=22.19.0 (this is ${process.version}): install an undici for this Node (npm install undici@7)`,
          },
    )
  })

  it('undici 7 on this Node: the connector is built', () => {
    expect(connectorIn(app('undici'))).toEqual({ built: true })
  })
})
