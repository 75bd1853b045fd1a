// Helpers shared by the benchmark sections.
import { once } from 'node:events'
import { createRequire } from 'node:module'
import net from 'node:net'

export const require = createRequire(import.meta.url)

/** net-keepalive, or null when it is not installed (it is then left out). */
export function loadNetKeepalive() {
  try {
    return require('net-keepalive')
  } catch {
    return null
  }
}

export async function listening(server) {
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return server
}

export async function connectedSocket(server) {
  const socket = net.connect(server.address().port, '127.0.0.1')
  await once(socket, 'connect')
  return socket
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}

/** Node's own setKeepAlive, taken before tcp-keepalive's first configure wraps it for sticky settings. */
export const nodeSetKeepAlive = net.Socket.prototype.setKeepAlive

/** Node 24.19+ and 26.4+ take setKeepAlive(enable, initialDelay, interval, count). */
export const nodeTakesIntervalAndCount = nodeSetKeepAlive.length >= 4

/** Prints rows of cells, each column padded to its widest cell (first column left-aligned). */
export function printTable(rows) {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => String(row[column]).length)))
  for (const row of rows) {
    console.log(
      `  ${row.map((cell, column) => (column === 0 ? String(cell).padEnd(widths[column]) : String(cell).padStart(widths[column]))).join('   ')}`,
    )
  }
  console.log()
}

export const ratio = (value, base) => (base ? `x${(value / base).toFixed(2)}` : '')
