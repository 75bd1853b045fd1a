import net from 'node:net'
import { configureKeepalive, readKeepalive } from 'tcp-keepalive' // or require('tcp-keepalive'), or import tk from 'tcp-keepalive'

const socket = net.connect(5432, 'db.internal')
// Behind a NAT that forgets flows after 350 s; find a dead peer within ~45 s of silence.
configureKeepalive(socket, { idle: 30_000, interval: 5_000, count: 3, userTimeout: 45_000 })
socket.on('connect', () => {
  console.log(readKeepalive(socket))
  // { enabled: true, idle: 30000, interval: 5000, count: 3, userTimeout: 45000 }
})
