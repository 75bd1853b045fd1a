import net from 'node:net'
import pg from 'pg'
import { configureKeepalive } from 'tcp-keepalive'

const [host, port] = ['db.internal', 5432]
const client = new pg.Client({
  host,
  port,
  user: 'postgres',
  keepAlive: true, // pg calls setKeepAlive(true, 0) on connect; the settings below survive it
  stream: () => configureKeepalive(new net.Socket(), { idle: 30_000, interval: 5_000, count: 3 }),
})
await client.connect()
