import { Redis } from 'ioredis'
import { createClient } from 'redis'
import { keepaliveProcess } from 'tcp-keepalive'

const redisPort = 6379
// ioredis opens a new socket on every reconnect, node-redis keeps its socket private: one rule covers both.
const rule = keepaliveProcess({ idle: 30_000, interval: 5_000, count: 3 }, { ports: [redisPort] })
const ioredis = new Redis({ port: redisPort, host: '127.0.0.1' })
const nodeRedis = createClient({ socket: { port: redisPort, host: '127.0.0.1' } })
await nodeRedis.connect()
console.log(await ioredis.ping(), await nodeRedis.ping())
rule.stop() // connections opened from now on are left alone
