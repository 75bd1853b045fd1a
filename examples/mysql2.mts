import net from 'node:net'
import mysql from 'mysql2/promise'
import { configureKeepalive } from 'tcp-keepalive'

const [host, port] = ['db.internal', 3306]
const connection = await mysql.createConnection({
  user: 'root',
  // mysql2 does not call setKeepAlive on a socket it is given (enableKeepAlive is for sockets it opens itself)
  stream: () => configureKeepalive(net.connect(port, host), { idle: 30_000, interval: 5_000, count: 3 }),
})
await connection.query('SELECT 1')
