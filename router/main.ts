/**
 * Router process. Configuration by environment (flags mirror them):
 *
 *   ROUTER_PORT (8080)                   data port: every path on it is Trino's
 *   ADMIN_PORT (9090), ADMIN_HOST        /healthz, /readyz, /metrics (never on the data port)
 *   ROUTES_FILE                          read the route table from this file (polled), or
 *   ROUTES_CONFIGMAP (trino-gateway/trino-gateway-routes)  watch this ConfigMap
 *   BALANCING (round-robin|adaptive)     selection inside shared groups
 *   OAUTH2_COOKIE_SECRET                 enables OAuth2 cookie stickiness (same on every replica)
 *   OAUTH2_ROUTING_PATHS (/oauth2)       comma separated
 *   OAUTH2_DELETE_PATHS (/oauth2/logout,/ui/logout,/logout)
 *   OAUTH2_COOKIE_LIFETIME (10m)
 *   CLUSTER_DOMAIN (cluster.local)
 *   BACKEND_URLS                         ns/service=http://host:port,... (out-of-cluster runs)
 *   SERVICE_ADDRESSES (dns)              dns: <svc>.<ns>.svc.<CLUSTER_DOMAIN>; cluster-ip: watch Services and
 *                                        dial their ClusterIP (out-of-cluster runs, the local stack)
 *   DRAIN_TIMEOUT (30s)
 *   RESUME (on with ROUTES_CONFIGMAP)     resume suspended runtimes through the API server
 *   RESUME_TIMEOUT (5m)                  how long a new query waits for a waking runtime
 *   QUEUE_LIMIT (1000)                   statements waiting per routing group and router process when
 *                                        every member is at its capacity.maxQueries; over it, FAILED
 *   QUEUE_TIMEOUT (10m)                  how long a statement waits in that queue before it FAILS
 *   POD_NAMESPACE (trino-gateway)        namespace of the resume Leases
 *   POD_NAME, POD_IP                     this replica's identity and address for its peers
 *   ROUTER_SECRET                        shared by all replicas (at least 32 characters): seals the
 *                                        replica address in held-query wait URIs. Required with
 *                                        RESUME=on: without it, a poll that lands on another replica
 *                                        could not find its query, so the router refuses to start.
 *   STATEMENT_BUDGET (160Mi)             memory for statements being read or held; over it, 503
 *   MAX_STATEMENT (16Mi)                 largest statement body taken (413 above)
 *   CLIENT_HEADERS_TIMEOUT (30s), CLIENT_REQUEST_TIMEOUT (2m)  a client slower than this gets a 408
 *   PROBE_TIMEOUT (5s)                   one probe or health check of one coordinator
 *   WORKERS (1)                          router processes sharing the data port (workers.ts); set it to the
 *                                        cores the pod may use. The statement budget is split between them.
 *   PEER_PORT (8090)                     with WORKERS > 1: worker i also listens on PEER_PORT + i, the address
 *                                        sealed in the wait URIs of the queries it holds
 */
import cluster from 'node:cluster';
import pino from 'pino';
import { parseDurationMs as parseDuration } from '../lib/duration.ts';
import type { Resumer } from './resume.ts';
import type { Activity } from './activity.ts';
import type { ApiServer } from './api-server.ts';
import type { ServiceAddresses } from './service-addresses.ts';
import { hostname } from 'node:os';
import { isPrimaryOf, runPrimary, serveWorker, workerIndex } from './workers.ts';
import { collectDefaultMetrics } from 'prom-client';
import { QueueEvents } from './queue-events.ts';
import type { RouteGroup } from '../routetable/schema.ts';

/** The replicas' shared secret, checked: required with resume, which needs it for held queries. */
export function peerIdentity(env: NodeJS.ProcessEnv, resume: boolean, port: number): { selfAddress: string; secret: string } | undefined {
  if (!resume) return undefined;
  const secret = env.ROUTER_SECRET ?? '';
  if (secret.length < 32) {
    throw new Error(
      `ROUTER_SECRET is ${secret ? 'shorter than 32 characters' : 'not set'}. With RESUME=on every router replica needs the same secret to hand held queries to each other; ` +
        'create it once: kubectl -n trino-gateway create secret generic xtrinode-router --from-literal=router-secret="$(openssl rand -base64 32)" (or set RESUME=off).',
    );
  }
  if (!env.POD_IP) throw new Error('POD_IP is not set. With RESUME=on each replica must know the address its peers reach it at (the manifests set it from status.podIP).');
  return { selfAddress: `${env.POD_IP.includes(':') ? `[${env.POD_IP}]` : env.POD_IP}:${port}`, secret };
}

/** A size like 160Mi, 16Mi, 512Ki or a plain number of bytes. */
export function parseBytes(name: string, s: string): number {
  const m = /^(\d+)(Ki|Mi|Gi)?$/.exec(s.trim());
  if (!m) throw new Error(`${name} must be a size like 160Mi or 1Gi, not "${s}"`);
  return Number(m[1]) * (m[2] === 'Gi' ? 2 ** 30 : m[2] === 'Mi' ? 2 ** 20 : m[2] === 'Ki' ? 2 ** 10 : 1);
}

/** A whole number from 1 up, like QUEUE_LIMIT=1000. */
export function parseCount(name: string, s: string): number {
  if (!/^[1-9][0-9]{0,8}$/.test(s.trim())) throw new Error(`${name} must be a whole number from 1 to 999999999, not "${s}"`);
  return Number(s.trim());
}

export function parseBackendUrls(s: string | undefined): Map<string, string> {
  const m = new Map<string, string>();
  for (const item of (s ?? '').split(',').map((x) => x.trim()).filter(Boolean)) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new Error(`BACKEND_URLS entry "${item}" must be ns/service=http://host:port`);
    m.set(item.slice(0, eq), item.slice(eq + 1).replace(/\/$/, ''));
  }
  return m;
}

/** ACTIVITY_INTERVAL: a duration of at least 1 s (30 s when unset). */
export function parseActivityInterval(s: string | undefined): number {
  let ms: number;
  try {
    ms = parseDuration(s ?? '30s');
  } catch (e) {
    throw new Error(`ACTIVITY_INTERVAL: ${(e as Error).message}`);
  }
  if (ms < 1000) throw new Error(`ACTIVITY_INTERVAL must be at least 1s, not "${s}": it is how often the runtimes the router served are written for idle suspension`);
  return ms;
}

/** WORKERS: a whole number from 1 to 64. */
export function parseWorkers(s: string | undefined): number {
  const n = Number(s ?? 1);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new Error(`WORKERS must be a whole number from 1 to 64 (the cores the router may use), not "${s}"`);
  return n;
}

async function main(): Promise<void> {
  const env = process.env;
  const workers = parseWorkers(env.WORKERS);
  const index = workerIndex();
  const log = pino({ level: env.LOG_LEVEL ?? 'info', base: { component: 'router', ...(workers > 1 ? { worker: cluster.isWorker ? index : 'primary' } : {}) } });
  const drainTimeoutMs = parseDuration(env.DRAIN_TIMEOUT ?? '30s');
  const useResume = (env.RESUME ?? (env.ROUTES_FILE ? 'off' : 'on')) === 'on';
  const activityIntervalMs = parseActivityInterval(env.ACTIVITY_INTERVAL);
  if (isPrimaryOf(workers)) {
    parseBytes('STATEMENT_BUDGET', env.STATEMENT_BUDGET ?? '160Mi'); // bad settings fail here, once, not in every worker
    // The pod's one writer of activity annotations (activity.ts): the workers hand theirs over.
    const activity = useResume
      ? await Promise.all([import('./activity.ts'), import('./api-server.ts')]).then(([{ AnnotationActivity }, { apiServerFromEnv }]) => ({ log: new AnnotationActivity(apiServerFromEnv(env), log), intervalMs: activityIntervalMs }))
      : undefined;
    return runPrimary({ workers, adminPort: Number(env.ADMIN_PORT ?? 9090), adminHost: env.ADMIN_HOST ?? env.ROUTER_HOST ?? '0.0.0.0', drainTimeoutMs, log, ...(activity ? { activity } : {}) });
  }
  const overrides = parseBackendUrls(env.BACKEND_URLS);
  const domain = env.CLUSTER_DOMAIN ?? 'cluster.local';
  const balancing = env.BALANCING ?? 'round-robin';
  if (balancing !== 'round-robin' && balancing !== 'adaptive') throw new Error(`BALANCING must be round-robin or adaptive, not "${balancing}"`);
  const secret = env.OAUTH2_COOKIE_SECRET;
  // The router itself is loaded here, after the primary returned: the primary only forks and
  // answers the admin port, and stays small.
  const [{ TrinoRouter }, { watchTableConfigMap, watchTableFile }, { Resumer }, { apiServerFromEnv, watchErrorLog }, { watchServiceAddresses }, { AnnotationActivity, ForwardedActivity, sendToPrimary }] = await Promise.all([
    import('./server.ts'), import('./table-source.ts'), import('./resume.ts'), import('./api-server.ts'), import('./service-addresses.ts'), import('./activity.ts'),
  ]);
  const port = Number(env.ROUTER_PORT ?? 8080);
  // With workers, each also listens on a port of its own: the address its held queries are sealed with.
  const peerPort = workers > 1 ? Number(env.PEER_PORT ?? 8090) + index : port;
  const peer = peerIdentity(env, useResume, peerPort); // before anything starts: a replica set without it is broken
  // One API server client for the process, made only if something needs it (api-server.ts).
  let apiServer: ApiServer | undefined;
  const api = () => (apiServer ??= apiServerFromEnv(env));
  let resumer: Resumer | undefined;
  let activity: Activity | undefined;
  if (useResume) {
    resumer = new Resumer({ api: api(), namespace: env.POD_NAMESPACE ?? 'trino-gateway', identity: `${env.POD_NAME ?? hostname()}${workers > 1 ? `-${index}` : ''}`, logger: log });
    activity = workers > 1 ? new ForwardedActivity(sendToPrimary, log) : new AnnotationActivity(api(), log);
  }
  // Events when a group starts and stops queueing (queue-events.ts), where the router talks to the API server.
  const queueEvents = useResume
    ? new QueueEvents({ post: (ns, body) => api().call('POST', `/api/v1/namespaces/${encodeURIComponent(ns)}/events`, body).then(() => undefined), identity: `${env.POD_NAME ?? hostname()}${workers > 1 ? `/worker-${index}` : ''}`, log })
    : undefined;
  let addresses: ServiceAddresses | undefined;
  if ((env.SERVICE_ADDRESSES ?? 'dns') === 'cluster-ip') addresses = await watchServiceAddresses(api(), watchErrorLog(log, 'Services (SERVICE_ADDRESSES=cluster-ip)'));
  const router = new TrinoRouter({
    ...(resumer ? { resumer, resumeTimeoutMs: parseDuration(env.RESUME_TIMEOUT ?? '5m') } : {}),
    ...(activity ? { activity, activityIntervalMs } : {}),
    ...(peer ? { peer } : {}),
    logger: log,
    // A Host naming these was filled in by a proxy, not sent by the client (request-checks.ts).
    // XTRINODE_ROUTER_SERVICE_HOST is the Service's ClusterIP, set by the kubelet's service links.
    selfHosts: [env.POD_IP, env.XTRINODE_ROUTER_SERVICE_HOST, env.ROUTER_HOST].filter((h): h is string => Boolean(h) && h !== '0.0.0.0' && h !== '::'),
    statementBudgetBytes: Math.floor(parseBytes('STATEMENT_BUDGET', env.STATEMENT_BUDGET ?? '160Mi') / workers),
    maxStatementBytes: parseBytes('MAX_STATEMENT', env.MAX_STATEMENT ?? '16Mi'),
    clientHeadersTimeoutMs: parseDuration(env.CLIENT_HEADERS_TIMEOUT ?? '30s'),
    clientRequestTimeoutMs: parseDuration(env.CLIENT_REQUEST_TIMEOUT ?? '2m'),
    probeTimeoutMs: parseDuration(env.PROBE_TIMEOUT ?? '5s'),
    queueLimit: parseCount('QUEUE_LIMIT', env.QUEUE_LIMIT ?? '1000'),
    queueTimeoutMs: parseDuration(env.QUEUE_TIMEOUT ?? '10m'),
    ...(queueEvents ? { queueing: (g: RouteGroup, on: boolean, n: number) => queueEvents.changed(g, on, n) } : {}),
    balancing,
    resolveService: (s) => {
      const fixed = overrides.get(`${s.namespace}/${s.name}`);
      if (fixed) return fixed;
      const ip = addresses?.clusterIP(s.namespace, s.name);
      return ip ? `http://${ip}:${s.port}` : `http://${s.name}.${s.namespace}.svc.${domain}:${s.port}`;
    },
    drainTimeoutMs,
    ...(secret
      ? {
          oauth2: {
            secret,
            name: 'XTRINODE_OAUTH2',
            routingPaths: (env.OAUTH2_ROUTING_PATHS ?? '/oauth2').split(',').filter(Boolean),
            deletePaths: (env.OAUTH2_DELETE_PATHS ?? '/oauth2/logout,/ui/logout,/logout').split(',').filter(Boolean),
            lifetimeMs: parseDuration(env.OAUTH2_COOKIE_LIFETIME ?? '10m'),
          },
        }
      : {}),
  });
  // Process metrics (CPU, RSS, heap, event loop lag, GC) beside the router's own; with workers the
  // primary's /metrics sums the workers' (prom-client's cluster aggregation).
  collectDefaultMetrics({ register: router.metrics });
  const stop = env.ROUTES_FILE
    ? await watchTableFile(router, env.ROUTES_FILE)
    : await (() => {
        const [ns, name] = (env.ROUTES_CONFIGMAP ?? 'trino-gateway/trino-gateway-routes').split('/');
        return watchTableConfigMap(router, ns!, name!, api(), watchErrorLog(log, `route table ConfigMap ${ns}/${name}`));
      })();
  const host = env.ROUTER_HOST ?? '0.0.0.0';
  const addr = await router.listen({ port, host });
  let admin: string;
  if (workers > 1) {
    serveWorker(router); // the primary serves the admin port for every worker
    admin = `primary, peer port ${await router.listenPeer({ port: peerPort, host })}`;
  } else admin = await router.listenAdmin({ port: Number(env.ADMIN_PORT ?? 9090), host: env.ADMIN_HOST ?? host });
  log.info({ addr, admin, balancing, oauth2Cookies: Boolean(secret) }, 'router listening');
  let stopping = false;
  const shutdown = (sig: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ sig }, 'draining');
    stop();
    void router.drain().then(() => process.exit(0));
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

if (import.meta.main) {
  main().catch((e: unknown) => {
    process.stderr.write(`router: ${(e as Error).message}\n`);
    process.exit(1);
  });
}
