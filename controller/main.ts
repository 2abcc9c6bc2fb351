/**
 * Controller process. Configuration by environment:
 *
 *   GATEWAY (trino-gateway/trino-gateway)   NS/NAME[/SECTION] of the Gateway routes attach to
 *   GATEWAY_NAMESPACE (the Gateway's)       where HTTPRoutes and the route table ConfigMap go
 *   ROUTER_SERVICE (xtrinode-router:8080)   [NS/]NAME[:PORT] of the router Service
 *   SHARED_GROUPS (auto)                    auto | router | gateway-weighted: who picks the coordinator
 *                                           of a new statement in a shared group; auto: the Gateway
 *                                           when its GatewayClass lists HTTPRouteBackendRequestHeaderModification
 *   FOLLOW_UPS (prefix)                     prefix | router: follow-ups by URL, or by the router
 *   ACCEPT_RULES_FROM (none)                namespaces (comma-separated, * for all) whose routing rules
 *                                           are in force without the default route owner's consent
 *   ROUTING_GROUP_HEADER (on)               on | off: X-Trino-Routing-Group: <group> selects a group
 *   CLIENT_TAG_MATCHES (regex)              regex | none: client-tag conditions as RegularExpression
 *                                           header matches, or left to the router (Gateways without them)
 *   DRAIN_TIMEOUT (30m)                     longest drain of a deleted XTrinode: its queries alive keep
 *                                           it (weight 0, follow-ups served) at most this long (drain.ts)
 *   POD_NAMESPACE (xtrinode-system)         namespace of the leader-election Lease
 *   POD_NAME (hostname)                     identity in the Lease
 *   METRICS_PORT (9090), METRICS_HOST (0.0.0.0)  /metrics and /healthz
 *   KUBECONFIG                              out of cluster; in cluster the ServiceAccount is used
 */
import { collectDefaultMetrics } from 'prom-client';
import { createServer } from 'node:http';
import { hostname } from 'node:os';
import * as k8s from '@kubernetes/client-node';
import pino from 'pino';
import { parseDurationMs } from '../lib/duration.ts';
import { Controller } from './controller.ts';
import { parseChoice, parseGatewayRef, parseNamespaceList, parseServiceRef } from './translate/settings.ts';

/** DRAIN_TIMEOUT: a duration from 0s (no drain) to 24h. */
export function parseDrainTimeout(s: string): number {
  let ms: number;
  try {
    ms = parseDurationMs(s);
  } catch {
    throw new Error(`DRAIN_TIMEOUT must be a duration like 30s, 10m or 1h, not "${s}"`);
  }
  if (ms > 24 * 3_600_000) throw new Error(`DRAIN_TIMEOUT must be at most 24h (a deleted XTrinode waits at most this long for its queries), not "${s}"`);
  return ms;
}

async function main(): Promise<void> {
  const env = process.env;
  const log = pino({ level: env.LOG_LEVEL ?? 'info', base: { component: 'controller' } });
  const gateway = parseGatewayRef(env.GATEWAY ?? 'trino-gateway/trino-gateway');
  const gatewayNamespace = env.GATEWAY_NAMESPACE ?? gateway.namespace;
  const shared = parseChoice('SHARED_GROUPS', env.SHARED_GROUPS ?? 'auto', ['auto', 'router', 'gateway-weighted'] as const);
  const followUps = parseChoice('FOLLOW_UPS', env.FOLLOW_UPS ?? 'prefix', ['prefix', 'router'] as const);
  const acceptRulesFrom = parseNamespaceList('ACCEPT_RULES_FROM', env.ACCEPT_RULES_FROM ?? '');
  const routingGroupHeader = parseChoice('ROUTING_GROUP_HEADER', env.ROUTING_GROUP_HEADER ?? 'on', ['on', 'off'] as const) === 'on';
  const clientTagMatches = parseChoice('CLIENT_TAG_MATCHES', env.CLIENT_TAG_MATCHES ?? 'regex', ['regex', 'none'] as const);
  const drainTimeoutMs = parseDrainTimeout(env.DRAIN_TIMEOUT ?? '30m');
  const kubeConfig = new k8s.KubeConfig();
  kubeConfig.loadFromDefault();
  const controller = new Controller({
    kubeConfig,
    logger: log,
    identity: env.POD_NAME ?? hostname(),
    leaseNamespace: env.POD_NAMESPACE ?? 'xtrinode-system',
    settings: { gateway, gatewayNamespace, router: parseServiceRef(env.ROUTER_SERVICE ?? 'xtrinode-router:8080', gatewayNamespace), sharedGroupPath: shared === 'auto' ? 'router' : shared, followUps, acceptRulesFrom, routingGroupHeader, clientTagMatches },
    ...(shared === 'auto' ? { sharedGroups: 'auto' as const } : {}),
    drainTimeoutMs,
  });
  collectDefaultMetrics({ register: controller.registry }); // process CPU, RSS, heap, event loop lag, GC
  const server = createServer((req, res) => {
    if (req.url === '/healthz') return void res.end('ok\n');
    if (req.url === '/metrics') {
      void controller.registry.metrics().then((m) => {
        res.setHeader('content-type', controller.registry.contentType);
        res.end(m);
      });
      return;
    }
    res.statusCode = 404;
    res.end();
  });
  server.listen(Number(env.METRICS_PORT ?? 9090), env.METRICS_HOST ?? '0.0.0.0');
  await controller.start();
  log.info({ gateway, gatewayNamespace }, 'controller started');
  const shutdown = () => {
    log.info('shutting down; releasing the Lease');
    server.close();
    void controller.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

if (import.meta.main) {
  main().catch((e: unknown) => {
    process.stderr.write(`controller: ${(e as Error).message}\n`);
    process.exit(1);
  });
}
