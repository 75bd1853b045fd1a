// Run by recipes.test.ts inside the lab's client host: one pg client runs
// SELECT pg_sleep(n) and reports whether the answer came before a deadline.
// Prints one JSON line.
'use strict'
const net = require('node:net')
const path = require('node:path')
const pg = require('pg')
const { configureKeepalive } = require(path.join(__dirname, '..', '..'))

async function main() {
  const { host, port, mode, sleepSeconds, deadlineMs } = JSON.parse(process.argv[2])
  const config = { host, port, user: 'postgres', database: 'postgres' }
  if (mode === 'pg keepAlive: true') config.keepAlive = true // pg's own: setKeepAlive(true, 0), so idle stays the kernel's 2 h
  // 'preload': nothing here; tcp-keepalive/register (NODE_OPTIONS) and TCP_KEEPALIVE do it all.
  if (mode === 'configureKeepalive') {
    config.keepAlive = true // pg then calls setKeepAlive itself: the configured settings must survive it
    config.stream = () => configureKeepalive(new net.Socket(), { idle: 1000, interval: 1000, count: 3 })
  }
  const client = new pg.Client(config)
  client.on('error', () => {})
  await client.connect()
  const started = Date.now()
  const result = await Promise.race([
    client.query(`SELECT pg_sleep(${sleepSeconds})`).then(
      () => ({ answered: true, ms: Date.now() - started }),
      (error) => ({ answered: false, error: error.code ?? error.message }),
    ),
    new Promise((resolve) => setTimeout(() => resolve({ answered: false, ms: null }), deadlineMs)),
  ])
  process.stdout.write(`${JSON.stringify({ mode, ...result })}\n`)
  process.exit(0)
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`)
  process.exit(1)
})
