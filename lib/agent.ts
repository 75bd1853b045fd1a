// keepaliveAgent: keepalive for every socket an http(s).Agent creates.
import http = require('node:http')
import type net = require('node:net')
import { invalidArgType } from './errors.js'
import { configureFor, passesThrough, settledSettings } from './keepalive.js'
import type { KeepaliveOptions } from './options.js'
import { INTEGRATION } from './sticky.js'

type CreateConnection = (options: object, callback?: (error: Error | null, socket?: net.Socket) => void) => net.Socket | undefined

/**
 * Gives every socket an `http.Agent` or `https.Agent` (or a subclass) creates
 * keepalive options. They survive the agent's own `setKeepAlive` call on each
 * reuse of a pooled socket.
 *
 * @returns `agent`.
 * @example
 * ```ts
 * const agent = keepaliveAgent(new https.Agent({ keepAlive: true }), { idle: 30_000, interval: 5_000, count: 3 })
 * ```
 */
export function keepaliveAgent<A extends http.Agent>(agent: A, given: KeepaliveOptions): A {
  if (!(agent instanceof http.Agent)) throw invalidArgType('agent', 'an instance of http.Agent', agent)
  const settings = settledSettings(given) // invalid options throw here, not on the first request
  const holder = agent as unknown as { createConnection: CreateConnection }
  const createConnection = holder.createConnection
  holder.createConnection = function (this: A, connectOptions, callback) {
    let configured: net.Socket | undefined
    const configure = (socket: net.Socket | undefined) => {
      if (socket && socket !== configured) {
        configured = socket
        if (passesThrough(socket, 'keepaliveAgent')) return // a socketPath request (e.g. the Docker socket)
        // A still-connecting socket gets them on connect; the kernel refusing them fails this request.
        const error = configureFor(socket, INTEGRATION, settings)
        if (error) socket.destroy(error)
      }
    }
    // Agents may hand the socket back through the callback instead of returning it.
    const socket = createConnection.call(
      this,
      connectOptions,
      callback &&
        ((error, created) => {
          if (!error) configure(created)
          callback(error, created)
        }),
    )
    configure(socket)
    return socket
  }
  return agent
}
