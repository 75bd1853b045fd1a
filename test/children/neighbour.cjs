// The neighbours a process shares net.Socket.prototype with, started as their
// users start them, each with a count of what it saw:
// - otel: the OpenTelemetry SDK with its net instrumentation (spans kept in memory);
// - dd-trace: Datadog's tracer (its wrapper on connect publishes apm:net:tcp:start);
// - hand: a hand-written wrapper on connect and setKeepAlive, as apps write them.
// Required as a preload (--require) it starts TK_NEIGHBOUR itself.
'use strict'
const diagnostics = require('node:diagnostics_channel')

const seen = { connects: 0, setKeepAlives: 0 }

const start = {
  otel() {
    const { NodeSDK } = require('@opentelemetry/sdk-node')
    const { InMemorySpanExporter, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base')
    const { NetInstrumentation } = require('@opentelemetry/instrumentation-net')
    const exporter = new InMemorySpanExporter()
    // No resource detection: its async attributes would hold every span's export back until they settle.
    const sdk = new NodeSDK({
      spanProcessors: [new SimpleSpanProcessor(exporter)],
      instrumentations: [new NetInstrumentation()],
      autoDetectResources: false,
      resourceDetectors: [],
    })
    sdk.start()
    // net spans: one per TCP connect, named tcp.connect
    Object.defineProperty(seen, 'connects', { get: () => exporter.getFinishedSpans().filter((span) => span.name === 'tcp.connect').length })
  },
  'dd-trace'() {
    Object.assign(process.env, {
      DD_TRACE_AGENT_URL: 'unix:///nonexistent/dd-agent.sock', // no agent here: nothing is sent
      DD_INSTRUMENTATION_TELEMETRY_ENABLED: 'false',
      DD_REMOTE_CONFIGURATION_ENABLED: 'false',
      DD_TRACE_STARTUP_LOGS: 'false',
    })
    require('dd-trace').init()
    diagnostics.subscribe('apm:net:ipc:start', () => {})
    diagnostics.subscribe('apm:net:tcp:start', () => seen.connects++)
  },
  hand() {
    const net = require('node:net')
    const { connect, setKeepAlive } = net.Socket.prototype
    net.Socket.prototype.connect = function (...args) {
      seen.connects++
      return connect.apply(this, args)
    }
    net.Socket.prototype.setKeepAlive = function (...args) {
      seen.setKeepAlives++
      return setKeepAlive.apply(this, args)
    }
  },
}

module.exports = { seen, start }
if (require.main !== module && process.env.TK_NEIGHBOUR_PRELOAD === '1') start[process.env.TK_NEIGHBOUR]()
