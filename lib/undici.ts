// keepaliveConnector: keepalive for undici's connections.
import type net = require('node:net')
import { keepaliveError } from './errors.js'
import { configureFor, passesThrough, settledSettings } from './keepalive.js'
import type { KeepaliveOptions } from './options.js'
import { INTEGRATION } from './sticky.js'

/** undici's connect callback: an error, or the connected socket. */
export type ConnectCallback = (...args: [error: null, socket: net.Socket] | [error: Error, socket: null]) => void

/** undici's connector shape (`buildConnector`'s result), without depending on undici's types. */
export type Connector = (options: object, callback: ConnectCallback) => unknown

/**
 * A `connect` function for undici's `new Agent({ connect })` (or `Pool`,
 * `Client`) that applies keepalive options to each connection it opens. Built
 * on undici's own `buildConnector(connectOptions)`, so TLS and the other
 * connect options behave as in undici. undici (7 or 8) must be installed: without it the
 * call throws ERR_KEEPALIVE_MISSING_PEER; with another major, or one that needs a newer
 * Node than this one, ERR_KEEPALIVE_PEER_VERSION.
 *
 * @example
 * ```ts
 * import { Agent, setGlobalDispatcher } from 'undici'
 * setGlobalDispatcher(new Agent({ connect: keepaliveConnector({ idle: 30_000, interval: 5_000, count: 3 }) }))
 * ```
 */
export function keepaliveConnector(given: KeepaliveOptions, connectOptions: object = {}): Connector {
  const settings = settledSettings(given)
  const connect = loadUndici().buildConnector(connectOptions)
  return function connectWithKeepalive(connectionOptions, callback) {
    return connect(connectionOptions, (error, socket) => {
      if (error) return callback(error, null)
      if (passesThrough(socket, 'keepaliveConnector')) return callback(null, socket) // connect: { socketPath }
      const configureError = configureFor(socket, INTEGRATION, settings) // after undici's own setKeepAlive(true, 60000): ours stick
      if (configureError) {
        socket.destroy()
        return callback(configureError, null)
      }
      callback(null, socket)
    })
  }
}

/** The undici majors the connector is built and tested for (the peer dependency's range). */
const UNDICI_MAJORS = [7, 8]

/**
 * undici as this package resolves it, checked first: in an app that does not
 * depend on undici, the copy found may be one another package brought (yarn's
 * node-modules linker hoists them), of a major we do not know or for a newer Node,
 * where it would fail later with an unrelated TypeError.
 */
function loadUndici(): { buildConnector(options: object): Connector } {
  // Each require sits in a try block: bundlers (esbuild, webpack) then let an app without undici build.
  let manifest: { version?: string; engines?: { node?: string } }
  try {
    manifest = require('undici/package.json')
  } catch (error) {
    const { code } = error as NodeJS.ErrnoException
    if (code === 'MODULE_NOT_FOUND') throw missingPeer()
    if (code !== 'ERR_PACKAGE_PATH_NOT_EXPORTED') throw error
    manifest = {} // a future undici that hides its manifest: no check
  }
  const { version, engines } = manifest
  if (version !== undefined && !UNDICI_MAJORS.includes(Number(version.split('.')[0]))) {
    throw keepaliveError(
      'ERR_KEEPALIVE_PEER_VERSION',
      `keepaliveConnector needs undici ${UNDICI_MAJORS.join(' or ')}, but found undici ${version}: install one (npm install undici@${UNDICI_MAJORS.at(-1)})`,
    )
  }
  const minimum = engines?.node === undefined ? null : /^>=\s*v?(\d+)\.(\d+)\.(\d+)$/.exec(engines.node.trim())
  if (minimum !== null && olderThan(process.versions.node, minimum.slice(1).map(Number))) {
    throw keepaliveError(
      'ERR_KEEPALIVE_PEER_VERSION',
      `keepaliveConnector found undici ${version}, which needs Node ${engines!.node} (this is ${process.version}): install an undici for this Node (npm install undici@7)`,
    )
  }
  try {
    return require('undici')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw error
    throw missingPeer()
  }
}

function missingPeer(): Error {
  return keepaliveError('ERR_KEEPALIVE_MISSING_PEER', 'keepaliveConnector needs undici: npm install undici')
}

/** Whether version "a.b.c" is below [major, minor, patch]. */
function olderThan(version: string, [major, minor, patch]: number[]): boolean {
  const [a, b, c] = version.split('.').map(Number)
  return a !== major ? a < major : b !== minor ? b < minor : c < patch
}
