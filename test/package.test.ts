// The built package as users load it: CommonJS, ESM, and worker threads.
// (test/types/ type-checks a consumer of each entry point in `npm run typecheck`.)
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { Worker } from 'node:worker_threads'
import { once } from 'node:events'
import { afterEach, describe, expect, it } from 'vitest'
import { configureKeepalive, readKeepalive } from '../lib/index.js'
import { VERSION } from '../lib/version.js'
import { closeAll, tcpPair } from './helpers.js'

afterEach(closeAll)

const root = path.join(__dirname, '..')

function runNode(args: string[]): string {
  return execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8' }).trim()
}

describe('entry points', () => {
  it('require(), import * and the default import give the same exports (one implementation, one binding)', () => {
    const out = runNode([
      '--input-type=module',
      '-e',
      `import * as esm from 'tcp-keepalive'
       import tk from 'tcp-keepalive'
       import { createRequire } from 'node:module'
       const cjs = createRequire(import.meta.url)('tcp-keepalive')
       console.log(JSON.stringify({
         cjs: Object.keys(cjs).sort(),
         esm: Object.keys(esm).sort(),
         same: Object.keys(cjs).every((name) => esm[name] === cjs[name]),
         defaultIsTheCommonJsModule: tk === cjs,
         native: esm.keepaliveSupport.native,
       }))`,
    ])
    const names = [
      'IDLE_TIMEOUT_PRESETS',
      'configureKeepalive',
      'keepaliveAgent',
      'keepaliveConnector',
      'keepaliveProcess',
      'keepaliveServer',
      'keepaliveSupport',
      'measureIdleTimeout',
      'planKeepalive',
      'planLayers',
      'readKeepalive',
      'readTcpInfo',
      'tcpKeepaliveLine',
    ]
    expect(JSON.parse(out)).toEqual({
      cjs: names,
      esm: [...names, 'default'].sort(),
      same: true,
      defaultIsTheCommonJsModule: true,
      native: true,
    })
  })
})

describe('the version', () => {
  it('lib/version.ts matches package.json (a bundle compares it with the installed package; --version prints it)', () => {
    expect(VERSION).toBe((JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version)
  })
})

describe('worker threads', () => {
  const workerSource = `
    const { parentPort } = require('node:worker_threads')
    const { once } = require('node:events')
    const net = require('node:net')
    const { configureKeepalive, readKeepalive } = require(${JSON.stringify(root)})
    ;(async () => {
      const server = net.createServer().listen(0, '127.0.0.1')
      await once(server, 'listening')
      const socket = net.connect(server.address().port, '127.0.0.1')
      await once(socket, 'connect')
      configureKeepalive(socket, { idle: 21000, interval: 3000, count: 2 })
      parentPort.postMessage(readKeepalive(socket))
      socket.destroy()
      server.close()
    })()`

  it('loads in several workers at once and in the main thread', async () => {
    const workers = [0, 1].map(() => new Worker(workerSource, { eval: true }))
    const { client } = await tcpPair()
    configureKeepalive(client, { idle: 17_000 })
    const results = await Promise.all(workers.map(async (worker) => (await once(worker, 'message'))[0]))
    for (const result of results) expect(result).toMatchObject({ enabled: true, idle: 21_000, interval: 3_000, count: 2 })
    expect(readKeepalive(client).idle).toBe(17_000)
    await Promise.all(workers.map((worker) => worker.terminate()))
  })
})
