/**
 * Full TCP keepalive control for Node sockets, read back from the kernel.
 *
 * @example
 * ```ts
 * import { configureKeepalive, readKeepalive } from 'tcp-keepalive'
 * const socket = net.connect(5432, 'db.internal')
 * configureKeepalive(socket, { idle: 30_000, interval: 10_000, count: 3 })
 * socket.on('connect', () => console.log(readKeepalive(socket)))
 * ```
 * @packageDocumentation
 */
export type { KeepaliveState, TcpInfo } from './backend.js'
export { configureKeepalive, keepaliveSupport, type KeepaliveSupport, readKeepalive, readTcpInfo } from './keepalive.js'
export type { KeepaliveOptions } from './options.js'
export type { KeepaliveTarget } from './target.js'
export { keepaliveAgent } from './agent.js'
export { type KeepaliveServerOptions, keepaliveServer, type ServerKeepaliveOptions } from './server.js'
export { type ConnectCallback, type Connector, keepaliveConnector } from './undici.js'
export {
  type ConnectionInfo,
  keepaliveProcess,
  type ProcessKeepalive,
  type ProcessKeepaliveRule,
  type ProcessKeepaliveScope,
} from './process.js'
export { type IdleTimeoutReport, measureIdleTimeout, type MeasureProgress, type MeasureRequest, type Range } from './idle-timeout.js'
export {
  type FalseDrops,
  type HttpServerTimeouts,
  type KeepalivePlan,
  type LayerPlan,
  type LayerPlanRequest,
  planKeepalive,
  planLayers,
  type PlanRequest,
  tcpKeepaliveLine,
} from './plan.js'
export {
  type Behind,
  type BoxKind,
  IDLE_TIMEOUT_PRESETS,
  type IdleTimeoutPreset,
  type IdleTimeoutPresetInfo,
  type ResolvedBox,
} from './presets.js'
