/**
 * Precedence by construction: random XTrinode sets (with routing rules) are translated, and
 * requests with every combination of hostname, selector header (X-Trino-XTrinode,
 * X-Trino-Routing-Group), rule headers (source, user, catalog, client tags) and path are replayed
 * through the generated
 * HTTPRoutes under three orderings:
 * - Gateway API's (Istio, NGINX Gateway Fabric, Cilium): a Host that has routes of its own only
 *   sees those; then exact path, longest prefix, method, header count; ties between routes in any
 *   order.
 * - Envoy Gateway's (v1.9): the same virtual host per hostname, but a method match counts as one
 *   header match, and ties between routes go to the oldest (left open here: any of them).
 * - Traefik's (3.6, 3.7): one priority per match, path (Exact 100000, PathPrefix `/` 1, other
 *   prefixes 10000 + 100 per character) + 1000 for a method + 100 per header + the longest
 *   hostname's length + (rules - index); equal priorities in any order.
 * Wherever a request lands, after the router's own resolution (the real RouteIndex) it must end
 * where the semantics say, as `semantics()` below reads them from the route table on its own: the
 * coordinator its prefix names, else hostname > X-Trino-XTrinode > X-Trino-Routing-Group > the
 * first rule of the table that matches a new statement > default.
 */
import { translate, type K8sObject } from './translate.ts';
import { DEFAULT_SETTINGS, type GatewaySettings } from './settings.ts';
import { FORWARDED_PREFIX_HEADER, coordinatorPrefix, referenceGrants } from './routes.ts';
import { RouteIndex } from '../../router/route-index.ts';
import { ruleRequest } from '../../router/routing-rules.ts';
import { parseCoordinatorPath } from '../../router/coordinator-prefix.ts';
import type { XTrinode } from '../api/xtrinode.ts';

type Filter = { type: string; requestHeaderModifier?: { set?: Array<{ name: string; value: string }>; remove?: string[] }; urlRewrite?: unknown };
type BackendRef = { name: string; namespace: string; filters?: Filter[] };
type Match = { path: { type: string; value: string }; method?: string; headers?: Array<{ type?: string; name: string; value: string }> };
type Rule = { matches: Match[]; filters?: Filter[]; backendRefs: BackendRef[] };
type Route = K8sObject & { spec: { hostnames?: string[]; rules: Rule[] } };

interface Candidate {
  route: string;
  hostnames: string[] | undefined;
  ruleIndex: number;
  rules: number;
  match: Match;
  rule: Rule;
}

interface Request {
  host: string;
  selector: string | undefined;
  method: string;
  path: string;
  /** Other headers, lowercase names: x-trino-routing-group, x-trino-source, -user, -catalog, -client-tags. */
  headers: Record<string, string>;
}

/** A small deterministic PRNG, so a failure names a seed that reproduces it. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

function pathMatches(m: Match['path'], path: string): boolean {
  if (m.type === 'Exact') return path === m.value;
  const v = m.value.replace(/\/+$/, '');
  return v === '' || path === v || path.startsWith(`${v}/`);
}

function matches(c: Candidate, r: Request): boolean {
  if (c.hostnames && !c.hostnames.includes(r.host)) return false;
  if (!pathMatches(c.match.path, r.path)) return false;
  if (c.match.method && c.match.method !== r.method) return false;
  for (const h of c.match.headers ?? []) {
    const name = h.name.toLowerCase();
    const value = name === 'x-trino-xtrinode' ? r.selector : r.headers[name];
    if (value === undefined) return false;
    if (h.type === 'RegularExpression' ? !new RegExp(h.value).test(value) : value !== h.value) return false;
  }
  return true;
}

function pathRank(p: Match['path']): number {
  if (p.type === 'Exact') return 100000;
  return p.value === '/' ? 1 : 10000 + p.value.length * 100;
}

/** The candidates that win under Traefik's priorities (all of them, if they tie). */
function traefikWinners(cs: Candidate[]): Candidate[] {
  const prio = (c: Candidate) =>
    pathRank(c.match.path) + (c.match.method ? 1000 : 0) + 100 * (c.match.headers?.length ?? 0) +
    Math.max(0, ...(c.hostnames ?? []).map((h) => h.length)) + (c.rules - c.ruleIndex);
  const best = Math.max(...cs.map(prio));
  return cs.filter((c) => prio(c) === best);
}

/**
 * The candidates that win under Gateway API precedence with one virtual host per hostname;
 * `envoy`: Envoy Gateway's variant, where a method match counts as one more header match (and
 * ties between routes go to the oldest, which the replay leaves open: any of them).
 */
function specWinners(cs: Candidate[], host: string, envoy = false): Candidate[] {
  const own = cs.filter((c) => c.hostnames?.includes(host));
  const pool = own.length > 0 ? own : cs.filter((c) => !c.hostnames);
  const key = (c: Candidate) => envoy
    ? [c.match.path.type === 'Exact' ? 1 : 0, c.match.path.value.length, (c.match.method ? 1 : 0) + (c.match.headers?.length ?? 0)]
    : [c.match.path.type === 'Exact' ? 1 : 0, c.match.path.value.length, c.match.method ? 1 : 0, c.match.headers?.length ?? 0];
  const cmp = (a: number[], b: number[]) => { for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!; return 0; };
  const best = pool.reduce<number[] | undefined>((acc, c) => (acc === undefined || cmp(key(c), acc) > 0 ? key(c) : acc), undefined);
  if (!best) return [];
  const top = pool.filter((c) => cmp(key(c), best) === 0);
  // Within one route the first rule wins; across routes the order is the implementation's.
  const byRoute = new Map<string, Candidate>();
  for (const c of top) {
    const prev = byRoute.get(c.route);
    if (!prev || c.ruleIndex < prev.ruleIndex) byRoute.set(c.route, c);
  }
  return [...byRoute.values()];
}

const ROUTER = DEFAULT_SETTINGS.router;

/**
 * Where a request ends: coordinator ids, or what the router answers. A rule to a coordinator
 * must set X-Forwarded-Prefix to that coordinator's prefix (or remove it), whatever the client sent.
 */
function destination(rule: Rule, r: Request, index: RouteIndex, followUps: GatewaySettings['followUps'], problems: string[]): string[] {
  const refs = rule.backendRefs;
  if (refs.length === 1 && refs[0]!.name === ROUTER.name && refs[0]!.namespace === ROUTER.namespace) return routerDestination(r, index);
  const serviceOwner = new Map([...index.backends.values()].map((e) => [`${e.backend.service.namespace}/${e.backend.service.name}`, e.backend.id]));
  return refs.map((ref) => {
    const id = serviceOwner.get(`${ref.namespace}/${ref.name}`);
    if (!id) {
      problems.push(`rule sends to ${ref.namespace}/${ref.name}, which is no coordinator of the table`);
      return `service:${ref.namespace}/${ref.name}`;
    }
    const filters = [...(rule.filters ?? []), ...(ref.filters ?? [])].filter((f) => f.type === 'RequestHeaderModifier');
    const set = filters.flatMap((f) => f.requestHeaderModifier?.set ?? []).filter((h) => h.name === FORWARDED_PREFIX_HEADER).map((h) => h.value);
    const removed = filters.some((f) => f.requestHeaderModifier?.remove?.includes(FORWARDED_PREFIX_HEADER));
    if (followUps === 'prefix' && (set.length !== 1 || set[0] !== coordinatorPrefix(id))) problems.push(`a rule to ${id} sets X-Forwarded-Prefix to [${set.join(', ')}], not ${coordinatorPrefix(id)}`);
    if (followUps === 'router' && !removed) problems.push(`a rule to ${id} lets a client's X-Forwarded-Prefix through`);
    return id;
  }).sort();
}

/** What the router does with a request: its RouteIndex and prefix parsing, as in router/server.ts. */
function routerDestination(r: Request, index: RouteIndex): string[] {
  const p = parseCoordinatorPath(r.path);
  if (p) return 'malformed' in p ? ['router:malformed'] : index.backends.has(p.id) ? [p.id] : ['router:unknown-coordinator'];
  if (r.path.startsWith('/xtrinode/')) return ['router:served'];
  const newStatement = r.method === 'POST' && r.path === '/v1/statement';
  const res = index.resolve(r.host, r.selector, { routingGroup: r.headers['x-trino-routing-group'], rules: newStatement ? ruleRequest(r.headers) : undefined });
  if (res.kind !== 'group') return [`router:${res.kind}`];
  return res.group.backends.map((b) => b.id).sort();
}

/**
 * What the semantics say, read from the route table without the router's code: a prefix names its
 * coordinator; else hostname > X-Trino-XTrinode > X-Trino-Routing-Group > rules (table order,
 * new statements only) > default.
 */
function semantics(r: Request, table: RouteIndex['table']): string[] {
  const ids = (g: (typeof table.groups)[number]) => g.backends.map((b) => b.id).sort();
  const prefix = /^\/xtrinode\/c\/([^/]+)\/([^/]+)(\/|$)/.exec(r.path);
  if (prefix) {
    const id = `${prefix[1]}/${prefix[2]}`;
    return table.groups.some((g) => g.backends.some((b) => b.id === id)) ? [id] : ['router:unknown-coordinator'];
  }
  if (r.path.startsWith('/xtrinode/')) return ['router:served'];
  const byHost = table.groups.find((g) => g.hostnames.includes(r.host));
  if (byHost) return ids(byHost);
  if (r.selector !== undefined) {
    const g = table.groups.find((x) => x.headerValues.includes(r.selector!));
    return g ? ids(g) : ['router:unknown-selector'];
  }
  const rg = r.headers['x-trino-routing-group'];
  if (rg !== undefined && table.routingGroupHeader !== false) {
    const g = table.groups.find((x) => x.name === rg);
    return g ? ids(g) : ['router:unknown-selector'];
  }
  if (r.method === 'POST' && r.path === '/v1/statement') {
    const tags = (r.headers['x-trino-client-tags'] ?? '').split(',').map((t) => t.trim());
    const rule = (table.rules ?? []).find((x) =>
      (x.source === undefined || x.source === r.headers['x-trino-source']) &&
      (x.user === undefined || x.user === r.headers['x-trino-user']) &&
      (x.catalog === undefined || x.catalog === r.headers['x-trino-catalog']) &&
      (x.clientTags ?? []).every((t) => tags.includes(t)));
    if (rule) return ids(table.groups.find((g) => g.name === rule.group)!);
  }
  const def = table.groups.find((g) => g.default);
  return def ? ids(def) : ['router:no-route'];
}

const RULE_POOL: Array<Record<string, unknown>> = [
  { source: 'airflow' },
  { source: 'airflow', clientTags: ['nightly'] },
  { clientTags: ['etl', 'nightly'] },
  { clientTags: ['nightly', 'etl'] },
  { user: 'alice' },
  { user: 'alice', catalog: 'hive' },
  { catalog: 'hive' },
  { source: 'dbt', user: 'alice', clientTags: ['etl'] },
];

/** Rule headers a request may carry (the empty set always among them). */
const RULE_HEADER_POOL: Array<Record<string, string>> = [
  { 'x-trino-source': 'airflow' },
  { 'x-trino-source': 'airflow', 'x-trino-client-tags': 'etl, nightly' },
  { 'x-trino-client-tags': 'nightly,etl' },
  { 'x-trino-client-tags': ' etl , nightly ,x' },
  { 'x-trino-client-tags': 'etl' },
  { 'x-trino-user': 'alice' },
  { 'x-trino-user': 'alice', 'x-trino-catalog': 'hive', 'x-trino-source': 'dbt', 'x-trino-client-tags': 'etl' },
  { 'x-trino-catalog': 'hive', 'x-trino-source': 'airflow' },
  { 'x-trino-routing-group': 'shared' },
  { 'x-trino-routing-group': 'no-such-group', 'x-trino-source': 'airflow' },
];

function randomXTrinodes(next: () => number): XTrinode[] {
  const pick = <T,>(xs: T[]): T => xs[Math.floor(next() * xs.length)]!;
  const n = 1 + Math.floor(next() * 7);
  const out: XTrinode[] = [];
  for (let i = 0; i < n; i++) {
    const routing: Record<string, unknown> = {};
    if (next() < 0.5) routing.routingGroup = pick(['g1', 'g2', 'shared']);
    if (next() < 0.5) routing.hostnameDomain = pick(['trino.example.com', 'x.io']);
    if (next() < 0.5) routing.hostname = pick(['a.example.com', 'analytics.example.com', 'q.io']);
    if (next() < 0.6) routing.header = `X-Trino-XTrinode=${pick(['h1', 'h2', 'team/h3'])}`;
    if (next() < 0.3) routing.default = true;
    if (next() < 0.4) routing.weight = Math.floor(next() * 4);
    if (next() < 0.5) {
      const rules = RULE_POOL.filter(() => next() < 0.3);
      if (rules.length > 0) routing.rules = rules;
    }
    out.push({
      apiVersion: 'analytics.xtrinode.io/v1',
      kind: 'XTrinode',
      metadata: { namespace: pick(['prod', 'team-b']), name: `rt-${i}`, creationTimestamp: `2026-01-0${1 + Math.floor(next() * 9)}T00:00:00Z` },
      spec: { routing, ...(next() < 0.15 ? { suspend: true } : {}) },
    });
  }
  return out;
}

function requests(index: RouteIndex): Request[] {
  const hosts = [...new Set(index.table.groups.flatMap((g) => g.hostnames)), 'other.example.com'];
  const selectors = [undefined, ...new Set(index.table.groups.flatMap((g) => g.headerValues)), 'nobody'];
  const paths: Array<[string, string]> = [
    ['POST', '/v1/statement'],
    ['GET', '/v1/statement/executing/20260101_000000_00001_abcde/y1/1'],
    ['GET', '/v1/query/20260101_000000_00001_abcde'],
    ['GET', '/ui/'],
    ['GET', '/'],
    ['GET', '/favicon.ico'],
    ['GET', '/oauth2/token/abc'],
    ['GET', '/xtrinode/wait/1/xtnw.a/1'],
    ['GET', '/xtrinode/c/nowhere/nothing/v1/statement/queued/x/y/1'],
    ...[...index.backends.keys()].map((id): [string, string] => ['GET', `${coordinatorPrefix(id)}/v1/statement/executing/20260101_000000_00001_abcde/y1/2`]),
    ...[...index.backends.keys()].map((id): [string, string] => ['DELETE', coordinatorPrefix(id)]),
  ];
  const out: Request[] = [];
  for (const host of hosts) for (const selector of selectors) for (const [method, path] of paths) {
    for (const headers of [{}, ...RULE_HEADER_POOL]) out.push({ host, selector, method, path, headers });
  }
  return out;
}

function candidates(objects: K8sObject[]): Candidate[] {
  const out: Candidate[] = [];
  for (const o of objects) {
    if (o.kind !== 'HTTPRoute') continue;
    const r = o as Route;
    r.spec.rules.forEach((rule, ruleIndex) => {
      for (const match of rule.matches) out.push({ route: r.metadata.name, hostnames: r.spec.hostnames, ruleIndex, rules: r.spec.rules.length, match, rule });
    });
  }
  return out;
}

describe('route precedence holds under Gateway API, Envoy Gateway and Traefik orderings', () => {
  const settingsCases: Array<Partial<GatewaySettings>> = [
    { sharedGroupPath: 'router', followUps: 'prefix' },
    { sharedGroupPath: 'gateway-weighted', followUps: 'prefix', acceptRulesFrom: ['*'] },
    { sharedGroupPath: 'router', followUps: 'router', acceptRulesFrom: ['prod'], clientTagMatches: 'none', routingGroupHeader: false },
  ];
  for (const overrides of settingsCases) {
    test(`${JSON.stringify(overrides)}: 80 random XTrinode sets`, () => {
      const settings = { ...DEFAULT_SETTINGS, ...overrides };
      let replayed = 0;
      let ruleRoutesWon = 0;
      let placedByRule = 0;
      const problems: string[] = [];
      for (let seed = 1; seed <= 80 && problems.length < 5; seed++) {
        const out = translate({ xtrinodes: randomXTrinodes(rng(seed * 7919)), settings });
        const index = new RouteIndex(out.table);
        const cs = candidates(out.objects);
        for (const r of requests(index)) {
          const matching = cs.filter((c) => matches(c, r));
          const want = semantics(r, out.table);
          const withoutRuleHeaders = semantics({ ...r, headers: r.headers['x-trino-routing-group'] ? { 'x-trino-routing-group': r.headers['x-trino-routing-group'] } : {} }, out.table);
          if (want.join() !== withoutRuleHeaders.join()) placedByRule++;
          for (const [ordering, winners] of [['gateway-api', specWinners(matching, r.host)], ['envoy-gateway', specWinners(matching, r.host, true)], ['traefik', traefikWinners(matching)]] as const) {
            const at = `seed ${seed}, ${ordering}, ${r.method} ${r.path} Host ${r.host} selector ${r.selector ?? '-'} ${JSON.stringify(r.headers)}`;
            if (winners.length === 0) problems.push(`${at}: no rule matches`);
            for (const w of winners) {
              // Weighted backendRefs may pick any coordinator of the group; each must be one the semantics allow.
              const got = destination(w.rule, r, index, settings.followUps, problems);
              if (w.route.includes('.rules')) ruleRoutesWon++;
              const wrong = got.filter((g) => !want.includes(g));
              if (wrong.length > 0) problems.push(`${at}: route ${w.route} ends at ${wrong.join(', ')}, semantics say ${want.join(', ')}`);
              replayed++;
            }
          }
        }
      }
      expect(problems).toEqual([]);
      expect(replayed).toBeGreaterThan(10_000);
      // The rules took part: requests their headers sent elsewhere than the default, and rules routes won.
      expect(placedByRule).toBeGreaterThan(50);
      expect(ruleRoutesWon).toBeGreaterThan(500);
    });
  }

  test('a hostname route beats a header-only route even where Traefik ranks the header higher', () => {
    const xts: XTrinode[] = [
      { apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { namespace: 'p', name: 'a' }, spec: { routing: { hostname: 'a.io' } } },
      { apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { namespace: 'p', name: 'b' }, spec: { routing: { header: 'X-Trino-XTrinode=b' } } },
    ];
    const out = translate({ xtrinodes: xts, settings: DEFAULT_SETTINGS });
    const index = new RouteIndex(out.table);
    const r: Request = { host: 'a.io', selector: 'b', method: 'POST', path: '/v1/statement', headers: {} };
    const winners = traefikWinners(candidates(out.objects).filter((c) => matches(c, r)));
    // Traefik picks the header route (102 > 1 + 4 + 1): it leads to the router, which resolves the hostname first.
    expect(winners.map((w) => w.route)).toEqual(['xtrinode-p--b.any-host']);
    const problems: string[] = [];
    expect(destination(winners[0]!.rule, r, index, 'prefix', problems)).toEqual(['p/a']);
    expect(problems).toEqual([]);
  });
});

describe('ReferenceGrants over time', () => {
  test('a Service never moves between grants while it is needed; every needed Service is in exactly one grant of at most 16', () => {
    const next = ((seed) => () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31))(7);
    let live = new Map<string, string[]>(); // grant name -> Services, as the cluster has them
    let wanted = new Set<string>();
    let moves = 0;
    for (let step = 0; step < 400; step++) {
      // Services come and go, across the 16-per-grant boundary (up to 60 at once).
      const change = 1 + Math.floor(next() * 6);
      for (let k = 0; k < change; k++) {
        const name = `svc-${Math.floor(next() * 60)}`;
        if (wanted.has(name) && next() < 0.5) wanted.delete(name);
        else wanted.add(name);
      }
      const grants = referenceGrants(DEFAULT_SETTINGS, 'team', [...wanted].sort(), live);
      const now = new Map(grants.map((g) => [g.metadata.name, (g.spec!.to as Array<{ name?: string }>).map((t) => t.name!)]));
      // The rule: a Service that was in grant G and is still needed is in G now.
      for (const [grant, names] of live) for (const n of names) if (wanted.has(n) && !now.get(grant)?.includes(n)) moves++;
      const all = [...now.values()].flat();
      expect({ step, sizes: [...now.values()].filter((n) => n.length > 16 || n.length === 0).length, names: [...all].sort(), unique: new Set(all).size === all.length })
        .toEqual({ step, sizes: 0, names: [...wanted].sort(), unique: true });
      live = now;
    }
    expect(moves).toBe(0);
  });

  test('new Services fill a grant only up to 16 counting the Services it is still letting go', () => {
    const live = new Map([['xtrinode-gateway', Array.from({ length: 12 }, (_, i) => `s${String(i).padStart(2, '0')}`)]]);
    // s00 and s01 go (the live grant still names them), five new ones come: 10 + 2 lingering + 4 fit, the fifth does not.
    const wanted = [...live.get('xtrinode-gateway')!.slice(2), 'n1', 'n2', 'n3', 'n4', 'n5'].sort();
    const g = referenceGrants(DEFAULT_SETTINGS, 'team', wanted, live);
    expect(g.map((x) => [x.metadata.name, (x.spec!.to as Array<{ name?: string }>).map((t) => t.name).filter((n) => n!.startsWith('n'))])).toEqual([['xtrinode-gateway', ['n1', 'n2', 'n3', 'n4']], ['xtrinode-gateway-2', ['n5']]]);
  });

  test('a free place is reused only once the live grant no longer names the Service that had it', () => {
    const full = Array.from({ length: 16 }, (_, i) => `s${String(i).padStart(2, '0')}`);
    const live = new Map([['xtrinode-gateway', full]]);
    // s00 goes, n1 comes: while the live grant still names s00, n1 goes to a second grant.
    const g = referenceGrants(DEFAULT_SETTINGS, 'team', [...full.slice(1), 'n1'].sort(), live);
    expect(g.map((x) => [x.metadata.name, (x.spec!.to as Array<{ name?: string }>).length])).toEqual([['xtrinode-gateway', 15], ['xtrinode-gateway-2', 1]]);
  });
});
