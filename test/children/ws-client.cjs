// Run by recipes.test.ts: a ws client that connects, says 'open', and then
// only answers pings (ws sends the pong by itself). The test stops it with
// SIGSTOP to play a hung peer: its kernel still ACKs, its pongs stop.
'use strict'
const WebSocket = require('ws')

const ws = new WebSocket(process.argv[2])
ws.on('open', () => process.stdout.write('open\n'))
ws.on('error', () => {})
ws.on('close', () => process.exit(0))
