// The ESM entry: the CommonJS build re-exported, so both module systems share
// one instance (one binding, one set of per-socket settings).
import lib from './index.js'

export const {
  configureKeepalive,
  readKeepalive,
  readTcpInfo,
  keepaliveSupport,
  keepaliveServer,
  keepaliveAgent,
  keepaliveConnector,
  keepaliveProcess,
  planKeepalive,
  planLayers,
  tcpKeepaliveLine,
  IDLE_TIMEOUT_PRESETS,
  measureIdleTimeout,
} = lib
/** The whole API as one object, for `import tk from 'tcp-keepalive'` (the same functions as the named exports). */
export default lib
export type {
  Behind,
  BoxKind,
  ConnectCallback,
  ConnectionInfo,
  FalseDrops,
  HttpServerTimeouts,
  IdleTimeoutPreset,
  IdleTimeoutPresetInfo,
  IdleTimeoutReport,
  MeasureProgress,
  MeasureRequest,
  Range,
  KeepalivePlan,
  KeepaliveServerOptions,
  LayerPlan,
  LayerPlanRequest,
  PlanRequest,
  ProcessKeepalive,
  ProcessKeepaliveRule,
  ProcessKeepaliveScope,
  ResolvedBox,
  Connector,
  KeepaliveOptions,
  KeepaliveState,
  KeepaliveSupport,
  KeepaliveTarget,
  ServerKeepaliveOptions,
  TcpInfo,
} from './index.js'
