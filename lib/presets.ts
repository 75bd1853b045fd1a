// The boxes in front of a connection whose idle timeouts their vendors publish:
// what kind of box each is (does a keepalive probe count as activity?) and where
// the figure comes from. Shared by plan, inspect and keepaliveServer's `behind`.
import { invalidArgType, invalidArgValue, outOfRange } from './errors.js'

/**
 * `'tcp'`: passes TCP through (NAT, connection tracking, a TCP load balancer): a keepalive probe is a packet of the
 * flow and counts as activity. `'http'`: terminates HTTP (an application load balancer, a reverse proxy): its idle
 * timer counts only data, so TCP keepalive does not keep its connections open.
 */
export type BoxKind = 'tcp' | 'http'

/** A published idle timeout: the figure (ms), the kind of box, what it is, and the vendor's page. */
export interface IdleTimeoutPresetInfo {
  idleTimeout: number
  kind: BoxKind
  what: string
  source: string
}

const preset = (idleTimeout: number, kind: BoxKind, what: string, source: string): IdleTimeoutPresetInfo =>
  Object.freeze({ idleTimeout, kind, what, source })

const GCP_FIREWALL = preset(
  600_000,
  'tcp',
  'Google Cloud VPC firewall connection tracking (a connection stays tracked while a packet passes at least every 10 min)',
  'https://cloud.google.com/vpc/docs/firewalls#specifications',
)
const EC2_CONNTRACK = 'https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ConnectionTrackingConfiguration.html'

/** Boxes whose idle timeouts their vendors publish (checked against the vendor pages named in `source`). */
export const IDLE_TIMEOUT_PRESETS = Object.freeze({
  'aws-nlb': preset(
    350_000,
    'tcp',
    'AWS Network Load Balancer (TCP idle timeout 350 s by default, configurable 60-6000 s; TLS listeners 350 s, fixed)',
    'https://docs.aws.amazon.com/elasticloadbalancing/latest/network/update-idle-timeout.html',
  ),
  'aws-alb': preset(
    60_000,
    'http',
    'AWS Application Load Balancer (connection idle timeout 60 s by default, for client and target connections)',
    'https://docs.aws.amazon.com/elasticloadbalancing/latest/application/edit-load-balancer-attributes.html#connection-idle-timeout',
  ),
  'aws-nat-gateway': preset(
    350_000,
    'tcp',
    'AWS NAT Gateway (idle timeout 350 s)',
    'https://docs.aws.amazon.com/vpc/latest/userguide/nat-gateway-troubleshooting.html#nat-gateway-troubleshooting-timeout',
  ),
  'aws-ec2-conntrack': preset(
    432_000_000,
    'tcp',
    'Amazon EC2 security group connection tracking (TCP established idle timeout 432000 s = 5 days by default, before Nitro v6)',
    EC2_CONNTRACK,
  ),
  'aws-ec2-conntrack-nitro-v6': preset(
    350_000,
    'tcp',
    'Amazon EC2 security group connection tracking on Nitro v6 instance types (TCP established idle timeout 350 s by default)',
    EC2_CONNTRACK,
  ),
  'azure-lb': preset(
    240_000,
    'tcp',
    'Azure Load Balancer (default TCP idle timeout 4 min, configurable 4-100 min)',
    'https://learn.microsoft.com/azure/load-balancer/load-balancer-tcp-idle-timeout',
  ),
  'azure-nat-gateway': preset(
    240_000,
    'tcp',
    'Azure NAT Gateway (default TCP idle timeout 4 min, configurable up to 120 min)',
    'https://learn.microsoft.com/azure/nat-gateway/nat-gateway-resource#idle-timeout-timers',
  ),
  'gcp-cloud-nat': preset(
    1_200_000,
    'tcp',
    'Google Cloud NAT (TCP established connection idle timeout 1200 s by default)',
    'https://cloud.google.com/nat/docs/tune-nat-configuration#nat-timeouts',
  ),
  'gcp-vpc-firewall': GCP_FIREWALL,
  'gcp-external-http-lb': preset(
    600_000,
    'http',
    'Google Cloud external Application Load Balancer (backend HTTP keepalive timeout 600 s, fixed)',
    'https://cloud.google.com/load-balancing/docs/https/request-distribution',
  ),
  'linux-conntrack': preset(
    432_000_000,
    'tcp',
    'Linux connection tracking (nf_conntrack_tcp_timeout_established 432000 s = 5 days by default)',
    'https://docs.kernel.org/networking/nf_conntrack-sysctl.html',
  ),
  /** @deprecated The old name of `gcp-vpc-firewall`: its figure is the VPC firewall's connection tracking, not a load balancer's. */
  'gcp-lb': preset(600_000, 'tcp', `${GCP_FIREWALL.what}; 'gcp-lb' is its old name`, GCP_FIREWALL.source),
} as const)
export type IdleTimeoutPreset = keyof typeof IDLE_TIMEOUT_PRESETS
export const PRESET_NAMES = Object.keys(IDLE_TIMEOUT_PRESETS).join(', ')

/** A box in front of the connections: a preset's name, or its idle timeout (ms) and kind (default `'tcp'`). */
export type Behind = IdleTimeoutPreset | { idleTimeout: number; kind?: BoxKind }

/** A box, resolved: `name` and `source` are null for one given by its idle timeout. */
export interface ResolvedBox {
  name: IdleTimeoutPreset | null
  idleTimeout: number
  kind: BoxKind
  what: string
  source: string | null
}

/** The shortest idle timeout a box may have: planning TCP keepalive probes at half of it needs whole seconds. */
const MIN_IDLE_TIMEOUT = 2_000

/** Validates `behind` (the argument or property called `name`) and resolves a preset's name to its figures. */
export function resolveBox(behind: unknown, name: string): ResolvedBox {
  if (typeof behind === 'string') {
    if (!Object.hasOwn(IDLE_TIMEOUT_PRESETS, behind)) throw invalidArgValue(name, behind, `is not a preset; presets are ${PRESET_NAMES}`)
    const { idleTimeout, kind, what, source } = IDLE_TIMEOUT_PRESETS[behind as IdleTimeoutPreset]
    return { name: behind as IdleTimeoutPreset, idleTimeout, kind, what, source }
  }
  if (typeof behind !== 'object' || behind === null || Array.isArray(behind)) {
    throw invalidArgType(name, 'a preset name (string) or an object { idleTimeout, kind }', behind)
  }
  const { idleTimeout, kind = 'tcp' } = behind as { idleTimeout?: unknown; kind?: unknown }
  if (typeof idleTimeout !== 'number') throw invalidArgType(`${name}.idleTimeout`, 'of type number', idleTimeout)
  if (!Number.isFinite(idleTimeout) || idleTimeout < MIN_IDLE_TIMEOUT) {
    throw outOfRange(`${name}.idleTimeout`, `>= ${MIN_IDLE_TIMEOUT} (ms) and finite`, idleTimeout)
  }
  if (kind !== 'tcp' && kind !== 'http') throw invalidArgValue(`${name}.kind`, kind, "must be 'tcp' or 'http'")
  const what = `${kind === 'http' ? 'An HTTP-terminating box' : 'A TCP box'} that forgets connections idle ${idleTimeout / 1_000} s`
  return { name: null, idleTimeout, kind, what, source: null }
}
