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
 * connect options behave as in undici. undici (7 or 8) must be installed.
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

function loadUndici(): { buildConnector(options: object): Connector } {
  try {
    return require('undici')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw error
    throw keepaliveError('ERR_KEEPALIVE_MISSING_PEER', 'keepaliveConnector needs undici: npm install undici')
  }
}
