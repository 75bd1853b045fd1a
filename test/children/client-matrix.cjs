// An app that knows nothing of tcp-keepalive: it opens connections with one
// client library, runs a command on each, then prints the local and remote
// port of every connection it holds (one JSON line) and waits to be killed.
// The test runs it under the preload (NODE_OPTIONS, TCP_KEEPALIVE) or with
// keepaliveProcess called first (TCP_KEEPALIVE_MATRIX_CALL), and reads the
// kernel's values from outside.
//   node client-matrix.cjs <library> <port>
'use strict'
const http = require('node:http')
const path = require('node:path')

const [library, port] = [process.argv[2], Number(process.argv[3])]
const host = '127.0.0.1'
if (process.env.TCP_KEEPALIVE_MATRIX_CALL) {
  require(path.join(__dirname, '..', '..')).keepaliveProcess(JSON.parse(process.env.TCP_KEEPALIVE_MATRIX_CALL))
}
const ports = (socket) => ({ localPort: socket.localPort, remotePort: socket.remotePort })
const report = (connections) => process.stdout.write(`${JSON.stringify({ library, connections })}\n`)

const clients = {
  async ioredis() {
    const { Redis } = require('ioredis')
    const redis = new Redis({ port, host, maxRetriesPerRequest: 1 })
    const killer = new Redis({ port, host })
    await redis.ping()
    const before = ports(redis.stream)
    // A forced reconnect: the server drops the connection, ioredis opens a new socket.
    const id = await redis.client('ID')
    const reconnected = new Promise((resolve) => redis.once('ready', resolve))
    await killer.client('KILL', 'ID', String(id))
    await reconnected
    await redis.ping()
    return [before, { ...ports(redis.stream), reconnected: true }, ports(killer.stream)]
  },
  async 'node-redis'() {
    const { createClient } = require('redis')
    const client = createClient({ socket: { host, port } })
    client.on('error', () => {})
    await client.connect()
    await client.ping()
    // node-redis keeps its socket private: the server's own list of clients names it.
    const [, address] = /addr=([^ ]+)/.exec(await client.sendCommand(['CLIENT', 'INFO']))
    return [{ localPort: Number(address.split(':').pop()), remotePort: port }]
  },
  async mysql2() {
    const mysql = require('mysql2/promise')
    const connection = await mysql.createConnection({ host, port, user: 'root' })
    await connection.query('SELECT 1')
    return [ports(connection.connection.stream)]
  },
  async pg() {
    const pg = require('pg')
    const client = new pg.Client({ host, port, user: 'postgres', database: 'postgres' })
    await client.connect()
    await client.query('SELECT 1')
    return [ports(client.connection.stream)]
  },
  async 'http.Agent'() {
    const agent = new http.Agent({ keepAlive: true })
    const socket = await new Promise((resolve, reject) => {
      const request = http.get({ host, port, agent }, (response) => response.resume().on('end', () => resolve(request.socket)))
      request.on('error', reject)
    })
    return [ports(socket)]
  },
  async 'undici fetch'() {
    const response = await fetch(`http://${host}:${port}/`) // Node's global fetch: its bundled undici
    await response.text()
    return null // undici keeps its socket private: the test finds it by the server's port
  },
}

clients[library]()
  .then((connections) => {
    report(connections)
    setInterval(() => {}, 60_000)
  })
  .catch((error) => {
    console.error(error)
    process.exit(1)
  })
