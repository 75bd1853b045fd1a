// HTTP Keep-Alive is not TCP keepalive, on real sockets: the HTTP layer's idle
// timers (a server's keepAliveTimeout, a proxy's upstream keep-alive, a client
// pool's idle sockets) decide when a kept-alive connection is closed and
// reused; TCP keepalive decides whether a middlebox keeps an idle flow. Each
// failure below is fixed on its own layer, and only there.
import { execFileSync } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { KeepaliveOptions } from '../index.js'
import { delayRouter } from './http-delay.js'
import type { HttpClientKind, HttpLane, HttpPeerConfig, HttpPeerEvent, HttpServerConfig } from './http-peer.js'
import { Lab, Peer } from './lab.js'
import { SLACK_MS, settingsLabel, withLab } from './measure.js'
import { nginxConf, nginxUnavailableReason } from './nginx.js'
import type { Measurement, Scenario } from './scenarios.js'

/** The tests run lib/ from source, but a peer is a plain node process: it always runs the built file. */
const BESIDE = path.join(__dirname, 'http-peer.js')
const HTTP_PEER_SCRIPT = existsSync(BESIDE) ? BESIDE : path.join(__dirname, '..', '..', 'dist', 'lab', 'http-peer.js')

type HostName = 'client' | 'server' | 'proxy'

/** An HTTP peer: its events so far, and a way to wait for one. */
interface HttpPeer {
  events(): HttpPeerEvent[]
  next(matches: (event: HttpPeerEvent) => boolean, timeoutMs: number): Promise<HttpPeerEvent>
}

async function startHttpPeer(lab: Lab, host: HostName, config: HttpPeerConfig): Promise<HttpPeer> {
  const peer = new Peer(lab.spawn(host, [process.execPath, HTTP_PEER_SCRIPT, JSON.stringify(config)]), host)
  const http: HttpPeer = {
    events: () => peer.events as unknown as HttpPeerEvent[],
    next: (matches, timeoutMs) =>
      peer.next((event) => matches(event as unknown as HttpPeerEvent), timeoutMs) as unknown as Promise<HttpPeerEvent>,
  }
  await http.next((event) => event.event === 'ready', 10_000)
  return http
}

function readyServers(peer: HttpPeer) {
  const ready = peer.events().find((event) => event.event === 'ready')
  return ready?.event === 'ready' ? ready.servers : []
}

type Result = Extract<HttpPeerEvent, { event: 'result' }>

function resultsOf(peer: HttpPeer, lanes: string[]): Result[] {
  return peer.events().filter((event): event is Result => event.event === 'result' && lanes.includes(event.lane))
}

/** Waits until every lane has sent all its requests. */
async function lanesDone(peer: HttpPeer, lanes: HttpLane[], timeoutMs: number): Promise<void> {
  await Promise.all(lanes.map(({ name }) => peer.next((event) => event.event === 'done' && event.lane === name, timeoutMs)))
}

/** The real nginx in a host, with this http { } body; resolves once it listens on `port`. Returns its error log so far. */
async function startNginx(lab: Lab, host: HostName, dir: string, address: string, port: number, http: string): Promise<() => string> {
  chmodSync(dir, 0o755) // nginx's workers run as nobody
  const config = nginxConf(dir, http, { errorLog: 'error', workerConnections: 256 })
  writeFileSync(path.join(dir, 'nginx.conf'), config)
  const nginx = lab.spawn(host, ['nginx', '-p', dir, '-c', path.join(dir, 'nginx.conf')])
  let log = ''
  nginx.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()))
  const deadline = Date.now() + 10_000
  const [command, ...args] = [...lab.namespaceCommand(host), 'ss', '-tlnH']
  for (;;) {
    if (nginx.exitCode !== null) throw new Error(`lab: nginx exited (${nginx.exitCode}): ${log.trim()}`)
    if (execFileSync(command, args, { encoding: 'utf8' }).includes(`${address}:${port} `)) return () => log
    if (Date.now() > deadline) throw new Error(`lab: nginx not listening on ${address}:${port} within 10 s: ${log.trim()}`)
    await sleep(20)
  }
}

/** Runs body with a temporary directory for nginx, or reports that nginx is missing. */
async function withNginxDir(title: string, body: (dir: string) => Promise<Measurement[]>): Promise<Measurement[]> {
  const unavailable = nginxUnavailableReason()
  if (unavailable)
    return [{ label: title, expected: 'nginx runs', outcome: `not run: ${unavailable}`, measuredMs: null, boundMs: null, ok: false }]
  const dir = mkdtempSync(path.join(tmpdir(), 'tcp-keepalive-http-'))
  try {
    return await body(dir)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** The incident's client request: HTTP/1.1, so the connection stays open after the answer. */
const REQUEST = 'POST / HTTP/1.1\r\nHost: lab\r\nContent-Length: 5\r\n\r\nping\n'

/**
 * 11. The incident, in Node: a Node http server behind a middlebox that resets flows idle 3 s
 * (as LVS does), a handler that answers after 6 s. The answer reaches the middlebox after the
 * flow was forgotten: the middlebox answers it with a RST to the server, and the client hears
 * nothing. keepAliveTimeout is the HTTP layer's timer for idle connections between requests: it
 * plays no part while a request waits. Keepalive probes on the server's sockets (the TCP layer)
 * keep the flow known, and the answer arrives.
 */
export function httpIncidentScenario(forgetAfterSeconds = 3): Scenario {
  const answerAfterMs = 2 * forgetAfterSeconds * 1000
  const keepalive: KeepaliveOptions = { idle: 1000, interval: 1000, count: 3 }
  const rows: Array<{ label: string; server: Omit<HttpServerConfig, 'port'>; arrives: boolean }> = [
    { label: 'a plain Node http server (keepAliveTimeout 5 s, the default)', server: {}, arrives: false },
    { label: 'server.keepAliveTimeout = 120_000 (the HTTP layer)', server: { keepAliveTimeout: 120_000 }, arrives: false },
    {
      label: `keepaliveServer(server, { ${settingsLabel(keepalive)} }) (the TCP layer)`,
      server: { keepaliveServer: keepalive },
      arrives: true,
    },
  ]
  const timeoutMs = answerAfterMs + 2 * SLACK_MS
  return {
    id: 'http-incident',
    title: `A Node http server behind a middlebox that resets flows idle ${forgetAfterSeconds} s; the handler answers after ${answerAfterMs / 1000} s`,
    expectedMs: timeoutMs + SLACK_MS,
    run: () =>
      withLab(new Lab({ forgetIdleFlowsAfterSeconds: forgetAfterSeconds, forgottenFlows: 'reset' }), async (lab) => {
        const port = (i: number) => 8401 + i
        const server = await startHttpPeer(lab, 'server', {
          role: 'server',
          host: lab.serverAddress,
          servers: rows.map((row, i) => ({ port: port(i), delayMs: answerAfterMs, ...row.server })),
        })
        // The client: one HTTP/1.1 request on a plain connection with no keepalive of its own (curl, a
        // browser, another service). A Node client on http.Agent({ keepAlive: true }) would keep the flow
        // itself: the Agent turns on TCP keepalive (keepAliveMsecs, 1 s) on its sockets.
        const client = await lab.start('client', {
          role: 'client',
          host: lab.serverAddress,
          connections: rows.map(({ label }, i) => ({ name: label, port: port(i), request: REQUEST })),
        })
        await sleep(timeoutMs)
        return rows.map(({ label, arrives }, i): Measurement => {
          const sent = client.find('connected', label)!.at
          const answer = client.find('data', label)
          const clientError = client.find('error', label)
          const serverError = server.events().find((event) => event.event === 'server-error' && event.port === port(i))
          const onServer = serverError?.event === 'server-error' ? `; the server's socket: ${serverError.code}` : ''
          const measuredMs = answer ? answer.at - sent : null
          const status = answer ? /^HTTP\/1\.1 (\d+)/.exec(answer.text)?.[1] : undefined
          return {
            label,
            expected: arrives
              ? `the answer arrives after ${answerAfterMs / 1000} s`
              : "no answer: the middlebox resets the server's answer (ECONNRESET there), the client waits on",
            outcome: answer
              ? `answered ${status}${onServer}`
              : `${clientError ? clientError.code : `nothing within ${timeoutMs / 1000} s, the connection still open`}${onServer}`,
            measuredMs,
            boundMs: arrives ? answerAfterMs + SLACK_MS : null,
            ok: arrives
              ? status === '200' && measuredMs! >= answerAfterMs && measuredMs! <= answerAfterMs + SLACK_MS && !serverError
              : !answer && !clientError && serverError?.event === 'server-error' && serverError.code === 'ECONNRESET',
          }
        })
      }),
  }
}

/** One way across the emulated link; the race window of a reused connection is one round trip (2 x this). */
const ONE_WAY_MS = 50
/** Gaps swept up to this far past a closing side's idle timeout, every GAP_STEP. */
const GAP_PAST_MS = 100
const GAP_STEP_MS = 25

/** The idle gaps every lane sends at, from `belowMs` below `closesAtMs` to just past it; each lane starts at another point. */
function sweep(closesAtMs: number, belowMs: number, lane: number, lanes: number): number[] {
  const gaps: number[] = []
  for (let gap = closesAtMs - belowMs; gap <= closesAtMs + GAP_PAST_MS; gap += GAP_STEP_MS) gaps.push(gap)
  const start = Math.round((lane * gaps.length) / lanes)
  return [...gaps.slice(start), ...gaps.slice(0, start)]
}

export interface ReuseRace {
  requests: number
  failed: number
  /** Requests sent on a connection that had served one before (on the hop that races). */
  reused: number
  /** The gaps of the failed requests, sorted. */
  failedGapsMs: number[]
  /** What the failures were: '502', or an error code and message, with how many. */
  kinds: Record<string, number>
}

/** The failures (a 502, or any error) among the results after each lane's first request. */
function reuseRace(results: Result[], failed: (result: Result) => boolean): ReuseRace {
  const measured = results.filter((result) => result.i > 0)
  const failures = measured.filter(failed)
  const kinds: Record<string, number> = {}
  for (const { status, error } of failures) {
    const kind = error ? `${error.code} (${error.message})` : String(status)
    kinds[kind] = (kinds[kind] ?? 0) + 1
  }
  return {
    requests: measured.length,
    failed: failures.length,
    reused: measured.filter((result) => result.reused).length,
    failedGapsMs: failures.map((result) => result.gapMs!).sort((a, b) => a - b),
    kinds,
  }
}

function describeKinds(kinds: Record<string, number>): string {
  return Object.entries(kinds)
    .map(([kind, count]) => `${count} x ${kind}`)
    .join(', ')
}

/** A row of the load balancer scenario: how the Node server is configured, and whether the race must show. */
interface ProxyRow {
  label: string
  server: Omit<HttpServerConfig, 'port'>
  races: boolean
}

/** nginx's idle timeout for its kept-alive upstream connections (an ALB's is 60 s by default). */
const UPSTREAM_IDLE_MS = 3000

/**
 * The rows of the load balancer scenario. Another server setting is one more row here: the
 * Node server gets `server` as it is (timeouts, then keepaliveServer options).
 */
export const PROXY_ROWS: ProxyRow[] = [
  {
    label: `server.keepAliveTimeout = 1000, below the proxy's upstream idle (${UPSTREAM_IDLE_MS / 1000} s)`,
    server: { keepAliveTimeout: 1000 },
    races: true,
  },
  {
    label: `server.keepAliveTimeout = ${UPSTREAM_IDLE_MS + 1000}, above the proxy's upstream idle, as plan says`,
    server: { keepAliveTimeout: UPSTREAM_IDLE_MS + 1000 },
    races: false,
  },
  {
    // The server that knows what is in front of it: behind raises its timeouts above the box's idle.
    label: `server.keepAliveTimeout = 1000 and keepaliveServer(server, { behind: { idleTimeout: ${UPSTREAM_IDLE_MS}, kind: 'http' } })`,
    server: { keepAliveTimeout: 1000, keepaliveServer: { behind: { idleTimeout: UPSTREAM_IDLE_MS, kind: 'http' } } },
    races: false,
  },
]

const LANES_PER_ROW = 8

/**
 * 12. The load balancer's reuse race: nginx as a reverse proxy standing for an ALB, keeping its
 * upstream connections alive (`keepalive`, `keepalive_timeout` 3 s) in front of a Node server
 * whose keepAliveTimeout is shorter. When the server closes an idle connection just as the
 * proxy sends a request on it, the request is lost; nginx retries idempotent methods on a new
 * connection by itself, so POSTs are sent, and the lost ones come back as 502. On a path with
 * round-trip time RTT a request sent in the last RTT before the server's timer fires is lost:
 * it left before the server's FIN arrived, and arrives after the server closed. Here the path
 * between proxy and server has an RTT of 100 ms (a userspace delay line, http-delay.ts: this
 * kernel has no netem), and each lane's POSTs come after idle gaps swept across the server's
 * timeout (300 ms below to 100 ms past it, every 25 ms), so a quarter of them fall in the window (fewer are
 * lost: after a 502 nginx drops the connection, and the next request gets a new one); in
 * production the share is RTT over the spread of idle gaps, at every idle timeout of every
 * pooled connection. With
 * the server's keepAliveTimeout above the proxy's upstream idle, the proxy closes first, and
 * whoever closes does not send: 0 of N.
 */
export function httpProxyReuseScenario(rows: ProxyRow[] = PROXY_ROWS): Scenario {
  const title = `A reverse proxy (nginx, upstream keep-alive ${UPSTREAM_IDLE_MS / 1000} s) reusing connections to a Node server; RTT ${2 * ONE_WAY_MS} ms; POSTs at idle gaps across the server's timeout`
  return {
    id: 'http-proxy-reuse',
    title,
    expectedMs: 40_000,
    run: () =>
      withNginxDir(title, (dir) =>
        withLab(new Lab({ proxy: true }), async (lab) => {
          await delayRouter(lab, ONE_WAY_MS)
          const port = (row: number) => 8501 + row
          const server = await startHttpPeer(lab, 'server', {
            role: 'server',
            host: lab.serverAddress,
            servers: rows.map((row, i) => ({ port: port(i), ...row.server })),
          })
          const closesAt = readyServers(server)
          // The same traffic for every row: swept across the first row's server timeout.
          const sweptAcross = closesAt[0].closesIdleAfterMs
          const upstream = (row: number, lane: number) => `row${row}lane${lane}`
          const blocks = rows.flatMap((_, row) =>
            Array.from({ length: LANES_PER_ROW }, (__, lane) => {
              const name = upstream(row, lane)
              return `  upstream ${name} {
    server ${lab.serverAddress}:${port(row)};
    keepalive 8;
    keepalive_timeout ${UPSTREAM_IDLE_MS}ms;
  }`
            }),
          )
          const locations = rows.flatMap((_, row) =>
            Array.from(
              { length: LANES_PER_ROW },
              (__, lane) => `    location /${upstream(row, lane)} { proxy_pass http://${upstream(row, lane)}; }`,
            ),
          )
          const nginxLog = await startNginx(
            lab,
            'proxy',
            dir,
            lab.proxyAddress,
            80,
            `${blocks.join('\n')}
  server {
    listen ${lab.proxyAddress}:80;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
${locations.join('\n')}
  }`,
          )
          const lanes: HttpLane[] = rows.flatMap((_, row) =>
            Array.from({ length: LANES_PER_ROW }, (__, lane) => ({
              name: upstream(row, lane),
              url: `http://${lab.proxyAddress}/${upstream(row, lane)}`,
              client: { kind: 'agent', options: { keepAlive: true } } as HttpClientKind,
              gapsMs: sweep(sweptAcross, 300, lane, LANES_PER_ROW),
              timeoutMs: 5000,
            })),
          )
          const client = await startHttpPeer(lab, 'client', { role: 'client', lanes })
          await lanesDone(client, lanes, 120_000)
          const log = nginxLog()
          const logged = {
            closed: log.split('upstream prematurely closed connection').length - 1,
            reset: log.split('Connection reset by peer').length - 1,
          }
          return rows.map(({ label, races }, row): Measurement => {
            const names = lanes.filter((lane) => lane.name.startsWith(`row${row}lane`)).map((lane) => lane.name)
            const race = reuseRace(resultsOf(client, names), (result) => result.status !== 200)
            const connections = server.events().filter((e) => e.event === 'connection' && e.port === port(row)).length
            // Every upstream connection carried one request that did not reuse: each lane's first, and the rest measured.
            const upstreamRace = { ...race, reused: race.requests - (connections - names.length) }
            const idleCloses = server.events().flatMap((e) => (e.event === 'idle-close' && e.port === port(row) ? [e.idleMs] : []))
            const serverCloses = idleCloses.length
              ? `; the server closed ${idleCloses.length} idle connections after ${Math.min(...idleCloses)}-${Math.max(...idleCloses)} ms`
              : '; the server closed no idle connection'
            const closes = closesAt[row].closesIdleAfterMs
            const gaps = race.failedGapsMs
            const all502 = race.kinds['502'] === race.failed
            return {
              label: `${label} (closes idle connections after ${closes} ms)`,
              expected: races
                ? `some POSTs get 502: those sent in the last round trip before the server closes (gaps near ${closes} ms)`
                : `0 of ${race.requests} POSTs get 502`,
              outcome:
                `${race.failed} of ${race.requests} POSTs got 502` +
                (race.failed ? ` (gaps ${gaps[0]}-${gaps.at(-1)} ms${all502 ? '' : `; ${describeKinds(race.kinds)}`})` : '') +
                `; ${upstreamRace.reused} sent on a reused upstream connection, ${connections} opened` +
                serverCloses +
                (races ? `; nginx: ${logged.closed} x upstream prematurely closed, ${logged.reset} x connection reset by peer` : ''),
              measuredMs: null,
              boundMs: null,
              ok: races ? race.failed > 0 && race.failed < race.requests && all502 : race.failed === 0,
              reuseRace: upstreamRace,
            }
          })
        }),
      ),
  }
}

/** Why the undici rows cannot run here (undici is an optional peer dependency), or null. */
function undiciUnavailableReason(): string | null {
  try {
    require.resolve('undici')
    return null
  } catch {
    return 'the undici rows need undici (npm install undici)'
  }
}

/** Whether every failure is the connection closing under the request (not a timeout, a refusal, ...). */
function closedUnderIt(race: ReuseRace): boolean {
  return Object.keys(race.kinds).every((kind) => /^(ECONNRESET|EPIPE|UND_ERR_SOCKET) /.test(kind))
}

/** nginx's keep-alive timeout for the client scenario: one parameter, so it sends no `Keep-Alive: timeout=` header. */
const SERVER_IDLE_MS = 1000
/**
 * The control rows' idle-socket timeout: below the server's by more than a round trip and the
 * event-loop stalls of a busy machine (at 800 ms, one run in five lost a request). The gaps start
 * 100 ms below it, so the controls still reuse sockets.
 */
const CLIENT_IDLE_MS = 500

/**
 * 13. The client's reuse race: http.Agent and undici pools keep idle sockets to reuse; the
 * server (nginx, `keepalive_timeout 1s` with one parameter: no `Keep-Alive: timeout=` header
 * for the client to honour; Node's http server always sends one) closes them after 1 s. A
 * request sent in the last round trip before that goes out on a socket the server is closing:
 * ECONNRESET / "socket hang up" (http.Agent), "other side closed" (undici). RTT 100 ms as
 * above, POSTs (no client retries them) at idle gaps swept across the server's timeout. With
 * the pool's idle-socket timeout below the server's (http.Agent's `timeout`, undici's
 * `keepAliveTimeout`), the client drops the socket first: 0 of N. The gaps go from just below
 * the client's idle timeout to just past the server's, every 25 ms.
 */
export function httpClientReuseScenario(): Scenario {
  const rows: Array<{ label: string; client: HttpClientKind; races: boolean }> = [
    { label: 'new http.Agent({ keepAlive: true })', client: { kind: 'agent', options: { keepAlive: true } }, races: true },
    {
      label: `new http.Agent({ keepAlive: true, timeout: ${CLIENT_IDLE_MS} })`,
      client: { kind: 'agent', options: { keepAlive: true, timeout: CLIENT_IDLE_MS } },
      races: false,
    },
    { label: 'new undici.Pool(origin) (keepAliveTimeout 4 s, the default)', client: { kind: 'undici' }, races: true },
    {
      label: `new undici.Pool(origin, { keepAliveTimeout: ${CLIENT_IDLE_MS} })`,
      client: { kind: 'undici', options: { keepAliveTimeout: CLIENT_IDLE_MS } },
      races: false,
    },
  ]
  const lanesPerRow = 6
  const title = `HTTP clients reusing pooled sockets that the server (nginx, keepalive_timeout ${SERVER_IDLE_MS / 1000}s, not advertised) closes; RTT ${2 * ONE_WAY_MS} ms; POSTs at idle gaps across its timeout`
  return {
    id: 'http-client-reuse',
    title,
    expectedMs: 30_000,
    run: () =>
      withNginxDir(title, (dir) =>
        withLab(new Lab(), async (lab) => {
          await delayRouter(lab, ONE_WAY_MS)
          await startNginx(
            lab,
            'server',
            dir,
            lab.serverAddress,
            80,
            `  server {
    listen ${lab.serverAddress}:80;
    keepalive_timeout ${SERVER_IDLE_MS}ms;
    location / { return 200 "answer\\n"; }
  }`,
          )
          const name = (row: number, lane: number) => `row${row}lane${lane}`
          const missing = (client: HttpClientKind) => (client.kind === 'undici' ? undiciUnavailableReason() : null)
          const lanes: HttpLane[] = rows.flatMap(({ client }, row) =>
            Array.from({ length: missing(client) ? 0 : lanesPerRow }, (_, lane) => ({
              name: name(row, lane),
              url: `http://${lab.serverAddress}/`,
              client,
              gapsMs: sweep(SERVER_IDLE_MS, SERVER_IDLE_MS - CLIENT_IDLE_MS + 100, lane, lanesPerRow),
              timeoutMs: 5000,
            })),
          )
          const client = await startHttpPeer(lab, 'client', { role: 'client', lanes })
          await lanesDone(client, lanes, 120_000)
          return rows.map(({ label, client: kind, races }, row): Measurement => {
            const notRun = missing(kind)
            if (notRun) return { label, expected: 'undici runs', outcome: `not run: ${notRun}`, measuredMs: null, boundMs: null, ok: false }
            const names = Array.from({ length: lanesPerRow }, (_, lane) => name(row, lane))
            const race = reuseRace(resultsOf(client, names), (result) => result.status !== 200)
            const gaps = race.failedGapsMs
            return {
              label,
              expected: races
                ? `some POSTs fail: those sent in the last round trip before the server closes (gaps near ${SERVER_IDLE_MS} ms)`
                : `0 of ${race.requests} POSTs fail`,
              outcome:
                `${race.failed} of ${race.requests} POSTs failed` +
                (race.failed ? ` (gaps ${gaps[0]}-${gaps.at(-1)} ms: ${describeKinds(race.kinds)})` : '') +
                `; ${race.reused} sent on a reused socket`,
              measuredMs: null,
              boundMs: null,
              ok: races ? race.failed > 0 && race.failed < race.requests && closedUnderIt(race) : race.failed === 0,
              reuseRace: race,
            }
          })
        }),
      ),
  }
}
