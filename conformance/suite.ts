/**
 * Routing conformance: the semantics of the routing spec as named cases, run through a real
 * Gateway API implementation against a cluster where xtrinode-gateway (controller + router) is
 * installed. Each case applies its own fixtures in its own namespaces, and the suite cleans up and
 * returns a report in the spirit of the Gateway API ConformanceReport.
 *
 * Coordinators come from a BackendProvider: `local` (hack/stack.ts: processes on loopback
 * ClusterIPs, a kubelet stand-in for suspend/resume). Cases a provider cannot support are
 * reported as skipped with the reason, never as passed.
 */
import * as k8s from '@kubernetes/client-node';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Pool } from 'undici';
import { featureNames } from '../controller/gateway-features.ts';
import { Trino } from 'trino-client';

export interface Coordinator {
  /** What the coordinator reports as itself (`X-Fake-Coordinator`), or undefined for real Trino. */
  identity: string | undefined;
}

export interface BackendProvider {
  name: string;
  /**
   * A coordinator behind Service `<name>-coordinator:8080` in `namespace`, run by a Deployment
   * `<name>-coordinator` labelled `analytics.xtrinode.io/xtrinode=<name>` and
   * `analytics.xtrinode.io/role=coordinator`. `suspended`: the Deployment starts at 0 replicas,
   * as the controller leaves a suspended runtime (its XTrinode: `suspendedXTrinode`).
   */
  coordinator(namespace: string, name: string, opts?: { oauth2?: boolean; suspended?: boolean; realTrino?: boolean }): Promise<Coordinator>;
  /** Releases what the provider runs outside the cluster. */
  stop?(): void;
  oauth2: boolean;
  /** Whether `coordinator(..., { realTrino: true })` runs a real Trino (stopped while suspended). */
  realTrino?: boolean;
}

export interface RealClients {
  /** java, the Trino CLI jar and the Trino JDBC driver jar. */
  trinoCli?: { java: string; jar: string; jdbcJar?: string };
  /** A group served by real Trino, with its hostname, a header selector and one of its XTrinodes (routing rules are added to it for a case). */
  trinoGroup?: { hostname: string; header: string; xtrinode?: { namespace: string; name: string } };
  /** A Python with the PyPI `trino` client installed. */
  python?: string;
}

export interface ConformanceContext {
  kubeConfig: k8s.KubeConfig;
  gateway: { namespace: string; name: string };
  gatewayClass: string;
  /** Base URL of the Gateway listener, e.g. http://127.0.0.1:18080 */
  gatewayUrl: string;
  backends: BackendProvider;
  realClients?: RealClients;
  implementationVersion?: string;
  log?: (line: string) => void;
  /** The router replicas' /metrics, to count what reaches the router. */
  routerMetricsUrls?: string[];
  /** Kills the router (every replica) and starts it again. */
  restartRouter?: () => Promise<void>;
  /** Sets the controller's SHARED_GROUPS (undefined: its default); the local stack restarts it. */
  setSharedGroups?: (mode: 'router' | 'gateway-weighted' | undefined) => Promise<void>;
  /**
   * A known defect of the Gateway implementation, measured from its own access log: how many
   * requests for `host` since `sinceMs` it answered itself because a route named a cluster it did
   * not have (Envoy's response flag `NC`, envoyproxy/gateway#9029). Unset: none are excused.
   */
  clusterNotFoundAnswers?: (host: string, sinceMs: number) => Promise<number>;
  /**
   * The router's queue settings (QUEUE_LIMIT per process, QUEUE_TIMEOUT) and its processes per
   * replica times replicas: the capacity case needs them to know when a queue is full and how far
   * over a limit a coordinator may go.
   */
  routerQueue?: { limit: number; timeoutMs: number; processes: number };
}

export type Result = 'Passed' | 'Failed' | 'Skipped';

export interface CaseReport {
  name: string;
  description: string;
  result: Result;
  reason?: string;
  /** A limitation of the implementation that the case measured and bounded (it passed). */
  limitation?: string;
  durationMs: number;
}

export interface ConformanceReport {
  apiVersion: 'analytics.xtrinode.io/v1alpha1';
  kind: 'RoutingConformanceReport';
  date: string;
  gatewayClass: string;
  implementation: { controllerName: string; version: string; publishedFeatures: string[] };
  /** The Gateway API features the product's routes used in this run (the cases exercise each). */
  featuresUsed: string[];
  xtrinodeGateway: { version: string };
  backendProvider: string;
  summary: { passed: number; failed: number; skipped: number };
  cases: CaseReport[];
}

class Skip extends Error {}

/**
 * Gateway API features (by their conformance names) the generated routes rely on: hostname and
 * header matches, PathPrefix with URLRewrite for coordinator prefixes, X-Forwarded-Prefix set per
 * rule and per weighted backendRef, weights, cross-namespace backends with ReferenceGrants.
 */
const FEATURES_USED = ['Gateway', 'HTTPRoute', 'ReferenceGrant', 'HTTPRoutePathRewrite', 'HTTPRouteRequestHeaderModification', 'HTTPRouteBackendRequestHeaderModification', 'HTTPRouteWeightedBackends', 'HTTPRouteHeaderMatching', 'HTTPRouteHostnames'];

const NS = 'xtn-conformance';
const NS_B = 'xtn-conformance-b';
const DOMAIN = 'conformance.example.com';

interface Case {
  name: string;
  description: string;
  run(t: Tools): Promise<void>;
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json<T = Record<string, unknown>>(): T;
}

class Tools {
  readonly ctx: ConformanceContext;
  readonly client: Client;
  private readonly objects: k8s.KubernetesObjectApi;
  readonly custom: k8s.CustomObjectsApi;
  readonly core: k8s.CoreV1Api;
  readonly port: string;
  /** Set by a case that passed within a documented limitation of the implementation. */
  limitation: string | undefined;

  constructor(ctx: ConformanceContext) {
    this.ctx = ctx;
    this.client = new Client(ctx.gatewayUrl);
    this.objects = k8s.KubernetesObjectApi.makeApiClient(ctx.kubeConfig);
    this.custom = ctx.kubeConfig.makeApiClient(k8s.CustomObjectsApi);
    this.core = ctx.kubeConfig.makeApiClient(k8s.CoreV1Api);
    this.port = new URL(ctx.gatewayUrl).port || '80';
  }

  async apply(obj: Record<string, unknown>): Promise<void> {
    await this.objects.patch(obj as k8s.KubernetesObject, undefined, undefined, 'xtrinode-conformance', true, k8s.PatchStrategy.ServerSideApply);
  }

  async xtrinode(namespace: string, name: string, spec: Record<string, unknown>): Promise<void> {
    await this.apply({ apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { name, namespace }, spec });
  }

  /**
   * An XTrinode as the controller leaves a suspended one: `spec.suspend`, and the replicas of its
   * coordinator Deployment (`coordinator(..., { suspended: true })`, at 0) recorded on it.
   */
  async suspendedXTrinode(namespace: string, name: string, spec: Record<string, unknown>): Promise<void> {
    const annotations = { 'analytics.xtrinode.io/replicas-before-suspend': JSON.stringify({ [`Deployment/${name}-coordinator`]: 1 }) };
    await this.apply({ apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { name, namespace, annotations }, spec: { ...spec, suspend: true } });
  }

  /**
   * How many of `seen` Gateway 5xx answers for `host` since `sinceMs` the Gateway logged as its own
   * cluster_not_found (none where the environment cannot tell). Envoy flushes its access log every
   * 10 s (--file-flush-interval-msec), so this waits up to 15 s for the lines of the answers seen.
   */
  async clusterNotFoundExcused(host: string, sinceMs: number, seen: number): Promise<number> {
    let nc = 0;
    for (let i = 0; seen > 0 && this.ctx.clusterNotFoundAnswers && i < 30; i++) {
      nc = await this.ctx.clusterNotFoundAnswers(host, sinceMs);
      if (nc >= seen) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    return Math.min(nc, seen);
  }

  /** One request through the Gateway, on the suite's one connection unless `via` gives others. */
  async send(o: { host?: string; path?: string; method?: string; headers?: Record<string, string>; body?: string; via?: Pool }): Promise<Reply> {
    const res = await (o.via ?? this.client).request({
      path: o.path ?? '/v1/statement',
      method: (o.method ?? (o.body !== undefined ? 'POST' : 'GET')) as 'GET',
      headers: { host: `${o.host ?? 'gateway.invalid'}:${this.port}`, 'x-trino-user': 'conformance', ...(o.headers ?? {}) },
      ...(o.body !== undefined ? { body: o.body } : {}),
    });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, text, json: <T>() => JSON.parse(text) as T };
  }

  /**
   * Every status.phase an XTrinode goes through from now on, from a watch (each status write is
   * one event), so that a phase held for less than a poll interval is still seen.
   */
  async watchPhases(namespace: string, name: string): Promise<{ seen: Array<string | undefined>; stop(): void }> {
    const seen: Array<string | undefined> = [];
    const watch = new k8s.Watch(this.ctx.kubeConfig);
    const abort = await watch.watch(`/apis/analytics.xtrinode.io/v1/namespaces/${namespace}/xtrinodes`, { fieldSelector: `metadata.name=${name}` }, (_type: string, obj: { status?: { phase?: string } }) => {
      seen.push(obj.status?.phase);
    }, () => undefined);
    return { seen, stop: () => abort.abort() };
  }

  /** Retries until `check` passes (routes take a moment to be programmed). */
  async eventually<T>(what: string, f: () => Promise<T>, check: (v: T) => boolean, timeoutMs = 30_000, intervalMs = 250): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: T | undefined;
    let err: unknown;
    for (;;) {
      try {
        last = await f();
        if (check(last)) return last;
      } catch (e) {
        err = e;
      }
      if (Date.now() > deadline) {
        throw new Error(`${what}: not seen within ${timeoutMs / 1000}s; last: ${last === undefined ? String(err) : JSON.stringify(last).slice(0, 300)}`);
      }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }

  async status(namespace: string, name: string): Promise<{ conditions?: Array<{ type: string; status: string; reason: string; message: string }>; phase?: string }> {
    const x = (await this.custom.getNamespacedCustomObject({ group: 'analytics.xtrinode.io', version: 'v1', namespace, plural: 'xtrinodes', name })) as { status?: object };
    return (x.status ?? {}) as never;
  }

  /** Follows nextUri from a first response; returns every served-by identity and the final page. */
  async followQuery(first: Reply, via: (uri: URL, i: number) => { host?: string; headers?: Record<string, string> }): Promise<{ served: Array<string | undefined>; final: Record<string, unknown>; rows: unknown[] }> {
    let page = first.json();
    const served: Array<string | undefined> = [];
    const rows: unknown[] = [];
    for (let i = 0; typeof page.nextUri === 'string'; i++) {
      const u = new URL(page.nextUri);
      const r = await this.send({ path: u.pathname, ...via(u, i) });
      if (r.status !== 200) throw new Error(`poll ${u.pathname} answered ${r.status}: ${r.text.slice(0, 200)}`);
      served.push(header(r, 'x-fake-coordinator'));
      page = r.json();
      if (Array.isArray(page.data)) rows.push(...(page.data as unknown[]));
    }
    return { served, final: page, rows };
  }
}

function header(r: Reply, name: string): string | undefined {
  const v = r.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function expect(cond: boolean, message: string): void {
  if (!cond) throw new Error(message);
}

const served = (r: Reply) => header(r, 'x-fake-coordinator');

/** Requests the router replicas have answered so far (xtrinode_router_requests_total, all outcomes). */
type QueryPage = { nextUri?: string; stats: { state: string }; error?: { errorName?: string; message?: string } };

/**
 * A query that runs for minutes (a count over a table far larger than this machine reads in a
 * minute, light on memory), sent through `host` and polled until RUNNING. A coordinator that has
 * just started fails queries until its node registers (as Trino does for any client): submitted
 * again then. `page()` is the last page, `poll()` fetches the next and returns its state.
 */
async function longQuery(t: Tools, host: string): Promise<{ page: () => QueryPage; poll: () => Promise<string>; unavailable: () => number }> {
  let page: QueryPage = { stats: { state: 'NONE' } };
  let unavailable = 0;
  // As Trino's own clients poll (StatementClientV1): 502, 503 and 504 are retried, 100 ms more
  // each time, for at most a minute; any other answer that is not 200 fails.
  const poll = async () => {
    for (let attempt = 1; ; attempt++) {
      const r = await t.send({ host, path: new URL(page.nextUri!).pathname });
      if ([502, 503, 504].includes(r.status) && attempt <= 30) {
        unavailable++;
        await new Promise((res) => setTimeout(res, 100 * attempt));
        continue;
      }
      expect(r.status === 200, `poll: ${r.status} ${r.text.slice(0, 200)}`);
      page = r.json();
      return page.stats.state;
    }
  };
  for (let attempt = 0; attempt < 20 && page.stats.state !== 'RUNNING'; attempt++) {
    const first = await t.send({ host, body: 'SELECT count(*) FROM tpch.sf1000.lineitem' });
    expect(first.status === 200, `statement: ${first.status} ${first.text.slice(0, 200)}`);
    page = first.json();
    while (page.nextUri && !['RUNNING', 'FAILED', 'FINISHED'].includes(page.stats.state)) await poll();
    // NO_NODES_AVAILABLE, or GENERIC_INTERNAL_ERROR "nodes is empty" (Trino 476, seen here)
    if (page.stats.state === 'FAILED' && !/NO_NODES_AVAILABLE|nodes is empty/.test(`${page.error?.errorName} ${page.error?.message}`)) break;
    if (page.stats.state !== 'RUNNING') await new Promise((res) => setTimeout(res, 1000));
  }
  expect(page.stats.state === 'RUNNING', `query: ${page.stats.state} ${JSON.stringify(page.error ?? {}).slice(0, 300)}`);
  return { page: () => page, poll, unavailable: () => unavailable };
}

async function routerRequests(t: Tools): Promise<number> {
  let n = 0;
  for (const url of t.ctx.routerMetricsUrls ?? []) {
    const text = await (await fetch(url)).text();
    for (const m of text.matchAll(/^xtrinode_router_requests_total\{[^}]*\} (\d+)/gm)) n += Number(m[1]);
  }
  return n;
}

/** The backendRefs of the catch-all (`/`) rule of a hostname route. */
async function catchAllRefs(t: Tools, route: string): Promise<Array<{ name: string }>> {
  const r = (await t.custom.getNamespacedCustomObject({ group: 'gateway.networking.k8s.io', version: 'v1', namespace: t.ctx.gateway.namespace, plural: 'httproutes', name: route })) as { spec: { rules: Array<{ matches: Array<{ path?: { value?: string } }>; backendRefs: Array<{ name: string }> }> } };
  return r.spec.rules.find((x) => x.matches.some((m) => m.path?.value === '/'))?.backendRefs ?? [];
}

/** Runs a Java client with the test hostname resolved to the Gateway's address (a hosts file). */
async function javaClient(t: Tools, hostname: string, args: string[]): Promise<string> {
  const cli = t.ctx.realClients?.trinoCli;
  if (!cli) throw new Skip('no Java Trino clients in this environment');
  const gw = new URL(t.ctx.gatewayUrl).hostname;
  if (!/^[0-9.]+$/.test(gw)) throw new Skip(`the Gateway URL ${t.ctx.gatewayUrl} is not an IP address; the Java client cases need one to map test hostnames to it`);
  const dir = mkdtempSync(join(tmpdir(), 'xtn-cli-'));
  writeFileSync(join(dir, 'hosts'), `${gw} ${hostname}\n127.0.0.1 localhost\n`);
  // The JVM's temporary files (native libraries it unpacks) go to this folder, removed afterwards.
  const jvm = [`-Djdk.net.hosts.file=${join(dir, 'hosts')}`, `-Djava.io.tmpdir=${dir}`, '-XX:-UsePerfData'];
  try {
    return await new Promise<string>((resolve, reject) => {
      execFile(cli.java, [...jvm, ...args], { timeout: 180_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr.slice(0, 800)}`)) : resolve(stdout)));
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The Trino CLI against `http://<hostname>:<gateway port>`. */
function trinoCli(t: Tools, hostname: string, sql: string, extra: string[] = []): Promise<string> {
  const cli = t.ctx.realClients?.trinoCli;
  return javaClient(t, hostname, ['-jar', cli?.jar ?? '', '--server', `http://${hostname}:${t.port}`, '--user', 'conformance', ...extra, '--execute', sql]);
}

/** The Trino JDBC driver (conformance/clients/JdbcQuery.java) against `jdbc:trino://<hostname>:<gateway port>/<catalog/schema>`. */
function trinoJdbc(t: Tools, hostname: string, sql: string, catalogSchema = '', properties = ''): Promise<string> {
  const jar = t.ctx.realClients?.trinoCli?.jdbcJar;
  if (!jar) throw new Skip('no Trino JDBC driver in this environment');
  const program = join(dirname(fileURLToPath(import.meta.url)), 'clients/JdbcQuery.java');
  return javaClient(t, hostname, ['-cp', jar, program, `jdbc:trino://${hostname}:${t.port}${catalogSchema ? `/${catalogSchema}` : ''}`, 'conformance', sql, properties]);
}

/** The Python client (conformance/clients/python_query.py) against the Gateway URL with a selector header. */
function python(t: Tools, selector: string, sql: string, connect: Record<string, unknown> = {}): Promise<string> {
  const py = t.ctx.realClients!.python!;
  const program = join(dirname(fileURLToPath(import.meta.url)), 'clients/python_query.py');
  return new Promise<string>((resolve, reject) => {
    execFile(py, [program, t.ctx.gatewayUrl, selector, sql, JSON.stringify(connect)], { timeout: 180_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr.slice(-800)}`)) : resolve(stdout)));
  });
}

const CASES: Case[] = [
  {
    name: 'HostnameRouting',
    description: 'A request for an XTrinode hostname (generated <group>.<hostnameDomain> and explicit routing.hostname) reaches that runtime.',
    async run(t) {
      const r = await t.eventually('generated hostname', () => t.send({ host: `${NS}--c-host.${DOMAIN}`, body: 'SELECT 1' }), (x) => served(x) === 'c-host');
      expect(r.status === 200, `status ${r.status}`);
      await t.eventually('explicit hostname', () => t.send({ host: `explicit.${DOMAIN}`, body: 'SELECT 1' }), (x) => served(x) === 'c-host');
    },
  },
  {
    name: 'HeaderRouting',
    description: 'A request with X-Trino-XTrinode equal to a selector reaches that group, whatever the hostname.',
    async run(t) {
      await t.eventually('header route', () => t.send({ host: 'unrelated.invalid', headers: { 'x-trino-xtrinode': 'conformance/header' }, body: 'SELECT 1' }), (x) => served(x) === 'c-header');
    },
  },
  {
    name: 'DefaultRoute',
    description: 'A request with no hostname or header selector reaches the default group; a younger second default loses with DefaultConflict.',
    async run(t) {
      type Table = { groups: Array<{ name: string; default: boolean; backends: Array<{ id: string }> }> };
      const def = await t.eventually('a default group in the route table', async () => {
        const tb = JSON.parse((await t.core.readNamespacedConfigMap({ namespace: t.ctx.gateway.namespace, name: 'trino-gateway-routes' })).data?.['routes.json'] ?? '{"groups":[]}') as Table;
        return tb.groups.find((g) => g.default);
      }, (g) => g !== undefined);
      const expected = def!.backends.map((b) => b.id.split('/')[1]);
      await t.eventually('default route', () => t.send({ host: 'unrelated.invalid', body: 'SELECT 1' }), (x) => x.status === 200 && expected.includes(served(x) ?? ''));
      if (def!.name !== `${NS}--c-default`) {
        const st = await t.eventually('DefaultConflict on the younger default', () => t.status(NS, 'c-default'), (s) => s.conditions?.some((c) => c.type === 'Accepted') === true);
        expect(st.conditions!.find((c) => c.type === 'Accepted')!.reason === 'DefaultConflict', `c-default: ${JSON.stringify(st.conditions)}`);
      }
    },
  },
  {
    name: 'UnknownHeaderFailsExplicitly',
    description: 'An X-Trino-XTrinode value no group has gets a 404 naming the selector, never the default route.',
    async run(t) {
      const r = await t.send({ host: 'unrelated.invalid', headers: { 'x-trino-xtrinode': 'conformance/no-such-group' }, body: 'SELECT 1' });
      expect(r.status === 404, `status ${r.status}`);
      expect(header(r, 'x-xtrinode-error') === 'XTN_UNKNOWN_SELECTOR', `error code ${header(r, 'x-xtrinode-error')}`);
      expect(r.text.includes('conformance/no-such-group'), `message does not name the selector: ${r.text}`);
      expect(served(r) === undefined, `served by ${served(r)}`);
    },
  },
  {
    name: 'HostnameBeatsHeader',
    description: 'With both a routing hostname and a selector header for another group, the hostname wins.',
    async run(t) {
      await t.eventually('hostname over header', () => t.send({ host: `explicit.${DOMAIN}`, headers: { 'x-trino-xtrinode': 'conformance/header' }, body: 'SELECT 1' }), (x) => served(x) === 'c-host');
    },
  },
  {
    name: 'SharedGroupWeights',
    description: 'New queries of a shared group spread by routing.weight (3:1 here) within 10 percentage points over 200 queries.',
    async run(t) {
      // Both members routed: until the Gateway has programmed the group's second coordinator,
      // every query lands on the first (the routes move from one coordinator to weighted backendRefs).
      const seen = new Set<string>();
      await t.eventually('both coordinators of the weighted group routed', async () => {
        for (let i = 0; i < 8; i++) seen.add(served(await t.send({ host: `weighted.${DOMAIN}`, body: 'SELECT 1' })) ?? 'none');
        return [...seen];
      }, () => seen.has('c-w1') && seen.has('c-w2'));
      const counts: Record<string, number> = {};
      for (let i = 0; i < 200; i++) {
        const s = served(await t.send({ host: `weighted.${DOMAIN}`, body: 'SELECT 1' })) ?? 'none';
        counts[s] = (counts[s] ?? 0) + 1;
      }
      const share = (counts['c-w1'] ?? 0) / 200;
      expect(Math.abs(share - 0.75) <= 0.1, `c-w1 got ${(share * 100).toFixed(0)}% of 200 (want 75% +-10): ${JSON.stringify(counts)}`);
    },
  },
  {
    name: 'SharedGroupsUseGatewayWeightsByDefault',
    description: 'With SHARED_GROUPS=auto (the default) a shared group of coordinators without OAuth2 is balanced by the Gateway itself (weighted backendRefs, each setting its coordinator\'s prefix): the Gateway\'s class lists HTTPRouteBackendRequestHeaderModification in status.supportedFeatures, or publishes none and its implementation\'s conformance report lists it (Envoy Gateway). The router sees none of 20 new statements.',
    async run(t) {
      if (!t.ctx.routerMetricsUrls) throw new Skip('this environment cannot read the router\'s metrics');
      const route = 'xtrinode-conformance-weighted';
      await t.eventually(`route ${route} balances by weighted backendRefs`, () => catchAllRefs(t, route), (refs) => refs.map((r) => r.name).sort().join(',') === 'c-w1-coordinator,c-w2-coordinator', 60_000);
      // The controller may have just switched the group (it re-reads the GatewayClass every 30 s,
      // and Traefik fills its supportedFeatures after it starts): until the Gateway has
      // reprogrammed, a statement may still take the router. Wait for three in a row without it.
      let streak = 0;
      await t.eventually('Gateway programmed for weighted backendRefs', async () => {
        const b0 = await routerRequests(t);
        await t.send({ host: `weighted.${DOMAIN}`, body: 'SELECT 1' });
        streak = (await routerRequests(t)) === b0 ? streak + 1 : 0;
        return streak;
      }, (n) => n >= 3, 60_000);
      const before = await routerRequests(t);
      const owners = new Set<string>();
      for (let i = 0; i < 20; i++) owners.add(served(await t.send({ host: `weighted.${DOMAIN}`, body: 'SELECT 1' })) ?? 'none');
      const seen = (await routerRequests(t)) - before;
      expect(seen === 0 && owners.has('c-w1') && owners.has('c-w2'), `20 new statements: the router saw ${seen} requests (want 0), served by ${[...owners].join(',')}`);
    },
  },
  {
    name: 'QueryPollsStayOnTheirCoordinator',
    description: 'Every poll of a query reaches the coordinator that owns it, from every entry point (hostname, header, default, shared group), also when polls drop the selector header.',
    async run(t) {
      const entries: Array<{ what: string; host?: string; headers?: Record<string, string>; dropHeader?: boolean }> = [
        { what: 'shared group hostname', host: `weighted.${DOMAIN}` },
        { what: 'header', host: 'unrelated.invalid', headers: { 'x-trino-xtrinode': 'conformance/header' } },
        { what: 'header, polls without it', host: 'unrelated.invalid', headers: { 'x-trino-xtrinode': 'conformance/header' }, dropHeader: true },
        { what: 'hostname', host: `explicit.${DOMAIN}` },
        { what: 'default', host: 'unrelated.invalid' },
      ];
      for (const e of entries) {
        for (let q = 0; q < 4; q++) {
          const first = await t.send({ ...(e.host ? { host: e.host } : {}), ...(e.headers ? { headers: e.headers } : {}), body: `SELECT ${q}` });
          expect(first.status === 200, `${e.what}: POST ${first.status} ${first.text.slice(0, 200)}`);
          const owner = served(first);
          const { served: polls, final } = await t.followQuery(first, (u) => ({ host: u.hostname, ...(e.headers && !e.dropHeader ? { headers: e.headers } : {}) }));
          expect(polls.every((p) => p === owner), `${e.what}: POST on ${owner}, polls on ${polls.join(',')}`);
          expect((final.stats as { state: string }).state === 'FINISHED', `${e.what}: ended ${JSON.stringify(final.stats)}`);
        }
      }
    },
  },
  {
    name: 'OAuth2HandshakeStaysOnOneCoordinator',
    description: 'The OAuth2 challenge, token poll (CLI/JDBC flow), browser initiate and callback all reach the coordinator that issued the challenge.',
    async run(t) {
      if (!t.ctx.backends.oauth2) throw new Skip(`backend provider ${t.ctx.backends.name} has no OAuth2 coordinators`);
      await t.eventually('sso group routed', () => t.send({ host: `sso.${DOMAIN}`, body: 'SELECT 1' }), (x) => x.status === 401);
      for (let i = 0; i < 6; i++) {
        const ch = await t.send({ host: `sso.${DOMAIN}`, body: 'SELECT 1' });
        expect(ch.status === 401, `challenge status ${ch.status}`);
        const owner = served(ch);
        const www = String(header(ch, 'www-authenticate'));
        const token = new URL(/x_token_server="([^"]+)"/.exec(www)?.[1] ?? 'http://missing/');
        const tok = await t.send({ host: `sso.${DOMAIN}`, path: token.pathname + token.search });
        expect(tok.status === 200 && served(tok) === owner, `token poll: ${tok.status} on ${served(tok)}, challenge from ${owner}`);
        const init = new URL(/x_redirect_server="([^"]+)"/.exec(www)?.[1] ?? 'http://missing/');
        const ini = await t.send({ host: `sso.${DOMAIN}`, path: init.pathname + init.search });
        expect(served(ini) === owner, `initiate on ${served(ini)}, challenge from ${owner}`);
        const cookie = String(header(ini, 'set-cookie') ?? '').split(';')[0]!;
        expect(cookie.startsWith('XTRINODE_OAUTH2='), `no routing cookie on initiate: ${cookie}`);
        const cb = await t.send({ host: `sso.${DOMAIN}`, path: '/oauth2/callback?code=x', headers: { cookie } });
        expect(served(cb) === owner, `callback on ${served(cb)}, challenge from ${owner}`);
      }
    },
  },
  {
    name: 'TransitionsWithoutErrors',
    description: 'A client polling every 50 ms through the Gateway while its runtime is suspended and woken, a second member joins its group, weights change, the member leaves and the XTrinode is deleted sees no 5xx other than the router\'s own Trino-shaped answers (no half-applied grant or route).',
    async run(t) {
      const host = `move.${DOMAIN}`;
      const routing = { routingGroup: 'conformance-move', hostname: host };
      await t.xtrinode(NS, 'c-move-1', { routing: { ...routing, weight: 1 } });
      await t.eventually('moving runtime served', () => t.send({ host, body: 'SELECT 1' }), (x) => served(x) === 'c-move-1');
      const bad: Array<{ status: number; what: string }> = [];
      const since = Date.now();
      let step = 'start';
      let sent = 0;
      let stop = false;
      const poller = (async () => {
        while (!stop) {
          const r = await t.send({ host, body: 'SELECT 1' }).catch((e: Error) => ({ status: 0, headers: {}, text: e.message, json: () => ({}) }) as Reply);
          sent++;
          let answers = [r];
          if (r.status === 200) {
            const next = (r.json() as { nextUri?: string }).nextUri;
            if (next) answers.push(await t.send({ host: new URL(next).hostname, path: new URL(next).pathname }).catch((e: Error) => ({ status: 0, headers: {}, text: e.message, json: () => ({}) }) as Reply));
          }
          for (const a of answers) if (a.status === 0 || (a.status >= 500 && !header(a, 'x-xtrinode-error'))) bad.push({ status: a.status, what: `${step}: ${a.status} ${a.text.slice(0, 80)}` });
          answers = [];
          await new Promise((res) => setTimeout(res, 50));
        }
      })();
      const phase = async () => (await t.status(NS, 'c-move-1')).phase;
      const settle = (ms: number) => new Promise((res) => setTimeout(res, ms));
      const phases = await t.watchPhases(NS, 'c-move-1');
      try {
        step = 'suspend';
        await t.xtrinode(NS, 'c-move-1', { suspend: true, routing: { ...routing, weight: 1 } });
        // The poller's queries wake it again (the router resumes it), often within a second:
        // seen leaving Running on the watch, then back.
        await t.eventually('runtime leaves Running', async () => [...phases.seen], (seen) => seen.some((p) => p !== undefined && p !== 'Running'), 30_000);
        await settle(2000);
        step = 'resume';
        await t.xtrinode(NS, 'c-move-1', { routing: { ...routing, weight: 1 } });
        await t.eventually('runtime Running again', phase, (p) => p === 'Running', 60_000);
        await settle(2000);
        step = 'member joins';
        await t.xtrinode(NS, 'c-move-2', { routing: { ...routing, weight: 1 } });
        await settle(3000);
        step = 'weights change';
        await t.xtrinode(NS, 'c-move-2', { routing: { ...routing, weight: 5 } });
        await settle(3000);
        step = 'member leaves';
        await t.custom.deleteNamespacedCustomObject({ group: 'analytics.xtrinode.io', version: 'v1', namespace: NS, plural: 'xtrinodes', name: 'c-move-2' });
        await settle(3000);
        step = 'deleted';
        await t.custom.deleteNamespacedCustomObject({ group: 'analytics.xtrinode.io', version: 'v1', namespace: NS, plural: 'xtrinodes', name: 'c-move-1' });
        await settle(3000);
      } finally {
        stop = true;
        phases.stop();
        await poller;
      }
      t.ctx.log?.(`  (phases seen: ${phases.seen.filter((p, i, a) => p !== a[i - 1]).join(' -> ')})`);
      t.ctx.log?.(`  (${sent} polls during suspend, resume, join, weights, leave, delete; ${bad.length} bad)`);
      // Envoy Gateway (v1.9) removes a cluster before the route that names it: requests in between
      // get Envoy's own 500/503 with flag NC. Excused only as many as its access log shows, at
      // most one per step; anything else (a dropped connection, a 502, a 5xx Envoy did not log as
      // NC, or more of them) fails the case as before.
      const excused = await t.clusterNotFoundExcused(host, since, bad.filter((b) => b.status === 500 || b.status === 503).length);
      expect(bad.length - excused === 0 && excused <= 6, `${bad.length} of ${sent} requests got a 5xx that is not the router's own answer (or no answer)${excused ? `, ${excused} of them the Gateway's cluster_not_found (at most 6 excused)` : ''}: ${bad.slice(0, 6).map((b) => b.what).join(' | ')}`);
      if (excused > 0) t.limitation = `${excused} of ${sent} requests got the Gateway's own ${[...new Set(bad.map((b) => b.status))].join('/')} with flag NC (cluster not found) while routes changed (${bad.map((b) => b.what.split(':')[0]).join(', ')}): envoyproxy/gateway#9029, a cluster removed before the route naming it; see README, Tested Gateway implementations`;
    },
  },
  {
    name: 'ResumeSuspendedRuntime',
    description: 'A query to a suspended runtime wakes it (spec.suspend -> false, workloads scaled up) and succeeds; the client never sees an error.',
    async run(t) {
      const r = await t.eventually('suspended runtime answers with a held QUEUED query', () => t.send({ host: `sleepy.${DOMAIN}`, body: 'SELECT 1' }), (x) => x.status === 200 && x.json<{ stats: { state: string } }>().stats.state === 'QUEUED', 30_000);
      const waitUri = new URL(r.json<{ nextUri: string }>().nextUri);
      const { final, served: polls } = await t.followQuery(r, (u) => ({ host: u.hostname }));
      expect((final.stats as { state: string }).state === 'FINISHED', `ended ${JSON.stringify(final)}`.slice(0, 300));
      expect(polls.at(-1) === 'c-sleepy', `served by ${polls.join(',')}`);
      await t.eventually('runtime Running again', () => t.status(NS, 'c-sleepy'), (s) => s.phase === 'Running');
      // Once awake, its route goes straight to the coordinator again; a client re-polling its old
      // wait URI (a retry) must still reach the router, which answers with the same result.
      await t.eventually('route back to the coordinator', async () => {
        const route = (await t.custom.getNamespacedCustomObject({ group: 'gateway.networking.k8s.io', version: 'v1', namespace: t.ctx.gateway.namespace, plural: 'httproutes', name: `xtrinode-${NS}--c-sleepy` })) as { spec: { rules: Array<{ backendRefs: Array<{ name: string }> }> } };
        return route.spec.rules.some((x) => x.backendRefs[0]?.name === 'c-sleepy-coordinator');
      }, (v) => v);
      await new Promise((res) => setTimeout(res, 2000)); // let the implementation reprogram
      const again = await t.send({ host: waitUri.hostname, path: waitUri.pathname });
      expect(again.status === 200 && served(again) === 'c-sleepy', `re-poll of the wait URI after the switch: ${again.status} from ${served(again) ?? 'the router'}: ${again.text.slice(0, 200)}`);
    },
  },
  {
    name: 'InvalidXTrinodeLeavesOthersWorking',
    description: 'An XTrinode the controller refuses (generated group name over 63 characters) is reported on its status and other routes keep working.',
    async run(t) {
      const st = await t.eventually('InvalidSpec on the invalid XTrinode', () => t.status(NS, 'c-this-name-makes-the-generated-group-name-too-long-x'), (s) => s.conditions?.some((c) => c.type === 'Accepted' && c.reason === 'InvalidSpec') === true);
      expect(st.conditions!.find((c) => c.type === 'Accepted')!.message.includes('spec.routing.routingGroup'), 'message does not name the field');
      await t.eventually('other routes still work', () => t.send({ host: `explicit.${DOMAIN}`, body: 'SELECT 1' }), (x) => served(x) === 'c-host');
    },
  },
  {
    name: 'CrossNamespaceBackendWithReferenceGrant',
    description: 'A runtime in another namespace than the Gateway gets a ReferenceGrant, the implementation resolves the backendRef, and requests reach it.',
    async run(t) {
      await t.eventually('cross-namespace backend', () => t.send({ host: `crossns.${DOMAIN}`, body: 'SELECT 1' }), (x) => served(x) === 'c-crossns');
      const grant = await t.custom.getNamespacedCustomObject({ group: 'gateway.networking.k8s.io', version: 'v1beta1', namespace: NS_B, plural: 'referencegrants', name: 'xtrinode-gateway' }) as { spec: { to: Array<{ name: string }> } };
      expect(grant.spec.to.some((x) => x.name === 'c-crossns-coordinator'), 'grant does not name the Service');
      const route = await t.custom.getNamespacedCustomObject({ group: 'gateway.networking.k8s.io', version: 'v1', namespace: t.ctx.gateway.namespace, plural: 'httproutes', name: `xtrinode-${NS_B}--c-crossns` }) as { status?: { parents?: Array<{ conditions?: Array<{ type: string; status: string }> }> } };
      const resolved = route.status?.parents?.[0]?.conditions?.find((c) => c.type === 'ResolvedRefs');
      expect(resolved?.status === 'True', `HTTPRoute ResolvedRefs: ${JSON.stringify(resolved)}`);
    },
  },
  {
    name: 'RealTrinoCliThroughTheGateway',
    description: 'The Trino CLI (476) runs a query on a shared group of real Trino coordinators by hostname.',
    async run(t) {
      const g = t.ctx.realClients?.trinoGroup;
      if (!g) throw new Skip('no real Trino coordinators in this environment');
      for (let i = 0; i < 4; i++) {
        const out = await trinoCli(t, g.hostname, 'SELECT count(*) FROM nation', ['--catalog', 'tpch', '--schema', 'tiny']);
        expect(out.trim() === '"25"', `CLI printed ${JSON.stringify(out)}`);
      }
    },
  },
  {
    name: 'RealTrinoCliResumesSuspendedRuntime',
    description: 'The Trino CLI, which never retries its initial POST, runs a query on a suspended runtime: the router holds it while the runtime wakes and submits it once.',
    async run(t) {
      await t.eventually('suspended runtime routed', () => t.status(NS, 'c-sleepy-cli'), (s) => s.phase === 'Suspended');
      const t0 = Date.now();
      const out = await trinoCli(t, `sleepy-cli.${DOMAIN}`, 'SELECT 1');
      expect(out.trim() === '"0","c-sleepy-cli"', `CLI printed ${JSON.stringify(out)}`);
      t.ctx.log?.(`  (the CLI query on a suspended runtime took ${((Date.now() - t0) / 1000).toFixed(1)}s, resume included)`);
    },
  },
  {
    name: 'RealTrinoSharedGroupFollowUpsBypassTheRouter',
    description: 'Ten queries through a shared group of real Trino coordinators spread over both, in both modes: weighted backendRefs (the router sees none of their requests) and router-placed (it sees exactly the POST of each); every poll carries its coordinator\'s prefix; DELETE of a nextUri cancels; the Trino CLI runs in both modes; a query the router placed survives the router being killed.',
    async run(t) {
      const g = t.ctx.realClients?.trinoGroup;
      if (!g) throw new Skip('no real Trino coordinators in this environment');
      if (!t.ctx.routerMetricsUrls || !t.ctx.setSharedGroups) throw new Skip('this environment cannot switch the controller\'s shared-group mode or read the router\'s metrics');
      const group = g.hostname.split('.')[0]!;
      try {
        for (const mode of ['gateway-weighted', 'router'] as const) {
          await t.ctx.setSharedGroups(mode);
          await t.eventually(`route xtrinode-${group} in ${mode} mode`, () => catchAllRefs(t, `xtrinode-${group}`), (refs) => (mode === 'router' ? refs.length === 1 && refs[0]!.name === 'xtrinode-router' : refs.length === 2), 60_000);
          // Until the Gateway reprograms, a POST may still take the old path: wait for two in a row on the new one.
          let streak = 0;
          await t.eventually(`Gateway programmed for ${mode}`, async () => {
            const before = await routerRequests(t);
            const r = await t.send({ host: g.hostname, body: 'SELECT 1' });
            if (r.status === 200) await t.send({ host: g.hostname, path: new URL(r.json<{ nextUri: string }>().nextUri).pathname, method: 'DELETE' });
            streak = (await routerRequests(t)) - before === (mode === 'router' ? 1 : 0) ? streak + 1 : 0;
            return streak;
          }, (n) => n >= 2, 60_000);
          const before = await routerRequests(t);
          const owners = new Map<string, number>();
          for (let i = 0; i < 10; i++) {
            const first = await t.send({ host: g.hostname, body: `SELECT ${i}` });
            expect(first.status === 200, `${mode}: POST ${first.status} ${first.text.slice(0, 200)}`);
            const m = /^\/xtrinode\/c\/([a-z0-9-]+\/[a-z0-9-]+)\//.exec(new URL(first.json<{ nextUri: string }>().nextUri).pathname);
            expect(m !== null, `${mode}: nextUri without a coordinator prefix: ${first.json<{ nextUri: string }>().nextUri}`);
            owners.set(m![1]!, (owners.get(m![1]!) ?? 0) + 1);
            const { final, rows } = await t.followQuery(first, (u) => {
              expect(u.pathname.startsWith(`/xtrinode/c/${m![1]}/`), `${mode}: a poll left its coordinator's prefix: ${u.pathname}`);
              return { host: u.hostname };
            });
            expect((final.stats as { state: string }).state === 'FINISHED', `${mode}: ended ${JSON.stringify(final.stats)}`);
            expect(JSON.stringify(rows) === `[[${i}]]`, `${mode}: rows ${JSON.stringify(rows)}`);
          }
          const seen = (await routerRequests(t)) - before;
          t.ctx.log?.(`  (${mode}: 10 queries on ${[...owners].map(([o, n]) => `${o} x${n}`).join(', ')}; the router saw ${seen} requests)`);
          expect(owners.size === 2, `${mode}: all 10 queries on ${[...owners.keys()].join(', ')}`);
          expect(seen === (mode === 'router' ? 10 : 0), `${mode}: the router saw ${seen} requests for 10 queries (want ${mode === 'router' ? 10 : 0})`);
          // Cancel: DELETE of the nextUri, through the prefix route.
          const q = await t.send({ host: g.hostname, body: 'SELECT count(*) FROM tpch.sf100.lineitem' });
          const next = new URL(q.json<{ nextUri: string }>().nextUri);
          const del = await t.send({ host: g.hostname, path: next.pathname, method: 'DELETE' });
          expect(del.status === 204, `${mode}: DELETE of nextUri answered ${del.status}`);
          const out = await trinoCli(t, g.hostname, 'SELECT count(*) FROM nation', ['--catalog', 'tpch', '--schema', 'tiny']);
          expect(out.trim() === '"25"', `${mode}: CLI printed ${JSON.stringify(out)}`);
          if (mode === 'router' && t.ctx.restartRouter) {
            // The router placed this query; killing it (no drain) in the middle must not break
            // the query: its polls go by prefix, Gateway -> coordinator.
            const running = await t.send({ host: g.hostname, body: 'SELECT count(*) FROM tpch.tiny.lineitem' });
            expect(running.status === 200, `router killed mid-query: POST ${running.status}`);
            await t.ctx.restartRouter();
            const { final, rows } = await t.followQuery(running, (u) => ({ host: u.hostname }));
            expect((final.stats as { state: string }).state === 'FINISHED' && JSON.stringify(rows) === '[[60175]]', `router killed mid-query: ended ${JSON.stringify(final.stats)} rows ${JSON.stringify(rows)}`);
          }
        }
      } finally {
        await t.ctx.setSharedGroups(undefined);
      }
    },
  },
  {
    name: 'RealTrinoJdbcThroughTheGateway',
    description: 'The Trino JDBC driver (476) runs queries on a shared group of real Trino coordinators by hostname.',
    async run(t) {
      const g = t.ctx.realClients?.trinoGroup;
      if (!g) throw new Skip('no real Trino coordinators in this environment');
      const out = await trinoJdbc(t, g.hostname, 'SELECT regionkey, name FROM region ORDER BY regionkey', 'tpch/tiny');
      expect(out.trim().split('\n').length === 5 && out.startsWith('0\tAFRICA'), `JDBC printed ${JSON.stringify(out)}`);
    },
  },
  {
    name: 'RealTrinoJdbcResumesSuspendedRuntime',
    description: 'The Trino JDBC driver, which never retries its initial POST, runs a query on a suspended runtime that the router wakes.',
    async run(t) {
      await t.eventually('suspended runtime routed', () => t.status(NS, 'c-sleepy-jdbc'), (s) => s.phase === 'Suspended');
      const out = await trinoJdbc(t, `sleepy-jdbc.${DOMAIN}`, 'SELECT 1');
      expect(out.trim() === '0\tc-sleepy-jdbc', `JDBC printed ${JSON.stringify(out)}`);
    },
  },
  {
    name: 'RealTrinoQueriesWaitForARealCoordinatorToStart',
    description: 'A suspended runtime whose coordinator is a real Trino that is not running: a Trino CLI query waits while the router resumes it and Trino starts, then succeeds; suspended again (Trino stopped), a JDBC query does the same.',
    async run(t) {
      if (!t.ctx.backends.realTrino) throw new Skip('no real Trino coordinators in this environment');
      const host = `sleepy-trino.${DOMAIN}`;
      const apps = t.ctx.kubeConfig.makeApiClient(k8s.AppsV1Api);
      const coordinatorDown = async () => {
        const d = await apps.readNamespacedDeployment({ namespace: NS, name: 'c-sleepy-trino-coordinator' });
        return { phase: (await t.status(NS, 'c-sleepy-trino')).phase, replicas: d.spec?.replicas, ready: d.status?.readyReplicas ?? 0 };
      };
      const down = { phase: 'Suspended', replicas: 0, ready: 0 };
      await t.eventually('suspended, its Trino not running', coordinatorDown, (x) => JSON.stringify(x) === JSON.stringify(down), 60_000);
      let t0 = Date.now();
      const cli = await trinoCli(t, host, 'SELECT count(*) FROM nation', ['--catalog', 'tpch', '--schema', 'tiny']);
      expect(cli.trim() === '"25"', `CLI printed ${JSON.stringify(cli)}`);
      t.ctx.log?.(`  (the CLI query waited ${((Date.now() - t0) / 1000).toFixed(1)}s for a real Trino to start, resume included)`);
      await t.xtrinode(NS, 'c-sleepy-trino', { suspend: true, routing: { hostname: host } }); // the controller records the replicas itself this time
      await t.eventually('suspended again, its Trino stopped', coordinatorDown, (x) => JSON.stringify(x) === JSON.stringify(down), 90_000);
      t0 = Date.now();
      const jdbc = await trinoJdbc(t, host, 'SELECT count(*) FROM nation', 'tpch/tiny');
      expect(jdbc.trim() === '25', `JDBC printed ${JSON.stringify(jdbc)}`);
      t.ctx.log?.(`  (the JDBC query waited ${((Date.now() - t0) / 1000).toFixed(1)}s for a real Trino to start, resume included)`);
    },
  },
  {
    name: 'RealTrinoBusyRuntimeIsNotIdleSuspended',
    description: 'A real Trino runtime with a 5 s idleTimeout runs a long query through its hostname route (Gateway -> coordinator: the router sees none of it): it is not suspended while the query runs, and is suspended once the query is cancelled.',
    async run(t) {
      if (!t.ctx.backends.realTrino) throw new Skip('no real Trino coordinators in this environment');
      const host = `sleepy-trino.${DOMAIN}`;
      await t.xtrinode(NS, 'c-sleepy-trino', { idleTimeout: '5s', routing: { hostname: host } });
      await t.eventually('real Trino runtime Running and Ready', () => t.status(NS, 'c-sleepy-trino'), (s) => s.phase === 'Running' && s.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true, 120_000);
      const routerBefore = await routerRequests(t);
      const { page, poll } = await longQuery(t, host);
      await new Promise((res) => setTimeout(res, 15_000)); // three idle timeouts
      const during = { suspend: (await t.custom.getNamespacedCustomObject({ group: 'analytics.xtrinode.io', version: 'v1', namespace: NS, plural: 'xtrinodes', name: 'c-sleepy-trino' }) as { spec: { suspend?: boolean } }).spec.suspend === true, state: await poll() };
      expect(!during.suspend && during.state === 'RUNNING', `15 s after its idle time, with a query running: ${JSON.stringify(during)}`);
      expect((await routerRequests(t)) === routerBefore, 'the query went Gateway -> coordinator, not through the router');
      const cancel = await t.send({ host, path: new URL(page().nextUri!).pathname, method: 'DELETE' });
      expect(cancel.status === 204, `cancel: ${cancel.status}`);
      await t.eventually('suspended once the coordinator is idle', () => t.status(NS, 'c-sleepy-trino'), (s) => s.phase === 'Suspended', 60_000);
    },
  },
  {
    name: 'RealTrinoQueryAtTheIdleDecisionIsNotKilled',
    description: 'A real Trino runtime with a 5 s idleTimeout: a long query sent through its hostname the moment the controller decides to suspend it (spec.suspend set, before the scale-down) keeps running; whichever route it met (the coordinator, or the router that resumes), its runtime is not scaled down under it.',
    async run(t) {
      if (!t.ctx.backends.realTrino) throw new Skip('no real Trino coordinators in this environment');
      const host = `sleepy-trino.${DOMAIN}`;
      const xtrinode = async () => (await t.custom.getNamespacedCustomObject({ group: 'analytics.xtrinode.io', version: 'v1', namespace: NS, plural: 'xtrinodes', name: 'c-sleepy-trino' })) as { spec: { suspend?: boolean }; metadata: { annotations?: Record<string, string> } };
      await t.xtrinode(NS, 'c-sleepy-trino', { idleTimeout: '5s', routing: { hostname: host } });
      if ((await xtrinode()).spec.suspend) {
        await t.custom.patchNamespacedCustomObject({ group: 'analytics.xtrinode.io', version: 'v1', namespace: NS, plural: 'xtrinodes', name: 'c-sleepy-trino', body: { spec: { suspend: false } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
      }
      await t.eventually('real Trino runtime Running and Ready', () => t.status(NS, 'c-sleepy-trino'), (s) => s.phase === 'Running' && s.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true, 180_000);
      // Idle for 5 s: the controller decides to suspend it. Watched closely, so the query below
      // leaves within about 50 ms of the decision, seconds before a scale-down could come.
      const decided = await t.eventually('the idle suspension decided', xtrinode, (x) => x.spec.suspend === true && Boolean(x.metadata.annotations?.['analytics.xtrinode.io/idle-suspended-at']), 120_000, 50);
      const at = Date.now();
      const { page, poll, unavailable } = await longQuery(t, host);
      t.ctx.log?.(`  (decided ${decided.metadata.annotations?.['analytics.xtrinode.io/idle-suspended-at']}; the query was RUNNING ${((Date.now() - at) / 1000).toFixed(1)} s after the decision was seen)`);
      // Past the route grace (3 s), the re-read and any scale-down: still running, runtime up.
      await new Promise((res) => setTimeout(res, 12_000));
      const apps = t.ctx.kubeConfig.makeApiClient(k8s.AppsV1Api);
      const after = { state: await poll(), suspend: (await xtrinode()).spec.suspend === true, replicas: (await apps.readNamespacedDeployment({ namespace: NS, name: 'c-sleepy-trino-coordinator' })).spec?.replicas };
      t.ctx.log?.(`  (polls answered 502/503/504 and retried, as Trino clients do: ${unavailable()})`);
      expect(after.state === 'RUNNING' && !after.suspend && after.replicas === 1, `12 s after a query started at the idle decision: ${JSON.stringify(after)} (wanted RUNNING, not suspended, 1 replica)`);
      const cancel = await t.send({ host, path: new URL(page().nextUri!).pathname, method: 'DELETE' });
      expect(cancel.status === 204, `cancel: ${cancel.status}`);
      await t.eventually('suspended once the coordinator is idle', () => t.status(NS, 'c-sleepy-trino'), (s) => s.phase === 'Suspended', 60_000);
    },
  },
  {
    name: 'RealTrinoPythonClientThroughTheGateway',
    description: 'The Python client (PyPI trino) runs queries on real Trino coordinators of a shared group by header selector.',
    async run(t) {
      const g = t.ctx.realClients?.trinoGroup;
      if (!g || !t.ctx.realClients?.python) throw new Skip('no real Trino coordinators or Python trino client in this environment');
      for (let i = 0; i < 3; i++) {
        const out = await python(t, g.header, 'SELECT count(*) FROM nation');
        expect(out.trim() === '25', `python printed ${JSON.stringify(out)}`);
      }
    },
  },
  {
    name: 'RealTrinoPythonClientResumesSuspendedRuntime',
    description: 'The Python client, sending its selector header on every request, runs a query on a suspended runtime that the router wakes.',
    async run(t) {
      if (!t.ctx.realClients?.python) throw new Skip('no Python trino client in this environment');
      await t.eventually('suspended runtime routed', () => t.status(NS, 'c-sleepy-py'), (s) => s.phase === 'Suspended');
      const out = await python(t, 'conformance/sleepy-py', 'SELECT 1');
      expect(out.trim() === '0\tc-sleepy-py', `python printed ${JSON.stringify(out)}`);
    },
  },
  {
    name: 'RealTrinoJsClientThroughTheGateway',
    description: 'The npm trino-client runs queries on real Trino coordinators of a shared group by header selector (every poll must reach the owning coordinator, or real Trino fails the query).',
    async run(t) {
      const g = t.ctx.realClients?.trinoGroup;
      if (!g) throw new Skip('no real Trino coordinators in this environment');
      const trino = Trino.create({ server: t.ctx.gatewayUrl, catalog: 'tpch', schema: 'tiny', extraHeaders: { 'X-Trino-XTrinode': g.header, 'X-Trino-User': 'conformance' } });
      for (let i = 0; i < 6; i++) {
        const rows: unknown[][] = [];
        for await (const page of await trino.query('SELECT name FROM region ORDER BY name')) {
          if (page.error) throw new Error(page.error.message);
          rows.push(...((page.data ?? []) as unknown[][]));
        }
        expect(rows.length === 5 && rows[0]![0] === 'AFRICA', `rows ${JSON.stringify(rows)}`);
      }
    },
  },
  {
    name: 'RoutingGroupHeaderSelects',
    description: 'X-Trino-Routing-Group: <group> (the header Trino Gateway clients send) reaches that group; an unknown group gets a 404 naming the header, never the default route.',
    async run(t) {
      await t.eventually('routing group header', () => t.send({ host: 'unrelated.invalid', headers: { 'x-trino-routing-group': 'conformance-weighted' }, body: 'SELECT 1' }), (x) => ['c-w1', 'c-w2'].includes(served(x) ?? ''));
      const r = await t.send({ host: 'unrelated.invalid', headers: { 'x-trino-routing-group': 'conformance-no-such-group' }, body: 'SELECT 1' });
      expect(r.status === 404 && header(r, 'x-xtrinode-error') === 'XTN_UNKNOWN_SELECTOR', `status ${r.status} ${header(r, 'x-xtrinode-error')}`);
      expect(r.text.includes('X-Trino-Routing-Group') && r.text.includes('conformance-no-such-group'), `message does not name the header and value: ${r.text}`);
      expect(served(r) === undefined, `served by ${served(r)}`);
    },
  },
  {
    name: 'RoutingRulesWithRealClients',
    description: "Routing rules by source and client tags, with the default route owner's consent: the Trino CLI (--source, --client-tags in any order and spacing), JDBC (source, clientTags) and python (source, client_tags) land on the rule's runtime, a rule on the real Trino group runs there, queries matching no rule land on the default route; a namespace without consent gets RuleNotPermitted and routes nothing.",
    async run(t) {
      const g = t.ctx.realClients?.trinoGroup;
      if (!g?.xtrinode || !t.ctx.realClients?.python) throw new Skip('no real Trino coordinators or clients in this environment');
      type Table = { groups: Array<{ default: boolean; backends: Array<{ id: string }> }> };
      const tb = JSON.parse((await t.core.readNamespacedConfigMap({ namespace: t.ctx.gateway.namespace, name: 'trino-gateway-routes' })).data?.['routes.json'] ?? '{"groups":[]}') as Table;
      const owners = tb.groups.find((x) => x.default)?.backends.map((b) => b.id.split('/') as [string, string]) ?? [];
      expect(owners.length > 0, 'no default route in the route table');
      const defaults = owners.map(([, name]) => name);
      const xt = (ns: string, name: string, routing: Record<string, unknown>) => t.apply({ apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { name, namespace: ns }, spec: { routing } });
      const host = `rules.${DOMAIN}`;

      // No consent for NS_B: refused, and its source goes to the default route.
      const refused = await t.eventually('RuleNotPermitted on the rules of a namespace nobody consented to', () => t.status(NS_B, 'c-rules-b'), (s) => s.conditions?.some((c) => c.type === 'Accepted' && c.reason === 'RuleNotPermitted') === true);
      expect(refused.conditions!.find((c) => c.type === 'Accepted')!.message.includes('acceptRulesFrom'), `message: ${JSON.stringify(refused.conditions)}`);

      try {
        for (const [ns, name] of owners) await xt(ns, name, { acceptRulesFrom: [NS, g.xtrinode.namespace] });
        await xt(g.xtrinode.namespace, g.xtrinode.name, { rules: [{ name: 'trino-loader', source: 'trino-loader' }] });
        const st = await t.eventually('rules of c-rules in force', () => t.status(NS, 'c-rules'), (s) => s.conditions?.some((c) => c.type === 'Accepted' && c.status === 'True') === true && JSON.stringify((s as { rules?: string[] }).rules) === '["airflow","nightly-etl"]');
        expect(st.conditions!.find((c) => c.type === 'Accepted')!.message.includes('rules airflow, nightly-etl'), `status: ${JSON.stringify(st.conditions)}`);
        const route = (await t.custom.getNamespacedCustomObject({ group: 'gateway.networking.k8s.io', version: 'v1', namespace: t.ctx.gateway.namespace, plural: 'httproutes', name: `xtrinode-${NS}--c-rules.rules` })) as { metadata: { annotations?: Record<string, string> }; spec: { rules: Array<{ matches: Array<{ headers?: Array<{ type: string; name: string }> }> }> } };
        expect((route.metadata.annotations?.['analytics.xtrinode.io/rules'] ?? '').includes(`${NS}/c-rules nightly-etl`), `annotations: ${JSON.stringify(route.metadata.annotations)}`);
        expect(route.spec.rules.some((r) => r.matches.some((m) => m.headers?.some((h) => h.type === 'RegularExpression' && h.name === 'X-Trino-Client-Tags'))), 'no client tag match in the rules route');

        await t.eventually('a rule by source through the Gateway', () => t.send({ host, headers: { 'x-trino-source': 'airflow' }, body: 'SELECT 1' }), (x) => served(x) === 'c-rules');
        await t.eventually('a rule by client tags through the Gateway', () => t.send({ host, headers: { 'x-trino-client-tags': 'nightly, etl' }, body: 'SELECT 1' }), (x) => served(x) === 'c-rules');
        const dbt = await t.send({ host, headers: { 'x-trino-source': 'dbt' }, body: 'SELECT 1' });
        expect(defaults.includes(served(dbt) ?? ''), `a source only a refused rule names was served by ${served(dbt)}, not the default route (${defaults.join(', ')})`);

        const cliRow = (name: string) => `"0","${name}"`;
        const landed: string[] = [];
        for (const extra of [['--source', 'airflow'], ['--client-tags', 'etl,nightly'], ['--client-tags', 'nightly,etl'], ['--client-tags', ' etl , nightly']]) {
          const out = (await trinoCli(t, host, 'SELECT 1', extra)).trim();
          expect(out === cliRow('c-rules'), `CLI ${extra.join(' ')} printed ${JSON.stringify(out)}`);
          landed.push(`cli ${extra.join(' ')}`);
        }
        for (const extra of [[], ['--client-tags', 'etl'], ['--source', 'dbt']]) {
          const out = (await trinoCli(t, host, 'SELECT 1', extra)).trim();
          expect(defaults.some((d) => out === cliRow(d)), `CLI ${extra.join(' ') || '(no rule)'} printed ${JSON.stringify(out)}, not the default route's ${defaults.join(', ')}`);
        }
        for (const props of ['source=airflow', 'clientTags=nightly,etl']) {
          const out = (await trinoJdbc(t, host, 'SELECT 1', '', props)).trim();
          expect(out === '0\tc-rules', `JDBC ${props} printed ${JSON.stringify(out)}`);
        }
        const plainJdbc = (await trinoJdbc(t, host, 'SELECT 1')).trim();
        expect(defaults.some((d) => plainJdbc === `0\t${d}`), `JDBC without rule properties printed ${JSON.stringify(plainJdbc)}`);
        for (const connect of [{ source: 'airflow' }, { client_tags: ['nightly', 'etl'] }]) {
          const out = (await python(t, '', 'SELECT 1', connect)).trim();
          expect(out === '0\tc-rules', `python ${JSON.stringify(connect)} printed ${JSON.stringify(out)}`);
        }
        const plainPy = (await python(t, '', 'SELECT 1')).trim();
        expect(defaults.some((d) => plainPy === `0\t${d}`), `python without rule arguments printed ${JSON.stringify(plainPy)}`);
        // The real Trino group: only a real coordinator answers from its tpch and system catalogs.
        const real = (await trinoCli(t, host, "SELECT count(*), max(node_version) FROM tpch.tiny.nation CROSS JOIN system.runtime.nodes WHERE coordinator", ['--source', 'trino-loader'])).trim();
        expect(real === '"25","476"', `CLI --source trino-loader printed ${JSON.stringify(real)}, not real Trino 476's answer`);
      } finally {
        for (const [ns, name] of owners) await xt(ns, name, {});
        await xt(g.xtrinode.namespace, g.xtrinode.name, {});
      }
    },
  },
  {
    name: 'GatewayQueueWithRealClients',
    description: 'A group of two real Trino coordinators with capacity.maxQueries 1: six clients (two Trino CLI, two JDBC, two python) each run a query of a few seconds; no coordinator runs more than the limit plus the documented slack, every query finishes, some waited in the gateway queue. On a full fake group: QUEUE_LIMIT and QUEUE_TIMEOUT reach the Trino CLI as readable errors, and DELETE removes a queued statement.',
    async run(t) {
      const g = t.ctx.realClients?.trinoGroup;
      const q = t.ctx.routerQueue;
      if (!g?.xtrinode || !t.ctx.realClients?.python || !q || !t.ctx.routerMetricsUrls) throw new Skip('no real Trino coordinators, clients, router queue settings or router metrics in this environment');
      type Table = { groups: Array<{ name: string; path: string; backends: Array<{ id: string; maxQueries?: number }> }> };
      const table = async () => JSON.parse((await t.core.readNamespacedConfigMap({ namespace: t.ctx.gateway.namespace, name: 'trino-gateway-routes' })).data?.['routes.json'] ?? '{"groups":[]}') as Table;
      const key = `${g.xtrinode.namespace}/${g.xtrinode.name}`;
      const members = ((await table()).groups.find((x) => x.backends.some((b) => b.id === key))?.backends ?? []).map((b) => b.id.split('/') as [string, string]);
      expect(members.length === 2, `the real Trino group has ${members.length} members, the case needs 2`);
      const capacity = (ns: string, name: string, spec: Record<string, unknown>) => t.apply({ apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { name, namespace: ns }, spec });
      const waitedCount = async () => {
        let n = 0;
        for (const url of t.ctx.routerMetricsUrls!) for (const m of (await (await fetch(url)).text()).matchAll(/^xtrinode_router_queue_wait_seconds_count\{group="([^"]+)"\} (\d+)/gm)) n += m[1] === undefined ? 0 : Number(m[2]);
        return n;
      };
      try {
        for (const [ns, name] of members) await capacity(ns, name, { capacity: { maxQueries: 1 } });
        await t.eventually('limits in the route table', table, (tb) => tb.groups.some((x) => x.path === 'router' && x.backends.length === 2 && x.backends.every((b) => b.maxQueries === 1)));
        // The Gateway must send the group's new statements to the router before the clients start
        // (it weighted them itself until now): three requests in a row through the hostname reach it.
        await t.eventually('the Gateway sends the group to the router', async () => {
          for (let i = 0; i < 3; i++) {
            const n0 = await routerRequests(t);
            const r = await t.send({ host: g.hostname, path: '/v1/info' });
            if (r.status !== 200 || (await routerRequests(t)) <= n0) return false;
          }
          return true;
        }, (ok) => ok, 60_000);
        // What each coordinator reports, through the Gateway by its prefix, every 200 ms.
        let max = 0;
        let samples = 0;
        let sampling = true;
        const sampler = (async () => {
          while (sampling) {
            for (const [ns, name] of members) {
              const r = await t.send({ host: g.hostname, path: `/xtrinode/c/${ns}/${name}/v1/jmx/mbean/trino.execution:name=QueryManager` }).catch(() => undefined);
              if (r?.status !== 200) continue;
              const attrs = r.json<{ attributes: Array<{ name: string; value: number }> }>().attributes;
              const value = (name: string) => attrs.find((a) => a.name === name)?.value ?? 0;
              // Alive in any state: submitted minus completed (queued + running leaves some states out).
              const n = Math.max(value('SubmittedQueries.TotalCount') - value('CompletedQueries.TotalCount'), value('QueuedQueries') + value('RunningQueries'));
              max = Math.max(max, n);
              samples++;
            }
            await new Promise((r) => setTimeout(r, 200));
          }
        })();
        const before = await waitedCount();
        const sql = 'SELECT count(*) FROM tpch.sf1.lineitem';
        const t0 = Date.now();
        const outs = await Promise.all([
          trinoCli(t, g.hostname, sql).then((o) => ['cli', o.trim() === '"6001215"', o]),
          trinoCli(t, g.hostname, sql).then((o) => ['cli', o.trim() === '"6001215"', o]),
          trinoJdbc(t, g.hostname, sql).then((o) => ['jdbc', o.trim() === '6001215', o]),
          trinoJdbc(t, g.hostname, sql).then((o) => ['jdbc', o.trim() === '6001215', o]),
          python(t, g.header, sql).then((o) => ['python', o.trim() === '6001215', o]),
          python(t, g.header, sql).then((o) => ['python', o.trim() === '6001215', o]),
        ] as Array<Promise<[string, boolean, string]>>);
        sampling = false;
        await sampler;
        const waited = (await waitedCount()) - before;
        const slack = q.processes - 1;
        t.ctx.log?.(`  (six queries in ${((Date.now() - t0) / 1000).toFixed(1)}s; ${waited} waited in the gateway queue; the coordinators reported at most ${max} queries alive over ${samples} samples; limit 1, slack ${slack})`);
        expect(outs.every((o) => o[1]), `not every client got the answer: ${JSON.stringify(outs.filter((o) => !o[1]))}`);
        expect(samples > 10, `only ${samples} samples of the coordinators' counts`);
        expect(max <= 1 + slack, `a coordinator reported ${max} queries alive, over the limit 1 + slack ${slack}`);
        expect(waited >= 2, `${waited} statements waited in the gateway queue; six queries on two slots must make some wait`);
        // The router said so on the group's first member (queue-events.ts), and that it drained.
        const [evNs, evName] = members.map(([ns, name]) => `${ns}/${name}`).sort()[0]!.split('/') as [string, string];
        const groupName = (await table()).groups.find((x) => x.backends.some((b) => b.id === key))!.name;
        await t.eventually(`QueueStarted and QueueDrained Events on ${evNs}/${evName}`, async () => (await t.core.listNamespacedEvent({ namespace: evNs })).items.filter((e) => e.involvedObject.name === evName && e.message?.includes(`routing group ${groupName}:`)).map((e) => e.reason), (r) => r.includes('QueueStarted') && r.includes('QueueDrained'), 15_000);
      } finally {
        for (const [ns, name] of members) await capacity(ns, name, {});
      }

      // A full fake group: one query holds its slot (its client does not poll on).
      const host = `capacity.${DOMAIN}`;
      const first = await t.eventually('the capacity group takes a statement', () => t.send({ host, body: 'SELECT 1' }), (x) => x.status === 200 && served(x) === 'c-capacity');
      // Each router process queues up to QUEUE_LIMIT for the group: fill every process's queue, so
      // the next statement is refused wherever it lands. Sequential requests ride one connection
      // (Traefik reuses its last idle one to the router), so statements go in concurrent batches on
      // as many client connections: the Gateway opens one to the router per request in flight, and
      // the router's processes share those.
      const queued: string[] = [];
      let refusals = 0;
      const batch = q.processes * 2;
      const connections = new Pool(t.ctx.gatewayUrl, { connections: batch });
      for (let round = 0; queued.length < q.limit * q.processes && round < q.limit * q.processes * 4; round++) {
        const replies = await Promise.all(Array.from({ length: batch }, (_, j) => t.send({ host, body: `SELECT ${round * batch + j}`, via: connections })));
        for (const r of replies) {
          const page = r.json<{ nextUri?: string; stats: { state: string }; error?: { errorName: string } }>();
          if (page.error?.errorName === 'XTRINODE_QUEUE_FULL') refusals++;
          else {
            expect(page.stats.state === 'QUEUED' && page.nextUri?.includes('/xtrinode/wait/') === true, `a statement was not queued: ${r.text.slice(0, 300)}`);
            queued.push(page.nextUri!);
          }
        }
      }
      await connections.close();
      expect(queued.length === q.limit * q.processes, `${queued.length} statements queued (and ${refusals} refused), not QUEUE_LIMIT ${q.limit} x ${q.processes} router processes`);
      const over = await t.send({ host, body: 'SELECT 0' });
      expect(over.json<{ error?: { errorName: string } }>().error?.errorName === 'XTRINODE_QUEUE_FULL', `a statement over QUEUE_LIMIT on every process got: ${over.text.slice(0, 300)}`);
      // The Trino CLI's own message: the JVM's warnings come first on stderr, so keep its last lines.
      const cliError = (e: unknown) => (e as Error).message.split('\n').filter((l) => !l.startsWith('WARNING:')).join('\n');
      const refused = await trinoCli(t, host, 'SELECT 1').then((o) => `printed ${o}`, cliError);
      expect(refused.includes('QUEUE_LIMIT') && refused.includes('routing group xtn-conformance--c-capacity'), `the CLI did not show the QUEUE_LIMIT error: ${refused.slice(-600)}`);
      for (const uri of queued) {
        const u = new URL(uri);
        const r = await t.send({ host, method: 'DELETE', path: u.pathname });
        expect(r.status === 204, `DELETE of a queued statement answered ${r.status}`);
      }
      const t1 = Date.now();
      const timedOut = await trinoCli(t, host, 'SELECT 1').then((o) => `printed ${o}`, cliError);
      expect(timedOut.includes('QUEUE_TIMEOUT') && timedOut.includes('routing group xtn-conformance--c-capacity'), `the CLI did not show the QUEUE_TIMEOUT error: ${timedOut.slice(-600)}`);
      expect(Date.now() - t1 >= q.timeoutMs - 1000, `the QUEUE_TIMEOUT error came after ${Date.now() - t1} ms, before the ${q.timeoutMs} ms timeout`);
      await t.followQuery(first, (u) => ({ host: u.host.split(':')[0] }));
    },
  },
  {
    name: 'QueueResumesASuspendedMember',
    description: 'A group with maxQueries 1 whose one running member is full and whose other member is suspended: a new statement waits in the gateway queue, the queue resumes the suspended member, and the statement runs there once it is ready.',
    async run(t) {
      await t.eventually('c-scale-b suspended', () => t.status(NS, 'c-scale-b'), (s) => s.phase === 'Suspended');
      const host = `scale.${DOMAIN}`;
      const first = await t.eventually('the running member takes a statement', () => t.send({ host, body: 'SELECT 1' }), (x) => x.status === 200 && served(x) === 'c-scale-a');
      const second = await t.send({ host, body: 'SELECT 2' });
      const page = second.json<{ nextUri?: string; stats: { state: string } }>();
      expect(page.stats.state === 'QUEUED' && page.nextUri?.includes('/xtrinode/wait/') === true, `the second statement was not queued: ${second.text.slice(0, 300)}`);
      const { served: polls, final } = await t.followQuery(second, (u) => ({ host: u.hostname }));
      expect(final.error === undefined, `the queued statement failed: ${JSON.stringify(final.error)}`);
      expect(polls.includes('c-scale-b') && !polls.includes('c-scale-a'), `the queued statement was served by ${JSON.stringify(polls)}, not the resumed member`);
      const x = (await t.custom.getNamespacedCustomObject({ group: 'analytics.xtrinode.io', version: 'v1', namespace: NS, plural: 'xtrinodes', name: 'c-scale-b' })) as { spec: { suspend?: boolean } };
      expect(x.spec.suspend === false, `c-scale-b spec.suspend is ${String(x.spec.suspend)} after the queue resumed it`);
      await t.followQuery(first, (u) => ({ host: u.hostname }));
    },
  },
  {
    name: 'BlueGreenReplacementUnderLoad',
    description: 'Three clients run queries in a loop (each polling its pages 200 ms apart) through a group while its members are replaced one by one: a new member joins, the old one goes to weight 0 and is deleted; then another joins and the old one is deleted outright (the drain finalizer keeps it for its running queries). No query fails, and no new query reaches a member once its deletion was asked for.',
    async run(t) {
      const host = `bluegreen.${DOMAIN}`;
      const member = (name: string, weight: number) => t.xtrinode(NS, name, { routing: { routingGroup: 'conformance-bluegreen', hostname: host, weight } });
      const gone = async (name: string) => {
        try {
          await t.custom.getNamespacedCustomObject({ group: 'analytics.xtrinode.io', version: 'v1', namespace: NS, plural: 'xtrinodes', name });
          return false;
        } catch (e) {
          return (e as { code?: number }).code === 404;
        }
      };
      const del = (name: string) => t.custom.deleteNamespacedCustomObject({ group: 'analytics.xtrinode.io', version: 'v1', namespace: NS, plural: 'xtrinodes', name });
      await member('c-bg-1', 1);
      const probe = await t.eventually('c-bg-1 serves the group', () => t.send({ host, body: 'SELECT 1' }), (x) => served(x) === 'c-bg-1');
      await t.followQuery(probe, (u) => ({ host: u.hostname })); // a query left open would hold the drain
      const connections = new Pool(t.ctx.gatewayUrl, { connections: 3 });
      let stop = false;
      let done = 0;
      const failures: string[] = [];
      const starts: Array<{ at: number; by: string | undefined }> = [];
      const deletedAt = new Map<string, number>();
      const loop = async () => {
        while (!stop) {
          const at = Date.now();
          try {
            const first = await t.send({ host, body: 'SELECT 1', via: connections });
            starts.push({ at, by: served(first) });
            if (first.status !== 200) throw new Error(`POST answered ${first.status}: ${first.text.slice(0, 120)}`);
            let page = first.json<{ nextUri?: string; error?: { message: string } }>();
            while (page.nextUri) {
              await new Promise((r) => setTimeout(r, 200));
              const u = new URL(page.nextUri);
              const r = await t.send({ host: u.hostname, path: u.pathname, via: connections });
              if (r.status !== 200) throw new Error(`poll answered ${r.status}: ${r.text.slice(0, 120)}`);
              page = r.json();
            }
            if (page.error) throw new Error(`query failed: ${page.error.message.slice(0, 120)}`);
            done++;
          } catch (e) {
            failures.push(`${new Date(at).toISOString()}: ${(e as Error).message}`);
          }
        }
      };
      const loops = [loop(), loop(), loop()];
      const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));
      try {
        // 1. green joins; blue goes to weight 0, then is deleted.
        await member('c-bg-2', 1);
        await t.eventually('c-bg-2 takes queries', async () => starts.some((x) => x.by === 'c-bg-2'), (ok) => ok, 30_000);
        await member('c-bg-1', 0);
        await settle(2000);
        deletedAt.set('c-bg-1', Date.now());
        await del('c-bg-1');
        await t.eventually('c-bg-1 drained and gone', () => gone('c-bg-1'), (ok) => ok, 60_000);
        // 2. another joins; green is deleted outright, with queries running on it.
        await member('c-bg-3', 1);
        await t.eventually('c-bg-3 takes queries', async () => starts.some((x) => x.by === 'c-bg-3'), (ok) => ok, 30_000);
        deletedAt.set('c-bg-2', Date.now());
        await del('c-bg-2');
        await t.eventually('c-bg-2 drained and gone', () => gone('c-bg-2'), (ok) => ok, 60_000);
        await settle(1000);
      } finally {
        stop = true;
        await Promise.all(loops);
        await connections.close();
        await del('c-bg-3').catch(() => undefined);
      }
      // A statement may be on its way while the Gateway reprograms (its routes settle in a second or two).
      const late = starts.filter((x) => x.by !== undefined && deletedAt.has(x.by) && x.at > deletedAt.get(x.by)! + 5000);
      t.ctx.log?.(`  (${done} queries finished during two replacements, ${failures.length} failed; served by ${[...new Set(starts.map((x) => x.by))].join(', ')})`);
      // Envoy Gateway (v1.9) programs a route before the cluster it names (envoyproxy/gateway#9029):
      // a POST in between gets Envoy's own empty 500 with flag NC. Excused only as many as its
      // access log shows for this host (it flushes every 10 s); every other failure fails the case.
      const since = starts.length > 0 ? Math.min(...starts.map((x) => x.at)) : Date.now();
      const excused = await t.clusterNotFoundExcused(host, since, failures.filter((f) => f.endsWith('POST answered 500: ')).length);
      expect(failures.length - excused === 0, `${failures.length} of ${done + failures.length} queries failed while members were replaced${excused ? ` (${excused} excused as the Gateway's cluster_not_found)` : ''}: ${failures.slice(0, 4).join(' | ')}`);
      if (excused > 0) t.limitation = `${excused} of ${done + failures.length} new statements got the Gateway's own 500 with flag NC (cluster not found) as a member joined: envoyproxy/gateway#9029, a route programmed before its cluster; no query on a draining member failed. See README, Tested Gateway implementations`;
      expect(done >= 10, `only ${done} queries finished during the replacements`);
      expect(late.length === 0, `${late.length} queries started on a member more than 5 s after its deletion was asked for: ${JSON.stringify(late.slice(0, 3))}`);
    },
  },
];

/** The fixtures every case relies on, applied once. */
async function applyFixtures(t: Tools): Promise<() => Promise<void>> {
  const b = t.ctx.backends;
  for (const ns of [NS, NS_B]) await t.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  await b.coordinator(NS, 'c-host');
  await b.coordinator(NS, 'c-header');
  await b.coordinator(NS, 'c-default');
  await b.coordinator(NS, 'c-w1');
  await b.coordinator(NS, 'c-w2');
  await b.coordinator(NS_B, 'c-crossns');
  if (b.oauth2) {
    await b.coordinator(NS, 'c-sso-1', { oauth2: true });
    await b.coordinator(NS, 'c-sso-2', { oauth2: true });
  }
  await t.xtrinode(NS, 'c-host', { routing: { hostnameDomain: DOMAIN, hostname: `explicit.${DOMAIN}` } });
  await t.xtrinode(NS, 'c-header', { routing: { header: 'X-Trino-XTrinode=conformance/header' } });
  await t.xtrinode(NS, 'c-default', { routing: { default: true } });
  await t.xtrinode(NS, 'c-w1', { routing: { routingGroup: 'conformance-weighted', hostname: `weighted.${DOMAIN}`, weight: 3 } });
  await t.xtrinode(NS, 'c-w2', { routing: { routingGroup: 'conformance-weighted', hostname: `weighted.${DOMAIN}`, weight: 1 } });
  await t.xtrinode(NS_B, 'c-crossns', { routing: { hostname: `crossns.${DOMAIN}` } });
  await b.coordinator(NS, 'c-scale-a');
  await t.xtrinode(NS, 'c-scale-a', { capacity: { maxQueries: 1 }, routing: { routingGroup: 'conformance-scale', hostname: `scale.${DOMAIN}` } });
  await b.coordinator(NS, 'c-scale-b', { suspended: true });
  await t.suspendedXTrinode(NS, 'c-scale-b', { capacity: { maxQueries: 1 }, routing: { routingGroup: 'conformance-scale', hostname: `scale.${DOMAIN}` } });
  await b.coordinator(NS, 'c-capacity');
  await t.xtrinode(NS, 'c-capacity', { capacity: { maxQueries: 1 }, routing: { hostname: `capacity.${DOMAIN}` } });
  await b.coordinator(NS, 'c-rules');
  await t.xtrinode(NS, 'c-rules', { routing: { rules: [{ name: 'airflow', source: 'airflow' }, { name: 'nightly-etl', clientTags: ['etl', 'nightly'] }] } });
  await b.coordinator(NS_B, 'c-rules-b');
  await t.xtrinode(NS_B, 'c-rules-b', { routing: { rules: [{ name: 'grab-dbt', source: 'dbt' }] } });
  await t.xtrinode(NS, 'c-this-name-makes-the-generated-group-name-too-long-x', { routing: { hostname: `invalid.${DOMAIN}` } });
  if (b.oauth2) {
    await t.xtrinode(NS, 'c-sso-1', { coordinator: { oauth2: true }, routing: { routingGroup: 'conformance-sso', hostname: `sso.${DOMAIN}` } });
    await t.xtrinode(NS, 'c-sso-2', { coordinator: { oauth2: true }, routing: { routingGroup: 'conformance-sso', hostname: `sso.${DOMAIN}` } });
  }
  // Suspend/resume: a suspended runtime whose coordinator Deployment is at 0 replicas.
  await b.coordinator(NS, 'c-move-1');
  await b.coordinator(NS, 'c-move-2');
  for (const n of ['c-bg-1', 'c-bg-2', 'c-bg-3']) await b.coordinator(NS, n);
  await b.coordinator(NS, 'c-sleepy', { suspended: true });
  await t.suspendedXTrinode(NS, 'c-sleepy', { routing: { hostname: `sleepy.${DOMAIN}` } });
  await b.coordinator(NS, 'c-sleepy-cli', { suspended: true });
  await t.suspendedXTrinode(NS, 'c-sleepy-cli', { routing: { hostname: `sleepy-cli.${DOMAIN}` } });
  await b.coordinator(NS, 'c-sleepy-jdbc', { suspended: true });
  await t.suspendedXTrinode(NS, 'c-sleepy-jdbc', { routing: { hostname: `sleepy-jdbc.${DOMAIN}` } });
  await b.coordinator(NS, 'c-sleepy-py', { suspended: true });
  await t.suspendedXTrinode(NS, 'c-sleepy-py', { routing: { header: 'X-Trino-XTrinode=conformance/sleepy-py' } });
  if (b.realTrino) {
    await b.coordinator(NS, 'c-sleepy-trino', { suspended: true, realTrino: true });
    await t.suspendedXTrinode(NS, 'c-sleepy-trino', { routing: { hostname: `sleepy-trino.${DOMAIN}` } });
  }
  return async () => {
    b.stop?.();
    for (const ns of [NS, NS_B]) {
      try {
        await t.core.deleteNamespace({ name: ns });
      } catch {
        /* already gone */
      }
    }
  };
}

export async function runConformance(ctx: ConformanceContext, opts: { only?: string[] } = {}): Promise<ConformanceReport> {
  const t = new Tools(ctx);
  const log = ctx.log ?? (() => undefined);
  const gc = (await t.custom.getClusterCustomObject({ group: 'gateway.networking.k8s.io', version: 'v1', plural: 'gatewayclasses', name: ctx.gatewayClass })) as { spec: { controllerName: string }; status?: unknown };
  const cleanup = await applyFixtures(t);
  const cases: CaseReport[] = [];
  try {
    for (const c of CASES) {
      if (opts.only && !opts.only.includes(c.name)) continue;
      const t0 = Date.now();
      let result: Result = 'Passed';
      let reason: string | undefined;
      t.limitation = undefined;
      try {
        await c.run(t);
      } catch (e) {
        result = e instanceof Skip ? 'Skipped' : 'Failed';
        reason = (e as Error).message;
      }
      log(`${result.padEnd(7)} ${c.name}${reason ? `: ${reason}` : ''}`);
      if (t.limitation) log(`  limitation: ${t.limitation}`);
      cases.push({ name: c.name, description: c.description, result, ...(reason ? { reason } : {}), ...(t.limitation ? { limitation: t.limitation } : {}), durationMs: Date.now() - t0 });
    }
  } finally {
    await cleanup();
    await t.client.close();
  }
  const count = (r: Result) => cases.filter((c) => c.result === r).length;
  return {
    apiVersion: 'analytics.xtrinode.io/v1alpha1',
    kind: 'RoutingConformanceReport',
    date: new Date().toISOString(),
    gatewayClass: ctx.gatewayClass,
    implementation: { controllerName: gc.spec.controllerName, version: ctx.implementationVersion ?? 'unknown', publishedFeatures: [...featureNames(gc)].sort() },
    featuresUsed: FEATURES_USED,
    xtrinodeGateway: { version: '0.1.0' },
    backendProvider: ctx.backends.name,
    summary: { passed: count('Passed'), failed: count('Failed'), skipped: count('Skipped') },
    cases,
  };
}

export const CASE_NAMES = CASES.map((c) => c.name);
