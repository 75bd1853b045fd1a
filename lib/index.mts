// The ESM entry: the CommonJS build re-exported, so both module systems share
// one instance (one binding, one set of per-socket settings).
import lib from './index.js'

export const { configureKeepalive, readKeepalive, keepaliveSupport } = lib
export type { KeepaliveOptions, KeepaliveState, KeepaliveSupport, KeepaliveTarget } from './index.js'
