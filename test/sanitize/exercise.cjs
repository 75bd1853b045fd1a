// Drives every function of the native binding, on success and failure paths,
// on real sockets: run under valgrind by scripts/sanitize.sh (and fine to run
// alone). A worker thread loads the binding too and exits, so the per-env data
// is created and deleted under the checker. Exits non-zero if a result is wrong.
'use strict'
const assert = require('node:assert')
const dgram = require('node:dgram')
const { once } = require('node:events')
const fs = require('node:fs')
const net = require('node:net')
const path = require('node:path')
const { Worker, isMainThread } = require('node:worker_threads')
const root = path.join(__dirname, '..', '..')
const { configureKeepalive, readKeepalive, readTcpInfo, keepaliveSupport } = require(root)

async function exercise() {
  assert.equal(keepaliveSupport.native, true, keepaliveSupport.reason)
  const server = net.createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const accepted = once(server, 'connection')
  const client = net.connect(server.address().port, '127.0.0.1')
  await once(client, 'connect')
  const [peer] = await accepted
  const options = { idle: 30_000, interval: 5_000, count: 3, userTimeout: 20_000 }
  for (let i = 0; i < 200; i++) {
    configureKeepalive(i % 2 ? client : client._handle.fd, { ...options, idle: 1_000 * (1 + (i % 50)) })
    assert.equal(readKeepalive(client).idle, 1_000 * (1 + (i % 50)))
    assert.equal(readKeepalive(peer._handle.fd).enabled, false)
    assert.ok(readTcpInfo(client).state === 'ESTABLISHED')
  }
  configureKeepalive(client, { enable: false })
  client.setKeepAlive(true, 1_000) // the sticky path

  // Failure paths: not TCP, not a socket, not open; and the binding's own argument check.
  const udp = dgram.createSocket('udp4').bind(0, '127.0.0.1')
  await once(udp, 'listening')
  const file = fs.openSync(__filename, 'r')
  const fdOfUdp = udp[Object.getOwnPropertySymbols(udp).find((s) => s.description === 'state symbol')]?.handle?.fd ?? udp._handle.fd
  for (const [fd, code] of [
    [fdOfUdp, 'ERR_KEEPALIVE_NOT_TCP'],
    [file, 'ERR_KEEPALIVE_NOT_TCP'],
    [1_000_000, 'EBADF'],
  ]) {
    for (const call of [() => configureKeepalive(fd, options), () => readKeepalive(fd), () => readTcpInfo(fd)]) {
      assert.throws(call, (error) => error.code === code)
    }
  }
  const binding = require('node-gyp-build')(root)
  assert.throws(() => binding.apply('x', true), TypeError)
  assert.throws(() => binding.read(), TypeError)
  assert.throws(() => binding.readTcpInfo(1), TypeError)
  assert.throws(() => binding.duplicateProcessFd(), TypeError)
  const copy = binding.duplicateProcessFd(process.pid, client._handle.fd)
  assert.ok(copy >= 0 || copy === -38 || copy === -1, `duplicateProcessFd: ${copy}`) // ENOSYS/EPERM where not allowed
  if (copy >= 0) {
    assert.equal(readKeepalive(copy).enabled, false) // configured enable: false outlives setKeepAlive(true)
    fs.closeSync(copy)
  }
  assert.ok(binding.duplicateProcessFd(2 ** 31 - 1, 0) < 0)

  // The lookup by address (Linux): found, counted once with a dup, not found, bad input.
  if (binding.socketLookup) {
    const ends = [client.localAddress, client.localPort, client.remoteAddress, client.remotePort]
    for (let i = 0; i < 50; i++) {
      assert.equal(binding.findSocket(...ends), 1)
      assert.equal(binding.found[1], client._handle.fd)
      assert.equal(binding.found[1 + binding.lookupCapacity], binding.socketInode(client._handle.fd))
    }
    assert.equal(binding.findSocket('127.0.0.1', server.address().port, null, 0), 1)
    assert.equal(binding.found[1], server._handle.fd)
    assert.equal(binding.findSocket('127.0.0.1', 1, '::ffff:127.0.0.1%lo', 1), 0)
    assert.equal(binding.findSocket('x'.repeat(200), 1, null, 0), -22)
    assert.equal(binding.findSocket('127.0.0.1', 1, 'not an address', 1), -22)
    assert.equal(binding.socketInode(file), -88)
    assert.equal(binding.socketInode(1_000_000), -9)
  } else {
    assert.equal(binding.findSocket('127.0.0.1', 1, null, 0), -38)
  }
  assert.throws(() => binding.findSocket('127.0.0.1', 1), TypeError)
  assert.throws(() => binding.socketInode('x'), TypeError)

  fs.closeSync(file)
  udp.close()
  client.destroy()
  peer.destroy()
  server.close()
}

if (isMainThread) {
  exercise()
    .then(async () => {
      const worker = new Worker(__filename)
      const [code] = await once(worker, 'exit')
      assert.equal(code, 0)
      console.log('exercise: every binding function, success and failure, main thread and a worker: ok')
    })
    .catch((error) => {
      console.error(error)
      process.exit(1)
    })
} else {
  exercise().catch((error) => {
    console.error(error)
    process.exit(1)
  })
}
