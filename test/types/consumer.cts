// Type-checked by `npm run typecheck`: a CommonJS consumer of the built package.
import net = require('node:net')
import keepalive = require('tcp-keepalive')

const options: keepalive.KeepaliveOptions = { idle: 30_000, interval: 5_000, count: 3, userTimeout: 20_000 }
const socket: net.Socket = keepalive.configureKeepalive(new net.Socket(), options)
const state: keepalive.KeepaliveState = keepalive.readKeepalive(socket)
const idle: number | null = state.idle
const fd: number = keepalive.configureKeepalive(3, { enable: false })
const native: boolean = keepalive.keepaliveSupport.native
const rule: keepalive.ProcessKeepalive = keepalive.keepaliveProcess(options, { ports: [5432] })
import register = require('tcp-keepalive/register')
export { idle, fd, native, rule, register }
