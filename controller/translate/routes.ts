/**
 * The HTTPRoutes of the product: which rule sends which request where. Pure.
 *
 * Names are collision-free by construction: a group's routes are `xtrinode-<group>` or
 * `xtrinode-<group>.<suffix>`, and a group name (a DNS label) has no '.', so two groups never share
 * a name, and the fallback is `xtrinode.fallback`.
 *
 * Per routing group (all routes in the gateway namespace, attached to one Gateway):
 * - `xtrinode-<group>[.N]` (the group's hostnames, 16 a route): `/xtrinode` to the router, one
 *   prefix rule per coordinator of the group, and `/` to the group's destination: its one
 *   coordinator, its coordinators by weight (each backendRef setting its own X-Forwarded-Prefix),
 *   or the router. Prefix rules that do not fit go to `xtrinode-<group>[.N].coordinators.K`.
 * - `xtrinode-<group>.any-host[.K]` (no hostname, 16 rules a route): first `/` with one Exact
 *   `X-Trino-XTrinode` match per value (64 a rule), to the router; then the prefix rule of each
 *   coordinator, for follow-ups of header and default traffic.
 * - `xtrinode.fallback` (no hostname): `/` to the router (default route, unknown selectors).
 *
 * A prefix rule is `PathPrefix /xtrinode/c/<namespace>/<name>` to that coordinator's Service,
 * with `URLRewrite ReplacePrefixMatch /` and `X-Forwarded-Prefix` set to the prefix, so Trino
 * writes the prefix into every nextUri, partialCancelUri, infoUri and spooled segment URI it
 * returns: every follow-up of a query reaches its coordinator by URL, through the Gateway alone.
 *
 * Precedence by construction. Gateway API ranks the hostname first; Traefik ranks a header
 * match (+100) above a hostname (+its length). Hostname-less rules here only ever lead to the
 * router (header rules, rules routes and the fallback) or to the coordinator a path names (prefix
 * rules); so whichever route an implementation picks for a request that carries both a hostname and a
 * selector header, the request ends at the same coordinator: the hostname route's destination
 * directly, or the router, which resolves hostname first. A prefix path names its coordinator
 * whatever the Host: a longer prefix outranks `/xtrinode` in every implementation, and where a
 * hostname route's `/xtrinode` rule wins instead, the router forwards by the same prefix.
 * `routes.test.ts` replays requests through both orderings.
 */
import { RULE_HEADERS, SELECTOR_HEADER } from '../api/xtrinode.ts';
import type { RouteBackend, RouteGroup, RouteRule } from '../../routetable/schema.ts';
import type { GatewaySettings } from './settings.ts';
import type { IHTTPRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute';
import type { IReferenceGrant } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1beta1/ReferenceGrant';

export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'xtrinode-gateway';
export const LABEL_GROUP = 'analytics.xtrinode.io/routing-group';
export const ANNOTATION_MEMBERS = 'analytics.xtrinode.io/members';
export const ANNOTATION_PURPOSE = 'analytics.xtrinode.io/purpose';
/** On a rules route: which XTrinode rule each of its HTTPRoute rules is, by index. */
export const ANNOTATION_RULES = 'analytics.xtrinode.io/rules';
/** A group name is a DNS label (no '.'), so `xtrinode.<...>` is never a group's route. */
export const FALLBACK_ROUTE = 'xtrinode.fallback';
export const FORWARDED_PREFIX_HEADER = 'X-Forwarded-Prefix';
/** Every coordinator's follow-ups live under `<root>/<namespace>/<name>`. */
export const COORDINATOR_PREFIX_ROOT = '/xtrinode/c';

/** Gateway API limits (v1.6): exceeding one gets the object refused, so we split. */
export const MAX_HOSTNAMES_PER_ROUTE = 16;
export const MAX_RULES_PER_ROUTE = 16;
export const MAX_MATCHES_PER_RULE = 64;
export const MAX_BACKENDREFS_PER_RULE = 16;

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [k: string]: unknown;
}

/** The path prefix of one coordinator (backend id `<namespace>/<name>`); no trailing slash. */
export function coordinatorPrefix(backendId: string): string {
  return `${COORDINATOR_PREFIX_ROOT}/${backendId}`;
}

export interface GroupRoutesInput {
  group: string;
  hostnames: string[];
  headerValues: string[];
  path: RouteGroup['path'];
  backends: RouteBackend[];
  members: string[];
  /** The group's routing rules in force, in precedence order. */
  rules?: RouteRule[];
}

/** Gateway API types from @kubernetes-models/gateway-api: the compiler checks every field we generate. */
type Rule = NonNullable<IHTTPRoute['spec']['rules']>[number] & { matches: HTTPRouteMatch[]; backendRefs: HTTPBackendRef[] };
type HTTPRouteMatch = NonNullable<NonNullable<IHTTPRoute['spec']['rules']>[number]['matches']>[number];
type HTTPBackendRef = NonNullable<NonNullable<IHTTPRoute['spec']['rules']>[number]['backendRefs']>[number];
type HTTPRouteFilter = NonNullable<NonNullable<IHTTPRoute['spec']['rules']>[number]['filters']>[number];

const PATH_ALL = { type: 'PathPrefix' as const, value: '/' };
/** Where new statements are POSTed: what routing rules match. */
const PATH_STATEMENT = { type: 'Exact' as const, value: '/v1/statement' };
/** Paths the router serves itself (wait URIs of held queries) or forwards by prefix. */
const PATH_ROUTER = { type: 'PathPrefix' as const, value: '/xtrinode' };
/** Paths a client builds itself, or that need OAuth2 cookie stickiness: weighted groups send them to the router. */
const ROUTER_PLACED_PATHS = ['/v1/query', '/ui', '/oauth2'];

function setPrefixFilter(prefix: string): HTTPRouteFilter {
  return { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: FORWARDED_PREFIX_HEADER, value: prefix }] } };
}
/** Where follow-ups do not use prefixes, a client's own X-Forwarded-Prefix must not reach Trino either. */
const REMOVE_PREFIX: HTTPRouteFilter = { type: 'RequestHeaderModifier', requestHeaderModifier: { remove: [FORWARDED_PREFIX_HEADER] } };
const STRIP_PREFIX: HTTPRouteFilter = { type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/' } } };

function serviceRef(service: RouteBackend['service'], weight: number): HTTPBackendRef {
  return { group: '', kind: 'Service', name: service.name, namespace: service.namespace, port: service.port, weight };
}

function routerRef(s: GatewaySettings) {
  return serviceRef(s.router, 1);
}

function chunk<T>(xs: T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

/** The rule that sends one coordinator's prefix to it (or to the router while it cannot serve). */
function prefixRule(s: GatewaySettings, b: RouteBackend): Rule {
  const prefix = coordinatorPrefix(b.id);
  const match: HTTPRouteMatch = { path: { type: 'PathPrefix', value: prefix } };
  if (b.state !== 'Ready') return { matches: [match], backendRefs: [routerRef(s)] };
  return { matches: [match], filters: [STRIP_PREFIX, setPrefixFilter(prefix)], backendRefs: [serviceRef(b.service, 1)] };
}

/** `/` for the group: its coordinator, its coordinators by weight, or the router. */
function catchAllRule(s: GatewaySettings, path: RouteGroup['path'], backends: RouteBackend[]): Rule {
  const prefixes = s.followUps === 'prefix';
  if (path === 'coordinator') {
    const b = backends[0]!;
    return { matches: [{ path: PATH_ALL }], filters: [prefixes ? setPrefixFilter(coordinatorPrefix(b.id)) : REMOVE_PREFIX], backendRefs: [serviceRef(b.service, 1)] };
  }
  if (path === 'gateway-weighted') {
    return {
      matches: [{ path: PATH_ALL }],
      backendRefs: backends.map((b) => ({ ...serviceRef(b.service, b.weight), filters: [setPrefixFilter(coordinatorPrefix(b.id))] })),
    };
  }
  return { matches: [{ path: PATH_ALL }], backendRefs: [routerRef(s)] };
}

function purposeOf(path: RouteGroup['path'], backends: RouteBackend[]): string {
  if (path === 'coordinator') return `straight to the coordinator of ${backends[0]!.id}`;
  if (path === 'gateway-weighted') return `new statements weighted across ${backends.length} coordinators by the Gateway, each setting its own ${FORWARDED_PREFIX_HEADER}; follow-ups by prefix`;
  const states = backends.filter((b) => b.state !== 'Ready').map((b) => `${b.id} is ${b.state}`);
  if (backends.some((b) => b.maxQueries !== undefined)) return `new statements through the router, which places them within each coordinator's capacity.maxQueries and queues the rest${states.length > 0 ? ` (${states.join(', ')})` : ''}`;
  if (states.length > 0) return `new statements through the router: ${states.join(', ')}`;
  return `new statements through the router, which chooses among ${backends.length} coordinators`;
}

export function groupRoutes(s: GatewaySettings, g: GroupRoutesInput): K8sObject[] {
  const out: K8sObject[] = [];
  const meta = (name: string, what: string) => ({
    name,
    namespace: s.gatewayNamespace,
    labels: { [LABEL_MANAGED_BY]: MANAGED_BY, [LABEL_GROUP]: g.group },
    annotations: { [ANNOTATION_MEMBERS]: g.members.join(','), [ANNOTATION_PURPOSE]: `${what} for routing group ${g.group}, ${purposeOf(g.path, g.backends)}` },
  });
  const route = (name: string, what: string, rules: Rule[], hostnames?: string[]): K8sObject & IHTTPRoute => ({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: meta(name, what),
    spec: { parentRefs: parentRefs(s), ...(hostnames ? { hostnames } : {}), rules },
  });
  const prefixRules = s.followUps === 'prefix' ? g.backends.map((b) => prefixRule(s, b)) : [];

  chunk(g.hostnames, MAX_HOSTNAMES_PER_ROUTE).forEach((hs, i) => {
    const name = i === 0 ? `xtrinode-${g.group}` : `xtrinode-${g.group}.${i + 1}`;
    const head: Rule[] = [{ matches: [{ path: PATH_ROUTER }], backendRefs: [routerRef(s)] }];
    if (g.path === 'gateway-weighted') {
      for (const p of ROUTER_PLACED_PATHS) head.push({ matches: [{ path: { type: 'PathPrefix', value: p } }], backendRefs: [routerRef(s)] });
    }
    const tail = catchAllRule(s, g.path, g.backends);
    const room = MAX_RULES_PER_ROUTE - head.length - 1;
    // The catch-all first: its index (and so the name an Envoy data plane gives its cluster,
    // `httproute/<ns>/<name>/rule/<index>`) stays the same when members join or leave or the group
    // moves between the router and gateway weights; a renamed cluster is briefly unknown to Envoy
    // (503 NC, envoyproxy/gateway#9029). Order decides nothing else here: no two rules of a route
    // have the same match, and every implementation ranks a longer prefix first.
    out.push(route(name, 'hostname routing', [tail, ...head, ...prefixRules.slice(0, room)], hs));
    chunk(prefixRules.slice(room), MAX_RULES_PER_ROUTE).forEach((rules, k) => {
      out.push(route(`${name}.coordinators.${k + 2}`, 'coordinator prefixes on the hostnames', rules, hs));
    });
  });
  // Hostname-less rules share routes: the selector header's (to the router) first, so a member
  // joining or leaving never renumbers them, then each coordinator's prefix (follow-ups of header
  // and default traffic). One route where there were two halves the API writes and the objects the
  // Gateway and the controller hold (1,000 XTrinodes: 2,433 HTTPRoutes -> 1,633).
  const headerRules = chunk(g.headerValues, MAX_MATCHES_PER_RULE).map((vs): Rule => ({
    matches: vs.map((v): HTTPRouteMatch => ({ path: PATH_ALL, headers: [{ type: 'Exact', name: SELECTOR_HEADER, value: v }] })),
    backendRefs: [routerRef(s)],
  }));
  const what = [
    ...(headerRules.length > 0 ? [`${SELECTOR_HEADER} header routing (the router places new statements; a hostname always outranks a header)`] : []),
    ...(prefixRules.length > 0 ? ['coordinator prefixes (follow-ups of header and default traffic)'] : []),
  ].join('; ');
  chunk([...headerRules, ...prefixRules], MAX_RULES_PER_ROUTE).forEach((rules, k) => {
    out.push(route(k === 0 ? `xtrinode-${g.group}.any-host` : `xtrinode-${g.group}.any-host.${k + 1}`, what, rules));
  });
  chunk((g.rules ?? []).flatMap((r) => ruleRule(s, r)), MAX_RULES_PER_ROUTE).forEach((rs, i) => {
    const name = i === 0 ? `xtrinode-${g.group}.rules` : `xtrinode-${g.group}.rules.${i + 1}`;
    const r = route(name, 'routing rules (new statements no hostname or selector header claims; the router places them and applies the precedence of the rules)', rs.map((x) => x.rule));
    r.metadata.annotations![ANNOTATION_RULES] = rs.map((x, k) => `${k + 1}: ${x.of.xtrinode} ${x.of.name} (${describeRule(x.of)})`).join('\n');
    out.push(r);
  });
  return out;
}

/** `source=airflow, clientTags=etl+nightly`: a rule's conditions, for status and annotations. */
export function describeRule(r: { source?: string; user?: string; catalog?: string; clientTags?: readonly string[] }): string {
  const parts: string[] = [];
  if (r.source !== undefined) parts.push(`source=${r.source}`);
  if (r.user !== undefined) parts.push(`user=${r.user}`);
  if (r.catalog !== undefined) parts.push(`catalog=${r.catalog}`);
  if (r.clientTags !== undefined) parts.push(`clientTags=${r.clientTags.join('+')}`);
  return parts.join(', ');
}

/** Regex metacharacters a client tag may contain (CLIENT_TAG allows '.', '+' and no others). */
function escapeRegex(t: string): string {
  return t.replace(/[.+]/g, (c) => `\\${c}`);
}

/**
 * One RE2 pattern (also valid JavaScript) per order of the tags: the comma-separated list holds
 * every tag, in that order, anything between, blanks around each tag. A header match is a single
 * pattern and RE2 has no lookahead, so "all of them, any order" is one match per permutation (at
 * most 4! = 24, under the 64 matches of an HTTPRoute rule). Anchored: Traefik's HeaderRegexp
 * searches, Envoy's safe_regex matches the whole value.
 */
export function clientTagPatterns(tags: readonly string[]): string[] {
  const orders: string[][] = [];
  const permute = (rest: readonly string[], acc: string[]) => {
    if (rest.length === 0) orders.push(acc);
    rest.forEach((t, i) => permute([...rest.slice(0, i), ...rest.slice(i + 1)], [...acc, t]));
  };
  permute(tags, []);
  return orders.map((o) => `^(?:.*,)?[ \\t]*${o.map(escapeRegex).join('[ \\t]*,(?:.*,)?[ \\t]*')}[ \\t]*(?:,.*)?$`);
}

/**
 * The HTTPRoute rule of one routing rule: new statements (`/v1/statement` exactly) carrying its
 * headers, to the router. Every match leads to the router, which resolves hostname, selector and
 * rule precedence itself, so a match that is wider than the rule (tags left out under
 * `clientTagMatches: none`) never misroutes; a rule that would have no header left gets none.
 */
function ruleRule(s: GatewaySettings, r: RouteRule): Array<{ rule: Rule; of: RouteRule }> {
  type Header = NonNullable<HTTPRouteMatch['headers']>[number];
  const exact: Header[] = [];
  if (r.source !== undefined) exact.push({ type: 'Exact', name: RULE_HEADERS.source, value: r.source });
  if (r.user !== undefined) exact.push({ type: 'Exact', name: RULE_HEADERS.user, value: r.user });
  if (r.catalog !== undefined) exact.push({ type: 'Exact', name: RULE_HEADERS.catalog, value: r.catalog });
  const tagPatterns = r.clientTags && s.clientTagMatches !== 'none' ? clientTagPatterns(r.clientTags) : [];
  const headerSets: Header[][] = tagPatterns.length > 0
    ? tagPatterns.map((p) => [...exact, { type: 'RegularExpression', name: RULE_HEADERS.clientTags, value: p }])
    : exact.length > 0 ? [exact] : [];
  if (headerSets.length === 0) return [];
  return [{ rule: { matches: headerSets.map((headers) => ({ path: PATH_STATEMENT, headers })), backendRefs: [routerRef(s)] }, of: r }];
}

export function fallbackRoute(s: GatewaySettings): K8sObject & IHTTPRoute {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: {
      name: FALLBACK_ROUTE,
      namespace: s.gatewayNamespace,
      labels: { [LABEL_MANAGED_BY]: MANAGED_BY },
      annotations: {
        [ANNOTATION_PURPOSE]: `everything no hostname, prefix or ${SELECTOR_HEADER} route matched goes to the router: the default route, unknown selectors (explicit error), URLs clients build without their selector`,
      },
    },
    spec: { parentRefs: parentRefs(s), rules: [{ matches: [{ path: PATH_ALL }], backendRefs: [routerRef(s)] }] },
  };
}

/** Which Services each live ReferenceGrant of a namespace names (grant name -> Service names). */
export type GrantAssignment = ReadonlyMap<string, readonly string[]>;

const GRANT_SIZE = 16; // spec.to holds at most 16 entries
const grantName = (i: number) => (i === 0 ? 'xtrinode-gateway' : `xtrinode-gateway-${i + 1}`);

/**
 * The ReferenceGrants of one namespace: one per 16 Services, each naming its Services. The
 * assignment is stable: a Service named by a live grant stays in that grant as long as it is
 * needed (`live`, from the cluster), and a new Service takes a free place in the first grant that
 * has one, else a new grant. So no Service ever moves between grants, and no route can point at a
 * Service that a narrowed grant dropped while a widened one has not named it yet.
 */
export function referenceGrants(s: GatewaySettings, namespace: string, services: string[], live?: GrantAssignment): Array<K8sObject & IReferenceGrant> {
  const wanted = new Set(services);
  const placed = new Set<string>();
  const byIndex = new Map<number, string[]>();
  // A place frees only once the live grant no longer names its old Service: while the controller
  // still widens a grant with the Services being let go (controller.ts widened), those and the
  // kept and new ones together must fit in one grant.
  const lingering = new Map<number, number>();
  for (const [name, names] of live ?? []) {
    const m = /^xtrinode-gateway(?:-(\d+))?$/.exec(name);
    const i = m ? (m[1] === undefined ? 0 : Number(m[1]) - 1) : -1;
    if (i < 0 || grantName(i) !== name) continue; // not one of ours by name: ignored, and deleted as stale
    const kept = names.filter((n) => wanted.has(n) && !placed.has(n)).slice(0, GRANT_SIZE);
    kept.forEach((n) => placed.add(n));
    if (kept.length > 0) byIndex.set(i, kept);
    lingering.set(i, names.length - kept.length);
  }
  const occupied = (i: number) => (byIndex.get(i)?.length ?? 0) + (lingering.get(i) ?? 0);
  for (const n of services) {
    if (placed.has(n)) continue;
    let i = 0;
    while (occupied(i) >= GRANT_SIZE) i++;
    byIndex.set(i, [...(byIndex.get(i) ?? []), n]);
    placed.add(n);
  }
  return [...byIndex.entries()].sort((a, b) => a[0] - b[0]).map(([i, names]) => ({
    apiVersion: 'gateway.networking.k8s.io/v1beta1',
    kind: 'ReferenceGrant',
    metadata: {
      name: grantName(i),
      namespace,
      labels: { [LABEL_MANAGED_BY]: MANAGED_BY },
      annotations: { [ANNOTATION_PURPOSE]: `lets HTTPRoutes in ${s.gatewayNamespace} send Trino traffic to these Services` },
    },
    spec: {
      from: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: s.gatewayNamespace }],
      to: [...names].sort().map((name) => ({ group: '', kind: 'Service', name })),
    },
  }));
}

function parentRefs(s: GatewaySettings): NonNullable<IHTTPRoute['spec']['parentRefs']> {
  return [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', namespace: s.gateway.namespace, name: s.gateway.name, ...(s.gateway.sectionName ? { sectionName: s.gateway.sectionName } : {}) }];
}
