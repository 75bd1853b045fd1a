// Run in a fresh network namespace (unshare --net): decoy connections that
// share doctor's client port, each with a keepalive timer of 75 s, then
// `tcp-keepalive doctor --json`, whose report is printed. The ephemeral range is
// one port while the decoys connect (they all take it: their 4-tuples differ),
// then two: doctor's server gets the other, and its client the decoys' port.
'use strict'
const { execFileSync, spawnSync } = require('node:child_process')
const { once } = require('node:events')
const { writeFileSync } = require('node:fs')
const net = require('node:net')
const path = require('node:path')

const range = (text) => writeFileSync('/proc/sys/net/ipv4/ip_local_port_range', text)

async function main() {
  execFileSync('ip', ['link', 'set', 'lo', 'up'])
  range('40000 40000')
  const decoys = []
  for (let i = 0; i < 10; i++) {
    const server = net.createServer().listen(5000 + i, '127.0.0.1')
    await once(server, 'listening')
    const decoy = net.connect(5000 + i, '127.0.0.1')
    await once(decoy, 'connect')
    decoy.setKeepAlive(true, 75_000)
    decoys.push(decoy.localPort)
  }
  range('40000 40001')
  const doctor = spawnSync(process.execPath, [path.join(__dirname, '..', '..', 'dist', 'cli', 'main.js'), 'doctor', '--json'], {
    encoding: 'utf8',
  })
  process.stdout.write(JSON.stringify({ decoys, status: doctor.status, stderr: doctor.stderr, report: JSON.parse(doctor.stdout) }))
  process.exit(0)
}

main()
