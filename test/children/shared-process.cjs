// A process that shares net.Socket.prototype with a neighbour (neighbour.cjs):
// TK_NEIGHBOUR otel | dd-trace | hand, TK_ORDER keepalive-first | neighbour-first,
// TK_MODE code (keepaliveProcess, then stop) | preload (tcp-keepalive/register
// and the neighbour as --require preloads, in that order). Counts, per phase,
// connections made, what the neighbour saw and how many the kernel shows
// configured. One JSON line.
'use strict'
const path = require('node:path')
const { seen, start } = require('./neighbour.cjs')

const { TK_NEIGHBOUR: neighbour, TK_ORDER: order, TK_MODE: mode } = process.env
const settings = { idle: 31_000, interval: 4_000, count: 5 }
let keepalive
const loadKeepalive = () => (keepalive = require(path.join(__dirname, '..', '..')))
if (mode === 'code') {
  if (order === 'keepalive-first') [loadKeepalive, start[neighbour]].forEach((step) => step())
  else [start[neighbour], loadKeepalive].forEach((step) => step())
} else {
  // tcp-keepalive/register ran as a preload; the neighbour came before it as a preload too, or comes now.
  if (order === 'keepalive-first') start[neighbour]()
  loadKeepalive()
}
// An app requires net after its setup, as its libraries do.
require('./phases.cjs').run(require('node:net'), keepalive, seen, mode, settings)
