import http from 'node:http'
import { keepaliveAgent, keepaliveServer } from 'tcp-keepalive'

const app = (_request: http.IncomingMessage, response: http.ServerResponse) => response.end('ok') // or an express() app
const server = keepaliveServer(http.createServer(app), { idle: 30_000, interval: 5_000, count: 3 })
const agent = keepaliveAgent(new http.Agent({ keepAlive: true }), { idle: 30_000, interval: 5_000, count: 3 })
server.listen(8080)
http.get('http://api.internal/', { agent }, (response) => response.resume())
