/**
 * The routing semantics of the product, in one pure function:
 * (XTrinodes, Services, gateway settings) -> (HTTPRoutes, ReferenceGrants, route table, status).
 *
 * The layout of the HTTPRoutes, and why it holds on every Gateway implementation, is in
 * `routes.ts`.
 *
 * @example
 * const out = translate({ xtrinodes, services, settings: DEFAULT_SETTINGS });
 * out.objects   // HTTPRoutes, ReferenceGrants, ConfigMap, sorted
 * out.statuses  // per XTrinode key: status with conditions
 */
import { checkGroupOwnership } from './group-ownership.ts';
import { ConditionType, Reason, SELECTOR_HEADER, type Condition, type XTrinode, type XTrinodeStatus } from '../api/xtrinode.ts';
import {
  ROUTE_TABLE_CONFIGMAP,
  ROUTE_TABLE_VERSION,
  routeTableContent,
  type RouteBackend,
  type RouteGroup,
  type RouteRule,
  type RouteTable,
} from '../../routetable/schema.ts';
import { compareAge, readRuntime, type FieldProblem, type Runtime, type RuntimeRule } from './runtime.ts';
import { ruleConditions } from '../../router/routing-rules.ts';
import type { GatewaySettings } from './settings.ts';
import type { IHTTPRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute';
import {
  ANNOTATION_PURPOSE,
  COORDINATOR_PREFIX_ROOT,
  FALLBACK_ROUTE,
  LABEL_MANAGED_BY,
  MANAGED_BY,
  MAX_BACKENDREFS_PER_RULE,
  coordinatorPrefix,
  describeRule,
  fallbackRoute,
  groupRoutes,
  referenceGrants,
  type GrantAssignment,
  type K8sObject,
} from './routes.ts';

export { ANNOTATION_MEMBERS, ANNOTATION_PURPOSE, FALLBACK_ROUTE, LABEL_GROUP, LABEL_MANAGED_BY, MANAGED_BY, MAX_HOSTNAMES_PER_ROUTE, MAX_MATCHES_PER_RULE, MAX_BACKENDREFS_PER_RULE, type K8sObject } from './routes.ts';

export interface ServiceInfo {
  metadata: { name: string; namespace?: string };
  spec?: { ports?: Array<{ port: number; name?: string }> };
}

export interface TranslateInput {
  xtrinodes: XTrinode[];
  /** Coordinator Services. `undefined`: not checked (offline render), every Service is assumed. */
  services?: ServiceInfo[];
  /** Runtimes (`ns/name`) whose coordinator is known not to be ready; they go through the router. */
  notReady?: ReadonlySet<string>;
  /** The live ReferenceGrants by namespace, so a Service keeps its grant (routes.ts referenceGrants). */
  grants?: ReadonlyMap<string, GrantAssignment>;
  settings: GatewaySettings;
}

export interface RuntimeReport {
  key: string;
  status: XTrinodeStatus;
  problems: FieldProblem[];
}

export interface TranslateOutput {
  objects: K8sObject[];
  table: RouteTable;
  /** Keyed by `<namespace>/<name>`, in key order. */
  statuses: Map<string, RuntimeReport>;
}

interface Loss {
  reason: string;
  message: string;
}

interface GroupBuild {
  name: string;
  members: Runtime[];
  hostnames: string[];
  headerValues: string[];
  default: boolean;
}

export function translate(input: TranslateInput): TranslateOutput {
  const { settings } = input;
  const statuses = new Map<string, RuntimeReport>();
  const runtimes: Runtime[] = [];

  for (const xt of input.xtrinodes) {
    const key = `${xt.metadata?.namespace ?? ''}/${xt.metadata?.name ?? ''}`;
    const r = readRuntime(xt);
    if (!r.ok) {
      const msg = r.problems.map((p) => `${p.field} ${p.message}`).join('; ');
      statuses.set(key, {
        key,
        problems: r.problems,
        status: {
          observedGeneration: xt.metadata?.generation,
          conditions: [
            cond(ConditionType.Accepted, 'False', Reason.InvalidSpec, `Not routed: ${msg}. Fix the spec; other runtimes are not affected.`, xt.metadata?.generation),
          ],
        },
      });
      continue;
    }
    if (statuses.has(r.runtime.key)) continue; // the same object given twice: first one wins
    runtimes.push(r.runtime);
    statuses.set(r.runtime.key, { key: r.runtime.key, problems: [], status: {} });
  }
  runtimes.sort(compareAge);

  // Group ownership first (group-ownership.ts): a member another namespace's group did not accept
  // is not routed at all, so none of its selectors or traffic reach that group.
  const ownership = checkGroupOwnership(runtimes);
  for (const { runtime: rt, message } of ownership.refused) {
    statuses.set(rt.key, {
      key: rt.key,
      problems: [],
      status: { observedGeneration: rt.generation, routingGroup: rt.group, conditions: [cond(ConditionType.Accepted, 'False', Reason.GroupOwnedElsewhere, message, rt.generation)] },
    });
  }
  runtimes.splice(0, runtimes.length, ...ownership.accepted);

  // Claims, oldest first: a hostname, header value or the default belongs to the group of the
  // oldest runtime that asks for it; younger runtimes of other groups lose that selector only.
  const groups = new Map<string, GroupBuild>();
  const hostOwner = new Map<string, Runtime>();
  const headerOwner = new Map<string, Runtime>();
  let defaultOwner: Runtime | undefined;
  const losses = new Map<string, Loss[]>();
  const lose = (rt: Runtime, l: Loss) => {
    const list = losses.get(rt.key) ?? [];
    list.push(l);
    losses.set(rt.key, list);
  };
  const effective = new Map<string, Effective>();

  for (const rt of runtimes) {
    let g = groups.get(rt.group);
    if (!g) {
      g = { name: rt.group, members: [], hostnames: [], headerValues: [], default: false };
      groups.set(rt.group, g);
    }
    g.members.push(rt);
    const eff: Effective = { hostnames: [], default: false, rules: [] };
    for (const h of rt.hostnames) {
      const owner = hostOwner.get(h);
      if (owner && owner.group !== rt.group) {
        lose(rt, { reason: Reason.HostnameConflict, message: `hostname ${h} is already routed to group ${owner.group} by the older XTrinode ${owner.key}` });
        continue;
      }
      if (!owner) {
        hostOwner.set(h, rt);
        g.hostnames.push(h);
      }
      eff.hostnames.push(h);
    }
    if (rt.headerValue !== undefined) {
      const owner = headerOwner.get(rt.headerValue);
      if (owner && owner.group !== rt.group) {
        lose(rt, { reason: Reason.HeaderConflict, message: `${SELECTOR_HEADER}=${rt.headerValue} is already routed to group ${owner.group} by the older XTrinode ${owner.key}` });
      } else {
        if (!owner) {
          headerOwner.set(rt.headerValue, rt);
          g.headerValues.push(rt.headerValue);
        }
        eff.headerValue = rt.headerValue;
      }
    }
    if (rt.default) {
      if (defaultOwner && defaultOwner.group !== rt.group) {
        lose(rt, { reason: Reason.DefaultConflict, message: `the default route already goes to group ${defaultOwner.group} of the older XTrinode ${defaultOwner.key}` });
      } else {
        defaultOwner ??= rt;
        g.default = true;
        eff.default = true;
      }
    }
    effective.set(rt.key, eff);
  }

  const tableRules = claimRules(runtimes, defaultOwner, settings, effective, lose);

  // Backends: each runtime's coordinator Service, checked when Services were given.
  const serviceIndex = input.services ? indexServices(input.services) : undefined;
  const backendOf = new Map<string, { backend: RouteBackend; refCondition: Condition }>();
  for (const rt of runtimes) {
    let state: RouteBackend['state'] = 'Ready';
    let refCondition: Condition;
    const svcName = `${rt.service.namespace}/${rt.service.name}`;
    if (!serviceIndex) {
      refCondition = cond(ConditionType.ResolvedRefs, 'Unknown', Reason.ServiceNotChecked, `Service ${svcName} port ${rt.service.port} was not checked (offline render); ${followUpsNote(settings, rt.key)}`, rt.generation);
    } else {
      const ports = serviceIndex.get(svcName);
      if (!ports) {
        state = 'Unresolved';
        refCondition = cond(ConditionType.ResolvedRefs, 'False', Reason.ServiceNotFound, `coordinator Service ${svcName} does not exist; create it or set spec.coordinator.service.name. Requests for this runtime get an explicit error from the router.`, rt.generation);
      } else if (!ports.includes(rt.service.port)) {
        state = 'Unresolved';
        refCondition = cond(ConditionType.ResolvedRefs, 'False', Reason.PortNotFound, `coordinator Service ${svcName} has no port ${rt.service.port} (it has ${ports.join(', ') || 'none'}); set spec.coordinator.service.port`, rt.generation);
      } else {
        refCondition = cond(ConditionType.ResolvedRefs, 'True', Reason.ResolvedRefs, `coordinator Service ${svcName} port ${rt.service.port}; ${followUpsNote(settings, rt.key)}`, rt.generation);
      }
    }
    if (state === 'Ready' && rt.suspend) state = 'Suspended';
    if (state === 'Ready' && input.notReady?.has(rt.key)) state = 'NotReady';
    backendOf.set(rt.key, {
      backend: { id: rt.key, service: { ...rt.service }, weight: rt.weight, state, ...(settings.followUps === 'prefix' ? { prefix: coordinatorPrefix(rt.key) } : {}), ...(rt.maxQueries !== undefined ? { maxQueries: rt.maxQueries } : {}), ...(rt.draining ? { draining: true as const } : {}) },
      refCondition,
    });
  }

  // Route table and HTTPRoutes, group by group in name order.
  const tableGroups: RouteGroup[] = [];
  const objects: K8sObject[] = [];
  const grants = new Map<string, Set<string>>(); // backend namespace -> Service names
  const routesOfGroup = new Map<string, K8sObject[]>();
  const sharedNote = new Map<string, string>(); // group -> how its new statements are placed (shared groups)
  for (const g of [...groups.values()].sort((a, b) => cmp(a.name, b.name))) {
    const backends = g.members.map((m) => backendOf.get(m.key)!.backend).sort((a, b) => cmp(a.id, b.id));
    const ready = backends.filter((b) => b.state === 'Ready');
    // A group with query limits places every new statement through the router, which counts
    // them and queues what no member has room for (README: Capacity).
    const limits = backends.some((b) => b.maxQueries !== undefined);
    let path: RouteGroup['path'] = 'router';
    if (limits) path = 'router';
    else if (backends.length === 1 && ready.length === 1 && !backends[0]!.draining) path = 'coordinator';
    else if (
      settings.sharedGroupPath === 'gateway-weighted' &&
      settings.followUps === 'prefix' &&
      !g.members.some((m) => m.oauth2) &&
      ready.length === backends.length &&
      backends.length <= MAX_BACKENDREFS_PER_RULE &&
      backends.some((b) => b.weight > 0)
    ) path = 'gateway-weighted';
    const hostnames = [...g.hostnames].sort();
    const headerValues = [...g.headerValues].sort();
    tableGroups.push({ name: g.name, hostnames, headerValues, default: g.default, path, backends });
    if (limits) {
      sharedNote.set(g.name, `; new statements placed by the router within each member's capacity.maxQueries, queued by the router when every member is full`);
    } else if (backends.length > 1) {
      sharedNote.set(g.name, path === 'gateway-weighted'
        ? `; new statements weighted by the Gateway${settings.sharedGroupReason ? ` (${settings.sharedGroupReason})` : ''}`
        : `; new statements placed by the router${settings.sharedGroupPath === 'router' && settings.sharedGroupReason ? ` (${settings.sharedGroupReason})` : ''}`);
    }

    const members = g.members.map((m) => m.key).sort();
    const routes = groupRoutes(settings, { group: g.name, hostnames, headerValues, path, backends, members, rules: tableRules.filter((r) => r.group === g.name) });
    objects.push(...routes);
    routesOfGroup.set(g.name, routes);
    // Every coordinator Service a route may point at, whatever its state now: a grant is never
    // narrowed while a suspend or resume moves routes between the router and the coordinator.
    for (const b of backends) {
      if (b.state === 'Unresolved' || b.service.namespace === settings.gatewayNamespace) continue;
      const set = grants.get(b.service.namespace) ?? new Set<string>();
      set.add(b.service.name);
      grants.set(b.service.namespace, set);
    }
  }
  objects.push(fallbackRoute(settings));
  if (settings.router.namespace !== settings.gatewayNamespace) {
    const set = grants.get(settings.router.namespace) ?? new Set<string>();
    set.add(settings.router.name);
    grants.set(settings.router.namespace, set);
  }
  for (const [ns, names] of [...grants.entries()].sort((a, b) => cmp(a[0], b[0]))) {
    objects.push(...referenceGrants(settings, ns, [...names].sort(), input.grants?.get(ns)));
  }

  const table: RouteTable = {
    version: ROUTE_TABLE_VERSION,
    groups: tableGroups,
    ...(tableRules.length > 0 ? { rules: tableRules } : {}),
    ...(settings.routingGroupHeader === false ? { routingGroupHeader: false } : {}),
  };
  objects.push({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: ROUTE_TABLE_CONFIGMAP,
      namespace: settings.gatewayNamespace,
      labels: { [LABEL_MANAGED_BY]: MANAGED_BY },
      annotations: { [ANNOTATION_PURPOSE]: 'route table read by the xtrinode router; generated, do not edit' },
    },
    ...routeTableContent(table),
  });

  // Status for every valid runtime.
  for (const rt of runtimes) {
    const eff = effective.get(rt.key)!;
    const lost = losses.get(rt.key) ?? [];
    const { backend, refCondition } = backendOf.get(rt.key)!;
    const conditions: Condition[] = [];
    if (lost.length === 0) {
      const selectors = describeSelectors(eff);
      conditions.push(cond(ConditionType.Accepted, 'True', Reason.Accepted,
        `${selectors ? `routing group ${rt.group}: ${selectors}` : `routing group ${rt.group} has no hostname, header, rule or default selector; set spec.routing to reach it`}${sharedNote.get(rt.group) ?? ''}`, rt.generation));
    } else {
      conditions.push(cond(ConditionType.Accepted, 'False', lost[0]!.reason,
        `${lost.map((l) => l.message).join('; ')}. ${describeSelectors(eff) ? `Still routed: ${describeSelectors(eff)}.` : 'No other selector routes to this runtime.'}`, rt.generation));
    }
    conditions.push(refCondition);
    const routes = routesOfMember(routesOfGroup.get(rt.group) ?? [], backend.id);
    const status: XTrinodeStatus = {
      observedGeneration: rt.generation,
      routingGroup: rt.group,
      ...(eff.hostnames[0] !== undefined ? { hostname: eff.hostnames[0], hostnames: eff.hostnames } : {}),
      ...(eff.headerValue !== undefined ? { headerSelector: eff.headerValue } : {}),
      default: eff.default,
      ...(eff.rules.length > 0 ? { rules: eff.rules } : {}),
      routes: routes.length > 0 ? [...routes, FALLBACK_ROUTE] : [FALLBACK_ROUTE],
      conditions,
    };
    if (backend.state === 'Suspended' && rt.suspend) status.phase = 'Suspended';
    statuses.set(rt.key, { key: rt.key, problems: [], status });
  }

  objects.sort(objectOrder);
  const sortedStatuses = new Map([...statuses.entries()].sort((a, b) => cmp(a[0], b[0])));
  return { objects, table, statuses: sortedStatuses };
}

/**
 * The routes that carry a member's traffic: those with a rule for the whole group (hostnames,
 * selector header, `/xtrinode`, routing rules) and those with its own coordinator prefix, not the
 * routes that hold only other members' prefixes. Its status then names what its Programmed
 * depends on, and stays as it is while the group grows (a new prefix route every 16 members
 * would otherwise rewrite every member's status).
 */
function routesOfMember(routes: K8sObject[], backendId: string): string[] {
  const own = coordinatorPrefix(backendId);
  const forMember = (path: string | undefined) => path === undefined || !path.startsWith(`${COORDINATOR_PREFIX_ROOT}/`) || path === own;
  return routes
    .filter((r) => ((r as { spec?: IHTTPRoute['spec'] }).spec?.rules ?? []).some((rule) => (rule.matches ?? [{}]).some((m) => forMember(m.path?.value))))
    .map((r) => r.metadata.name);
}

/** Says how this coordinator's follow-ups are routed (the status is where a user looks). */
function followUpsNote(s: GatewaySettings, key: string): string {
  return s.followUps === 'prefix'
    ? `follow-ups by URL under ${coordinatorPrefix(key)} (the coordinator needs http-server.process-forwarded=true, Trino 452 or later)`
    : 'follow-ups through the router (--follow-ups router)';
}

interface Effective {
  hostnames: string[];
  headerValue?: string;
  default: boolean;
  /** Names of its rules in force. */
  rules: string[];
}

/**
 * The routing rules in force, in precedence order (more conditions first, then the oldest
 * XTrinode, then spec order). A namespace's rules count only with consent: the controller's
 * `acceptRulesFrom`, or the default route's owner (its namespace, and the namespaces its group's
 * members in that namespace list in `spec.routing.acceptRulesFrom`). An identical rule (same
 * conditions) of a younger XTrinode of another group loses with RuleConflict.
 */
function claimRules(runtimes: Runtime[], defaultOwner: Runtime | undefined, settings: GatewaySettings, effective: Map<string, Effective>, lose: (rt: Runtime, l: Loss) => void): RouteRule[] {
  const allowed = new Set(settings.acceptRulesFrom ?? []);
  if (defaultOwner) {
    allowed.add(defaultOwner.namespace);
    for (const m of runtimes) {
      if (m.group === defaultOwner.group && m.namespace === defaultOwner.namespace) for (const ns of m.acceptRulesFrom) allowed.add(ns);
    }
  }
  const owners = new Map<string, { rt: Runtime; rule: RuntimeRule }>();
  const claims: Array<{ rt: Runtime; rule: RuntimeRule; order: number }> = [];
  for (const rt of runtimes) {
    if (rt.rules.length === 0) continue;
    if (!allowed.has('*') && !allowed.has(rt.namespace)) {
      const why = defaultOwner
        ? `the XTrinode ${defaultOwner.key}, which holds the default route, does not list namespace ${rt.namespace} in spec.routing.acceptRulesFrom`
        : 'no XTrinode holds the default route to consent';
      lose(rt, { reason: Reason.RuleNotPermitted, message: `its routing rules are not in force: ${why}, and the controller's ACCEPT_RULES_FROM does not name it (rules take traffic of the shared entry point, so its owner decides)` });
      continue;
    }
    const eff = effective.get(rt.key)!;
    for (const rule of rt.rules) {
      const key = JSON.stringify([rule.source ?? null, rule.user ?? null, rule.catalog ?? null, rule.clientTags ?? []]);
      const owner = owners.get(key);
      if (owner && owner.rt.group !== rt.group) {
        lose(rt, { reason: Reason.RuleConflict, message: `rule ${rule.name} (${describeRule(rule)}) is already routed to group ${owner.rt.group} by rule ${owner.rule.name} of the older XTrinode ${owner.rt.key}` });
        continue;
      }
      eff.rules.push(rule.name);
      if (!owner) {
        owners.set(key, { rt, rule });
        claims.push({ rt, rule, order: claims.length });
      }
    }
  }
  claims.sort((a, b) => ruleConditions(b.rule) - ruleConditions(a.rule) || a.order - b.order);
  return claims.map(({ rt, rule }) => ({ group: rt.group, xtrinode: rt.key, ...rule }));
}

function describeSelectors(e: Effective): string {
  const parts: string[] = [];
  if (e.hostnames.length > 0) parts.push(`hostnames ${e.hostnames.join(', ')}`);
  if (e.headerValue !== undefined) parts.push(`header ${SELECTOR_HEADER}=${e.headerValue}`);
  if (e.rules.length > 0) parts.push(`rules ${e.rules.join(', ')}`);
  if (e.default) parts.push('default route');
  return parts.join('; ');
}

function indexServices(services: ServiceInfo[]): Map<string, number[]> {
  const m = new Map<string, number[]>();
  for (const s of services) {
    m.set(`${s.metadata.namespace ?? ''}/${s.metadata.name}`, (s.spec?.ports ?? []).map((p) => p.port));
  }
  return m;
}

function cond(type: string, status: Condition['status'], reason: string, message: string, generation: number | undefined): Condition {
  const c: Condition = { type, status, reason, message };
  if (generation !== undefined) c.observedGeneration = generation;
  return c;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const KIND_ORDER: Record<string, number> = { HTTPRoute: 0, ReferenceGrant: 1, ConfigMap: 2 };
function objectOrder(a: K8sObject, b: K8sObject): number {
  return (KIND_ORDER[a.kind] ?? 9) - (KIND_ORDER[b.kind] ?? 9) || cmp(a.metadata.namespace, b.metadata.namespace) || cmp(a.metadata.name, b.metadata.name);
}
