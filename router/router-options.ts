/**
 * The router's settings, their defaults, and the context every routing module shares: the route
 * table in force, the forwarder, health, OAuth2 handshakes, the learned query owners and metrics.
 */
import type { Logger } from 'pino';
import type { RouteBackend, RouteGroup } from '../routetable/schema.ts';
import type { BalancingMode } from './balancer.ts';
import type { Resumer } from './resume.ts';
import type { Activity } from './activity.ts';
import type { RouteIndex } from './route-index.ts';
import type { StickyMap } from './sticky-map.ts';
import type { Forwarder } from './forwarder.ts';
import type { HealthChecks } from './health-checks.ts';
import type { OAuth2Handshake, OAuth2CookieOptions } from './oauth2-handshake.ts';
import type { RouterMetrics } from './router-metrics.ts';

export interface RouterOptions {
  /** Origin (`http://host:port`) of a coordinator Service. Default: cluster DNS. */
  resolveService?: (s: RouteBackend['service']) => string;
  balancing?: BalancingMode;
  /** OAuth2 cookie stickiness; off when no secret is configured. */
  oauth2?: OAuth2CookieOptions;
  healthIntervalMs?: number;
  /** Coordinators probed at once when the owner of a query is unknown. */
  probeConcurrency?: number;
  /** How long one probe or health check of one coordinator may take. */
  probeTimeoutMs?: number;
  /** How long a client may take to send its request headers, and its whole request (408 past them). */
  clientHeadersTimeoutMs?: number;
  clientRequestTimeoutMs?: number;
  /** The router's own addresses (pod IP, Service IP): a Host naming one is refused, see request-checks.ts. */
  selfHosts?: string[];
  /** Memory for statement bodies being read or held for a waking runtime; over it, 503. */
  statementBudgetBytes?: number;
  /** A held query whose client stopped polling is dropped after this long. */
  heldAbandonAfterMs?: number;
  headersTimeoutMs?: number;
  bodyTimeoutMs?: number;
  connectionsPerCoordinator?: number;
  logger?: Logger;
  /** Max time SIGTERM waits for in-flight requests. */
  drainTimeoutMs?: number;
  /** Resumes suspended runtimes (needs the API server); without it they get a 503. */
  resumer?: Resumer;
  /** How long a new query waits for a waking runtime before it fails. */
  resumeTimeoutMs?: number;
  /** Where served runtimes are noted for idle suspension (activity.ts); none: not reported. */
  activity?: Activity;
  /** How often noted activity is flushed (ACTIVITY_INTERVAL). */
  activityIntervalMs?: number;
  /** This replica as its peers reach it, and the secret all replicas share, for held-query polls. */
  peer?: { selfAddress: string; secret: string };
  /** Largest initial statement body the router buffers. */
  maxStatementBytes?: number;
  /** How long a follow-up poll is retried while its coordinator refuses connections (restarting). */
  followUpRetryMs?: number;
  /** How long a statement waits in a full group's queue (QUEUE_TIMEOUT). */
  queueTimeoutMs?: number;
  /** Statements waiting per group and process (QUEUE_LIMIT). */
  queueLimit?: number;
  /** Told when a group's capacity queue in this process starts and stops (queue-events.ts). */
  queueing?: (group: RouteGroup, queueing: boolean, waiting: number) => void;
  /** How often a limited coordinator's QueryManager is read at most. */
  capacityReadMs?: number;
}

export type RouterSettings = Required<Omit<RouterOptions, 'oauth2' | 'logger' | 'resumer' | 'activity' | 'peer' | 'queueing'>> & Pick<RouterOptions, 'oauth2' | 'resumer' | 'activity' | 'peer' | 'queueing'>;

export function settle(o: RouterOptions): RouterSettings {
  return {
    resolveService: o.resolveService ?? ((s) => `http://${s.name}.${s.namespace}.svc.cluster.local:${s.port}`),
    balancing: o.balancing ?? 'round-robin',
    healthIntervalMs: o.healthIntervalMs ?? 5000,
    probeConcurrency: o.probeConcurrency ?? 8,
    probeTimeoutMs: o.probeTimeoutMs ?? 5000,
    clientHeadersTimeoutMs: o.clientHeadersTimeoutMs ?? 30_000,
    clientRequestTimeoutMs: o.clientRequestTimeoutMs ?? 120_000,
    statementBudgetBytes: o.statementBudgetBytes ?? 160 * 1024 * 1024,
    heldAbandonAfterMs: o.heldAbandonAfterMs ?? 300_000,
    selfHosts: o.selfHosts ?? [],
    headersTimeoutMs: o.headersTimeoutMs ?? 300_000,
    bodyTimeoutMs: o.bodyTimeoutMs ?? 300_000,
    connectionsPerCoordinator: o.connectionsPerCoordinator ?? 128,
    drainTimeoutMs: o.drainTimeoutMs ?? 30_000,
    resumeTimeoutMs: o.resumeTimeoutMs ?? 300_000,
    activityIntervalMs: o.activityIntervalMs ?? 30_000,
    maxStatementBytes: o.maxStatementBytes ?? 16 * 1024 * 1024,
    followUpRetryMs: o.followUpRetryMs ?? 10_000,
    queueTimeoutMs: o.queueTimeoutMs ?? 600_000,
    queueLimit: o.queueLimit ?? 1000,
    capacityReadMs: o.capacityReadMs ?? 1000,
    ...(o.oauth2 ? { oauth2: o.oauth2 } : {}),
    ...(o.resumer ? { resumer: o.resumer } : {}),
    ...(o.activity ? { activity: o.activity } : {}),
    ...(o.queueing ? { queueing: o.queueing } : {}),
    ...(o.peer ? { peer: o.peer } : {}),
  };
}

/** What the routing modules share; the router (server.ts) owns and wires it. */
export interface RoutingContext {
  readonly opts: RouterSettings;
  readonly log: Logger;
  readonly metrics: RouterMetrics;
  /** The route table in force, or undefined before the first one loaded. */
  index(): RouteIndex | undefined;
  /** Which coordinator owns which query-id suffix, learned from answers that prove it. */
  readonly sticky: StickyMap;
  readonly forwarder: Forwarder;
  readonly health: HealthChecks;
  readonly oauth2: OAuth2Handshake | undefined;
}
