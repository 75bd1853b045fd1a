import { keepaliveConnector } from 'tcp-keepalive'
import { Agent, request, setGlobalDispatcher } from 'undici'

setGlobalDispatcher(new Agent({ connect: keepaliveConnector({ idle: 30_000, interval: 5_000, count: 3 }) }))
const { body } = await request('http://api.internal/')
console.log(await body.text())
