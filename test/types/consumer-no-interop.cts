// Type-checked by `npm run typecheck` with test/types/tsconfig.no-interop.json: a CommonJS
// project without esModuleInterop, and without skipLibCheck, so the shipped .d.ts files are
// checked too (a default import of node:net in them would fail there with TS1192).
import net = require('node:net')
import http = require('node:http')
import keepalive = require('tcp-keepalive')

const options: keepalive.KeepaliveOptions = { idle: 30_000, interval: 5_000, count: 3 }
const socket: net.Socket = keepalive.configureKeepalive(new net.Socket(), options)
const state: keepalive.KeepaliveState = keepalive.readKeepalive(socket)
const agent: http.Agent = keepalive.keepaliveAgent(new http.Agent(), options)
const server: http.Server = keepalive.keepaliveServer(http.createServer(), options)
const connect: keepalive.Connector = keepalive.keepaliveConnector(options)
const rule: keepalive.ProcessKeepalive = keepalive.keepaliveProcess(options, { ports: [5432] })
export { state, agent, server, connect, rule }
