// Type-checked by `npm run typecheck`: an ESM consumer of the built package.
import net from 'node:net'
import tls from 'node:tls'
import {
  configureKeepalive,
  keepaliveSupport,
  readKeepalive,
  type KeepaliveOptions,
  type KeepaliveState,
  type KeepaliveSupport,
} from 'tcp-keepalive'

const options: KeepaliveOptions = { idle: 30_000, strict: true }
const socket: tls.TLSSocket = configureKeepalive(new tls.TLSSocket(new net.Socket()), options)
const state: KeepaliveState = readKeepalive(socket)
const support: KeepaliveSupport = keepaliveSupport
// @ts-expect-error times are numbers of ms, not strings
configureKeepalive(socket, { idle: '30s' })
// @ts-expect-error unknown option
configureKeepalive(socket, { intervall: 5_000 })
export { state, support }
