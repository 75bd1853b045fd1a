// Type-checked by `npm run typecheck`: an ESM consumer of the built package.
import http from 'node:http'
import net from 'node:net'
import tls from 'node:tls'
import {
  configureKeepalive,
  keepaliveAgent,
  keepaliveConnector,
  keepaliveProcess,
  keepaliveServer,
  planKeepalive,
  planLayers,
  type ProcessKeepalive,
  tcpKeepaliveLine,
  keepaliveSupport,
  readKeepalive,
  readTcpInfo,
  type Connector,
  type KeepaliveOptions,
  type KeepaliveState,
  type KeepaliveSupport,
  type TcpInfo,
} from 'tcp-keepalive'
import tk from 'tcp-keepalive'
import 'tcp-keepalive/vitest'
import { expect } from 'vitest'

const options: KeepaliveOptions = { idle: 30_000, strict: true }
const socket: tls.TLSSocket = configureKeepalive(new tls.TLSSocket(new net.Socket()), options)
const state: KeepaliveState = readKeepalive(socket)
const support: KeepaliveSupport = keepaliveSupport
// @ts-expect-error times are numbers of ms, not strings
configureKeepalive(socket, { idle: '30s' })
// @ts-expect-error unknown option
configureKeepalive(socket, { intervall: 5_000 })
// @ts-expect-error enable: false takes no probe timing (ERR_INCOMPATIBLE_OPTION_PAIR at run time)
configureKeepalive(socket, { enable: false, idle: 1_000 })
configureKeepalive(socket, { enable: false, userTimeout: 20_000 })
// A boolean from configuration: either shape
declare const enabled: boolean
configureKeepalive(socket, { enable: enabled })
const server: http.Server = keepaliveServer(http.createServer(), (socket) => (socket.remotePort ? options : undefined))
const agent: http.Agent = keepaliveAgent(new http.Agent(), options)
const connect: Connector = keepaliveConnector(options, { timeout: 10_000 })
const info: TcpInfo = readTcpInfo(socket)
expect(socket).toHaveKeepalive({ idle: 30_000 })
// @ts-expect-error the matcher takes keepalive fields
expect(socket).toHaveKeepalive({ idel: 30_000 })
const rule: ProcessKeepalive = keepaliveProcess((_socket, { remotePort }) => (remotePort === 5432 ? options : undefined), {
  accepted: true,
})
rule.stop()
const { userTimeout } = planKeepalive({ idleTimeout: 350_000 })
const behindAlb: http.Server = keepaliveServer(http.createServer(), { behind: 'aws-alb' })
keepaliveServer(net.createServer(), { idle: 30_000, behind: { idleTimeout: 60_000, kind: 'http' } })
// @ts-expect-error a box's kind is 'tcp' or 'http'
keepaliveServer(http.createServer(), { behind: { idleTimeout: 60_000, kind: 'l7' } })
// @ts-expect-error an unknown preset
planLayers({ behind: 'aws-elb' })
const layers = planLayers({ behind: 'aws-nlb' })
const line: string | null = layers.tcp && tcpKeepaliveLine(layers.tcp)
const keepAliveTimeout: number | undefined = layers.httpServer?.keepAliveTimeout
// The default export: the same API as one object.
const viaDefault: KeepaliveState = tk.readKeepalive(tk.configureKeepalive(new net.Socket(), options))
// @ts-expect-error the default export has only the API's functions and values
tk.notAnExport()
export { state, support, server, agent, connect, info, userTimeout, viaDefault, behindAlb, line, keepAliveTimeout }
