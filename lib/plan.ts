// planKeepalive: from "the network forgets idle flows after T", "find a dead
// peer within D" and "the link loses p of its packets" to idle, interval, count
// and userTimeout, with the reasoning.
import { invalidArgType, invalidArgValue, keepaliveError, outOfRange } from './errors.js'
import { type Behind, resolveBox, type ResolvedBox } from './presets.js'

export { IDLE_TIMEOUT_PRESETS, type IdleTimeoutPreset } from './presets.js'

export interface PlanRequest {
  /** The middlebox forgets a flow idle this long (ms). */
  idleTimeout?: number
  /** A dead peer must be found within this long (ms), idle or with data in flight. */
  detectWithin?: number
  /**
   * Unanswered probes before giving up. Default 3 (two lost probes are survived), or with `loss` the
   * smallest count from 3 up that keeps the expected false drops within `falseDropsPerYear`.
   */
  count?: number
  /** The fraction of packets lost each way, 0 <= loss < 1 (0.01 is 1 %). */
  loss?: number
  /** How many connections the false-drop budget is for. Default 1. */
  connections?: number
  /** With `loss`: the expected number of healthy connections dropped per year, over all `connections`, allowed. Default 1. */
  falseDropsPerYear?: number
}

/** The loss model: what lost probes cost healthy idle connections. */
export interface FalseDrops {
  /** q = 1 - (1 - loss)^2: a probe or its ACK is lost. */
  exchangeFailure: number
  /** q^count: `count` exchanges in a row fail, and a healthy connection is dropped. */
  perRound: number
  /** About 86 400 / idle rounds a day for a connection idle all day. */
  perConnectionPerDay: number
  /** For all `connections`. */
  perDay: number
  perYear: number
  /** The budget it was planned against, and whether it holds. */
  budgetPerYear: number
  withinBudget: boolean
}

/** Settings to pass to configureKeepalive (whole seconds: they read back exactly), and why. */
export interface KeepalivePlan {
  idle: number
  interval: number
  count: number
  userTimeout: number
  /** When a dead peer is found at the latest, idle or with data in flight (ms). */
  detection: number
  /**
   * With `loss`: the expected false drops of healthy connections (q = 1 - (1 - loss)^2 per exchange, q^count per
   * round, 86 400 / idle rounds a day); otherwise null.
   */
  falseDrops: FalseDrops | null
  reasoning: string[]
}

const SECOND = 1_000
const DAY = 86_400_000
const YEAR_DAYS = 365
/** The largest TCP_KEEPIDLE and TCP_KEEPINTVL (Linux; macOS takes more): 32 767 s. */
const MAX_SECONDS = 32_767
/** TCP_USER_TIMEOUT is an int of ms: 2^31 - 1, whole seconds below it. */
const MAX_USER_TIMEOUT_SECONDS = Math.floor(2_147_483_647 / SECOND)
const MAX_COUNT = 127
const seconds = (ms: number) => `${ms / SECOND} s`

/** 3 significant digits, or an exponent for the very small and the very large. */
function number(value: number): string {
  if (value === 0) return '0'
  if (value >= 0.001 && value < 1e7) return String(Number(value.toPrecision(3)))
  return value.toExponential(2)
}
const percent = (fraction: number) => `${Number((fraction * 100).toPrecision(6))} %`

/**
 * The false-drop model: on a link that loses a fraction `loss` of packets each way (independently), a
 * keepalive exchange fails when the probe or its ACK is lost, q = 1 - (1 - loss)^2; a healthy connection
 * is dropped when `count` exchanges in a row fail (q^count per round); a connection idle all day runs
 * about 86 400 s / idle rounds. Returns the expected false drops per connection per round and per day.
 */
export function falseDropModel(settings: { idle: number; count: number; loss: number }): {
  exchangeFailure: number
  perRound: number
  perConnectionPerDay: number
} {
  const { idle, count, loss } = settings
  const exchangeFailure = 1 - (1 - loss) ** 2
  const perRound = exchangeFailure ** count
  return { exchangeFailure, perRound, perConnectionPerDay: (DAY / idle) * perRound }
}

function planError(message: string): Error {
  return keepaliveError('ERR_KEEPALIVE_PLAN', message, RangeError)
}

/**
 * Plans keepalive settings:
 * - with an idle timeout T, the first probe goes out at T/2 (earlier where `count`
 *   probes 1 s apart do not fit after that) and every probe of a lost sequence
 *   still before T: idle + interval x (count - 1) < T;
 * - with a detection bound D, idle + interval x count <= D;
 * - with a loss rate, count is chosen (unless given) so the expected false drops
 *   of `connections` stay within `falseDropsPerYear` (see {@link FalseDrops});
 * - userTimeout = idle + interval x count: data in flight is given up on no
 *   later than an idle connection.
 * Times are whole seconds (what Linux and macOS hold), from 1 s to 32 767 s, and
 * userTimeout at most 2^31 - 1 ms: every plan is accepted by configureKeepalive
 * and read back exactly by readKeepalive. What cannot be met throws a RangeError
 * with code ERR_KEEPALIVE_PLAN saying why; a bad request throws ERR_OUT_OF_RANGE,
 * ERR_INVALID_ARG_TYPE or ERR_INVALID_ARG_VALUE naming the field and its bound.
 */
export function planKeepalive(request: PlanRequest): KeepalivePlan {
  if (typeof request !== 'object' || request === null) throw invalidArgType('request', 'of type object', request)
  const { idleTimeout, detectWithin, loss, connections = 1, falseDropsPerYear = 1 } = request
  for (const [name, value] of [
    ['idleTimeout', idleTimeout],
    ['detectWithin', detectWithin],
  ] as const) {
    if (value === undefined) continue
    if (typeof value !== 'number') throw invalidArgType(`request.${name}`, 'of type number', value)
    if (!Number.isFinite(value) || value < 2 * SECOND) throw outOfRange(`request.${name}`, '>= 2000 (ms) and finite', value)
  }
  if (request.count !== undefined && (!Number.isInteger(request.count) || request.count < 1 || request.count > MAX_COUNT)) {
    throw outOfRange('request.count', `an integer >= 1 && <= ${MAX_COUNT}`, request.count)
  }
  if (loss !== undefined && (typeof loss !== 'number' || !(loss >= 0 && loss < 1))) {
    throw outOfRange('request.loss', '>= 0 && < 1 (a fraction: 0.01 is 1 %)', loss)
  }
  if (!Number.isSafeInteger(connections) || connections < 1) throw outOfRange('request.connections', 'an integer >= 1', connections)
  if (typeof falseDropsPerYear !== 'number' || !(falseDropsPerYear > 0) || !Number.isFinite(falseDropsPerYear)) {
    throw outOfRange('request.falseDropsPerYear', '> 0 and finite', falseDropsPerYear)
  }
  if (idleTimeout === undefined && detectWithin === undefined) {
    throw invalidArgValue('request', request, 'must give idleTimeout, detectWithin or both')
  }
  const reasoning: string[] = []
  // Whole seconds from 1 s to the largest idle and interval every platform takes.
  const wholeSeconds = (ms: number) => Math.min(MAX_SECONDS, Math.max(1, Math.floor(ms / SECOND))) * SECOND
  const halves = [idleTimeout, detectWithin].filter((bound) => bound !== undefined).map((bound) => wholeSeconds(bound / 2))
  let idle = Math.min(...halves)

  // The count: given, the default, or the smallest from 3 up within the false-drop budget.
  const budgetFor = (count: number) => {
    const model = falseDropModel({ idle, count, loss: loss ?? 0 })
    const perDay = model.perConnectionPerDay * connections
    return { ...model, perDay, perYear: perDay * YEAR_DAYS }
  }
  let count = request.count ?? 3
  if (loss !== undefined && request.count === undefined) {
    while (count <= MAX_COUNT && budgetFor(count).perYear > falseDropsPerYear) count += 1
    if (count > MAX_COUNT) {
      throw planError(
        `no count up to ${MAX_COUNT} keeps the expected false drops of ${connections} connection(s) at ${percent(loss)} loss ` +
          `within ${number(falseDropsPerYear)} a year with idle ${seconds(idle)}: the link loses too much for keepalive to tell a lost probe from a dead peer`,
      )
    }
  }

  // Half a bound leaves no room for `count` probes 1 s apart before it: an earlier first probe may (idle 1 s,
  // interval 1 s, count 3 fit 4 s). Not where the count was chosen for this idle's false drops.
  const roomy = [
    idleTimeout === undefined ? Infinity : Math.floor((idleTimeout - (count - 1) * SECOND - 1) / SECOND) * SECOND,
    detectWithin === undefined ? Infinity : Math.floor((detectWithin - count * SECOND) / SECOND) * SECOND,
  ]
  const lowered = (loss === undefined || request.count !== undefined) && Math.min(...roomy) >= SECOND && Math.min(...roomy) < idle
  if (lowered) idle = Math.min(...roomy)

  const intervals: number[] = []
  // Every probe of a lost sequence before the middlebox forgets: idle + interval x (count - 1) < T.
  if (idleTimeout !== undefined) intervals.push(wholeSeconds((idleTimeout - idle - SECOND) / Math.max(1, count - 1)))
  if (detectWithin !== undefined) {
    const fits = Math.floor((detectWithin - idle) / count / SECOND) * SECOND
    if (fits < SECOND) {
      const why =
        loss !== undefined && request.count === undefined
          ? `the false-drop budget needs count ${count} at ${percent(loss)} loss, and ${count} probes at least 1 s apart after an idle of ${seconds(idle)} do not fit within ${seconds(detectWithin)}: both cannot be met; raise the bound, the budget or lower the loss`
          : `cannot find a dead peer within ${seconds(detectWithin)} with ${count} probes at least 1 s apart after an idle of ${seconds(idle)}: lower the count or raise the bound`
      throw planError(why)
    }
    intervals.push(Math.min(MAX_SECONDS * SECOND, fits))
  }
  let interval = Math.min(...intervals)
  if (idleTimeout !== undefined && idle + interval * (count - 1) >= idleTimeout) {
    throw planError(
      loss !== undefined && request.count === undefined
        ? `the false-drop budget needs count ${count} at ${percent(loss)} loss, and ${count} probes at least 1 s apart do not all go out before a middlebox forgets after ${seconds(idleTimeout)}: both cannot be met`
        : `cannot send ${count} probes at least 1 s apart before a middlebox forgets after ${seconds(idleTimeout)}: lower the count`,
    )
  }
  // TCP_USER_TIMEOUT holds at most 2^31 - 1 ms: probe more often rather than plan what the kernel refuses.
  const cappedForUserTimeout = idle + interval * count > MAX_USER_TIMEOUT_SECONDS * SECOND
  if (cappedForUserTimeout) interval = Math.floor((MAX_USER_TIMEOUT_SECONDS * SECOND - idle) / count / SECOND) * SECOND
  const userTimeout = idle + interval * count

  if (idleTimeout !== undefined) {
    reasoning.push(
      `The middlebox forgets a flow idle ${seconds(idleTimeout)}: the first probe goes out ${lowered ? `earlier than half of that, so ${count} probes 1 s apart fit` : 'by half of that'} (idle ${seconds(idle)}${idle === MAX_SECONDS * SECOND ? ', the largest the kernel takes' : ''}), ` +
        `and should probes be lost the last of ${count} still goes out before it forgets ` +
        `(idle + interval x ${count - 1} = ${seconds(idle + interval * (count - 1))} < ${seconds(idleTimeout)}).`,
    )
  } else {
    reasoning.push(
      `No middlebox timeout given: the first probe goes out ${lowered ? `earlier than half the detection bound, so ${count} probes 1 s apart fit` : 'at half the detection bound'} (idle ${seconds(idle)}${idle === MAX_SECONDS * SECOND ? ', the largest the kernel takes' : ''}).`,
    )
  }
  if (detectWithin !== undefined) {
    reasoning.push(
      `A dead peer is found within ${seconds(detectWithin)}: idle + interval x count = ${seconds(idle)} + ${seconds(interval)} x ${count} = ${seconds(userTimeout)}` +
        (interval === MAX_SECONDS * SECOND ? ` (interval ${seconds(interval)} is the largest the kernel takes).` : '.'),
    )
  } else {
    reasoning.push(`A dead peer is found after idle + interval x count = ${seconds(userTimeout)}.`)
  }
  if (cappedForUserTimeout) {
    reasoning.push(
      `TCP_USER_TIMEOUT holds at most 2^31 - 1 ms (${seconds(MAX_USER_TIMEOUT_SECONDS * SECOND)} in whole seconds): the interval is lowered to ${seconds(interval)} so idle + interval x count fits.`,
    )
  }

  let falseDrops: FalseDrops | null = null
  if (loss !== undefined) {
    const model = budgetFor(count)
    falseDrops = {
      exchangeFailure: model.exchangeFailure,
      perRound: model.perRound,
      perConnectionPerDay: model.perConnectionPerDay,
      perDay: model.perDay,
      perYear: model.perYear,
      budgetPerYear: falseDropsPerYear,
      withinBudget: model.perYear <= falseDropsPerYear,
    }
    const q = model.exchangeFailure
    reasoning.push(
      `At ${percent(loss)} loss each way a keepalive exchange fails when the probe or its ACK is lost: q = 1 - (1 - ${number(loss)})^2 = ${number(q)}. ` +
        `A healthy connection is dropped after ${count} failed exchanges in a row: q^${count} = ${number(model.perRound)} per round, ` +
        `and a connection idle all day runs 86400 s / ${seconds(idle)} = ${number(DAY / idle)} rounds: ` +
        `${number(model.perConnectionPerDay)} false drops per connection per day, ${number(model.perDay)} a day and ${number(model.perYear)} a year for ${connections} connection(s).`,
    )
    if (falseDrops.withinBudget) {
      reasoning.push(
        request.count === undefined
          ? `Count ${count} is the smallest from 3 up that keeps that within the budget of ${number(falseDropsPerYear)} a year` +
              (count > 3 ? ` (count ${count - 1}: ${number(budgetFor(count - 1).perYear)} a year).` : '.')
          : `That is within the budget of ${number(falseDropsPerYear)} a year.`,
      )
    } else {
      let enough = count
      while (enough <= MAX_COUNT && budgetFor(enough).perYear > falseDropsPerYear) enough += 1
      reasoning.push(
        `That is above the budget of ${number(falseDropsPerYear)} a year: ` +
          (enough <= MAX_COUNT
            ? `count ${enough} would keep it within (${number(budgetFor(enough).perYear)} a year).`
            : `no count up to ${MAX_COUNT} would.`),
      )
    }
  }
  reasoning.push(
    `Set userTimeout ${seconds(userTimeout)} (= idle + interval x count): keepalive does not probe while data is in flight, nor while a peer that stopped reading holds its window closed; ` +
      'TCP_USER_TIMEOUT gives such a connection up no later than an idle one (for a closed window since Linux 5.11).',
  )
  reasoning.push(
    `That user timeout is also the longest a healthy peer may stop reading while this side writes: a slower reader (a paused stream, a slow consumer) ` +
      `is dropped like a dead one (ETIMEDOUT); leave userTimeout out, or make it longer than any pause your peers take.`,
  )
  reasoning.push(
    'Keepalive will not find a peer whose process hangs while its kernel still answers the probes (the connection stays open, idle, for ever): ' +
      'only an application heartbeat with a deadline finds that.',
  )
  return { idle, interval, count, userTimeout, detection: userTimeout, falseDrops, reasoning }
}

/**
 * The `TCP_KEEPALIVE` line for the preload (`tcp-keepalive/register`), as `plan` prints it:
 * `TCP_KEEPALIVE="idle=60s interval=10s count=6 user-timeout=120s"`. Times in whole seconds, as plans are.
 */
export function tcpKeepaliveLine(settings: { idle: number; interval: number; count: number; userTimeout: number }): string {
  const s = (ms: number) => `${ms / SECOND}s`
  return `TCP_KEEPALIVE="idle=${s(settings.idle)} interval=${s(settings.interval)} count=${settings.count} user-timeout=${s(settings.userTimeout)}"`
}

/** A Node HTTP server's timeouts behind a box (ms): what `server.keepAliveTimeout` etc. should at least be. */
export interface HttpServerTimeouts {
  keepAliveTimeout: number
  headersTimeout: number
  /** Node refuses a headersTimeout above requestTimeout (createServer throws ERR_OUT_OF_RANGE): Node's 300 s default, or more. */
  requestTimeout: number
}

/** Node's default server.requestTimeout (Node 18 and later). */
const NODE_REQUEST_TIMEOUT = 300_000

/**
 * How far the HTTP keep-alive timeouts stay from a box's idle timeout: 5 s (a server behind a 60 s AWS ALB gets the
 * familiar 65 s), at most half of it for short ones.
 */
function httpMargin(idleTimeout: number): number {
  return Math.min(5 * SECOND, Math.floor(idleTimeout / 2))
}

/**
 * A Node server behind a box that closes connections idle `idleTimeout` ms: keepAliveTimeout above it, so the box
 * closes an idle connection first and never sends a request on one the server is closing (the 502s behind a load
 * balancer); headersTimeout above keepAliveTimeout, as is usual; requestTimeout no lower than headersTimeout.
 */
export function httpServerTimeouts(idleTimeout: number): HttpServerTimeouts {
  const keepAliveTimeout = idleTimeout + httpMargin(idleTimeout)
  const headersTimeout = keepAliveTimeout + SECOND
  return { keepAliveTimeout, headersTimeout, requestTimeout: Math.max(NODE_REQUEST_TIMEOUT, headersTimeout) }
}

export interface LayerPlanRequest extends Omit<PlanRequest, 'idleTimeout'> {
  /** The box in front: a preset's name, or `{ idleTimeout, kind }`. */
  behind?: Behind
}

/** Each layer's settings for connections through a box, and why. */
export interface LayerPlan {
  box: ResolvedBox | null
  /** TCP keepalive: from the box's idle timeout for a TCP box, else only from `detectWithin`; null without either. */
  tcp: KeepalivePlan | null
  /** Whether TCP keepalive keeps the box's idle connections open: true for a TCP box, false for an HTTP one; null without a box. */
  tcpKeepaliveHelps: boolean | null
  /** A Node server behind the box. */
  httpServer: HttpServerTimeouts | null
  /** Node clients of the box: the pool closes a socket idle this long (ms), below the box's idle and the server's keepAliveTimeout. */
  httpClient: { idleSocketTimeout: number } | null
  notes: string[]
}

/**
 * Plans every layer for connections through a box: TCP keepalive as {@link planKeepalive} does (from the box's idle
 * timeout only where probes count as activity, a TCP box), a Node server's keep-alive timeouts above the box's idle,
 * and Node clients' idle-socket timeout below it. Throws as planKeepalive does, and for a bad `behind` with
 * ERR_INVALID_ARG_TYPE, ERR_INVALID_ARG_VALUE (an unknown preset, listing them) or ERR_OUT_OF_RANGE.
 */
export function planLayers(request: LayerPlanRequest): LayerPlan {
  if (typeof request !== 'object' || request === null) throw invalidArgType('request', 'of type object', request)
  const { behind, ...rest } = request
  if ((rest as PlanRequest).idleTimeout !== undefined) {
    throw invalidArgValue('request.idleTimeout', (rest as PlanRequest).idleTimeout, 'is given as request.behind: { idleTimeout, kind }')
  }
  if (behind === undefined && rest.detectWithin === undefined)
    throw invalidArgValue('request', request, 'must give behind, detectWithin or both')
  const box = behind === undefined ? null : resolveBox(behind, 'request.behind')
  const tcp =
    box?.kind === 'tcp'
      ? planKeepalive({ ...rest, idleTimeout: box.idleTimeout })
      : rest.detectWithin !== undefined
        ? planKeepalive(rest)
        : null
  if (box === null) return { box, tcp, tcpKeepaliveHelps: null, httpServer: null, httpClient: null, notes: [] }

  const { idleTimeout, kind, what } = box
  const httpServer = httpServerTimeouts(idleTimeout)
  const httpClient = { idleSocketTimeout: idleTimeout - httpMargin(idleTimeout) }
  const T = seconds(idleTimeout)
  const notes =
    kind === 'tcp'
      ? [
          `${what}: TCP passes through it and a keepalive probe counts as activity, so the TCP keepalive above keeps idle connections open through it.`,
        ]
      : [
          `${what}: it terminates HTTP and its idle timer counts only data, so TCP keepalive does not keep its connections open (a probe carries none)` +
            (tcp ? '; the TCP keepalive above only finds a dead peer.' : '.'),
          `A request that runs longer than ${T} without a byte is cut by the box: keep bytes flowing before then (a streamed response, SSE comments, WebSocket pings), or raise its idle timeout.`,
        ]
  notes.push(
    `A Node server behind it: keepAliveTimeout ${seconds(httpServer.keepAliveTimeout)} and headersTimeout ${seconds(httpServer.headersTimeout)}, above the box's idle ${T}: ` +
      (kind === 'http'
        ? 'the box closes an idle connection first, and never sends a request on one the server is closing (the 502s).'
        : 'a client (below) closes an idle connection first, never the server while a request may be on its way.') +
      (httpServer.requestTimeout > NODE_REQUEST_TIMEOUT
        ? ` requestTimeout ${seconds(httpServer.requestTimeout)}: Node refuses a headersTimeout above it (default 300 s).`
        : ''),
    `Node clients${kind === 'http' ? ' of the box' : ''}: close pooled sockets idle ${seconds(httpClient.idleSocketTimeout)}, below the box's idle and the server's keepAliveTimeout, ` +
      "so none is reused after the other end closed or forgot it: http.Agent's timeout, undici's keepAliveTimeout and keepAliveMaxTimeout (a server's Keep-Alive: timeout= hint can raise undici's up to that).",
  )
  return { box, tcp, tcpKeepaliveHelps: kind === 'tcp', httpServer, httpClient, notes }
}
