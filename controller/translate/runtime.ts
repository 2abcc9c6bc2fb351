/**
 * One XTrinode's routing, checked: the routing group it joins, the hostnames, header value and
 * default flag it asks for, and its coordinator Service. Pure; every problem names its field.
 */
import {
  SELECTOR_HEADER,
  XTrinodeSpecSchema,
  hostnameProblem,
  isDnsLabel,
  selectorValueProblem,
  type XTrinode,
} from '../api/xtrinode.ts';

export interface Runtime {
  /** `<namespace>/<name>`. */
  key: string;
  namespace: string;
  name: string;
  generation: number | undefined;
  creationTimestamp: string | undefined;
  group: string;
  hostnames: string[];
  headerValue: string | undefined;
  default: boolean;
  weight: number;
  suspend: boolean;
  /** spec.capacity.maxQueries. */
  maxQueries: number | undefined;
  /** metadata.deletionTimestamp is set: the runtime drains (no new statements, follow-ups kept). */
  draining: boolean;
  /** The coordinator uses OAuth2: its group's new statements need the router's handshake stickiness. */
  oauth2: boolean;
  /** Namespaces this runtime lets join its routing group (counts when its namespace owns the group). */
  acceptMembersFrom: string[];
  /** Its routing rules, in spec order; `name` is the spec's or `rules[<index>]`, tags sorted. */
  rules: RuntimeRule[];
  /** Namespaces whose rules are in force (counts when this runtime holds the default route). */
  acceptRulesFrom: string[];
  service: { namespace: string; name: string; port: number };
}

export interface RuntimeRule {
  name: string;
  source?: string;
  user?: string;
  catalog?: string;
  clientTags?: string[];
}

export interface FieldProblem {
  field: string;
  message: string;
}

export type RuntimeResult = { ok: true; runtime: Runtime } | { ok: false; problems: FieldProblem[] };

/** Reads and checks one XTrinode. Never throws on user input. */
export function readRuntime(xt: XTrinode): RuntimeResult {
  const problems: FieldProblem[] = [];
  const ns = xt.metadata?.namespace;
  const name = xt.metadata?.name;
  if (typeof name !== 'string' || !isDnsLabel(name)) {
    problems.push({ field: 'metadata.name', message: `"${String(name)}" is not a DNS label (lowercase, at most 63 characters)` });
  }
  if (typeof ns !== 'string' || !isDnsLabel(ns)) {
    problems.push({ field: 'metadata.namespace', message: ns === undefined ? 'is missing; XTrinode is namespaced' : `"${String(ns)}" is not a DNS label` });
  }
  const parsed = XTrinodeSpecSchema.safeParse(xt.spec ?? {});
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const path = ['spec', ...issue.path.map(String)];
      if (issue.code === 'unrecognized_keys') {
        for (const k of issue.keys) problems.push({ field: [...path, k].join('.'), message: 'is not a known field' });
      } else {
        problems.push({ field: path.join('.'), message: issue.message });
      }
    }
  }
  if (problems.length > 0 || !parsed.success) return { ok: false, problems };
  const spec = parsed.data;
  const routing = spec.routing ?? {};
  const namespace = ns as string;
  const rtName = name as string;

  const group = routing.routingGroup ?? `${namespace}--${rtName}`;
  if (!isDnsLabel(group)) {
    problems.push(
      routing.routingGroup === undefined
        ? { field: 'spec.routing.routingGroup', message: `the generated group name "${group}" is ${group.length} characters, over the DNS label limit of 63; set spec.routing.routingGroup to a shorter name` }
        : { field: 'spec.routing.routingGroup', message: `"${group}" is not a DNS label (lowercase letters, digits and '-', at most 63 characters)` },
    );
  }

  const hostnames: string[] = [];
  if (routing.hostnameDomain !== undefined) {
    const p = hostnameProblem(routing.hostnameDomain);
    if (p) problems.push({ field: 'spec.routing.hostnameDomain', message: `"${routing.hostnameDomain}" ${p}` });
    else if (isDnsLabel(group)) {
      const generated = `${group}.${routing.hostnameDomain}`;
      const gp = hostnameProblem(generated);
      if (gp) problems.push({ field: 'spec.routing.hostnameDomain', message: `the generated hostname "${generated}" ${gp}` });
      else hostnames.push(generated);
    }
  }
  if (routing.hostname !== undefined) {
    const p = hostnameProblem(routing.hostname);
    if (p) problems.push({ field: 'spec.routing.hostname', message: `"${routing.hostname}" ${p}` });
    else if (!hostnames.includes(routing.hostname)) hostnames.push(routing.hostname);
  }

  if (spec.coordinator?.service?.name === undefined && `${rtName}-coordinator`.length > 63) {
    problems.push({ field: 'spec.coordinator.service.name', message: `the conventional Service name "${rtName}-coordinator" is ${rtName.length + 12} characters, over the DNS label limit of 63; set spec.coordinator.service.name` });
  }

  let headerValue: string | undefined;
  if (routing.header !== undefined) {
    const eq = routing.header.indexOf('=');
    const hname = eq < 0 ? '' : routing.header.slice(0, eq).trim();
    const value = eq < 0 ? '' : routing.header.slice(eq + 1).trim();
    if (eq < 0 || hname.toLowerCase() !== SELECTOR_HEADER.toLowerCase()) {
      problems.push({ field: 'spec.routing.header', message: `"${routing.header}" must have the form ${SELECTOR_HEADER}=<value>` });
    } else {
      const vp = selectorValueProblem(value);
      if (vp) problems.push({ field: 'spec.routing.header', message: `"${routing.header}" ${vp}` });
      else headerValue = value;
    }
  }
  if (problems.length > 0) return { ok: false, problems };

  const generation = typeof xt.metadata.generation === 'number' ? xt.metadata.generation : undefined;
  const creationTimestamp = typeof xt.metadata.creationTimestamp === 'string' ? xt.metadata.creationTimestamp : undefined;
  return {
    ok: true,
    runtime: {
      key: `${namespace}/${rtName}`,
      namespace,
      name: rtName,
      generation,
      creationTimestamp,
      group,
      hostnames,
      headerValue,
      default: routing.default === true,
      weight: xt.metadata.deletionTimestamp ? 0 : routing.weight ?? 1,
      draining: Boolean(xt.metadata.deletionTimestamp),
      suspend: spec.suspend === true,
      oauth2: spec.coordinator?.oauth2 === true,
      maxQueries: spec.capacity?.maxQueries,
      acceptMembersFrom: routing.acceptMembersFrom ?? [],
      rules: (routing.rules ?? []).map((r, i) => ({
        name: r.name ?? `rules[${i}]`,
        ...(r.source !== undefined ? { source: r.source } : {}),
        ...(r.user !== undefined ? { user: r.user } : {}),
        ...(r.catalog !== undefined ? { catalog: r.catalog } : {}),
        ...(r.clientTags !== undefined ? { clientTags: [...r.clientTags].sort() } : {}),
      })),
      acceptRulesFrom: routing.acceptRulesFrom ?? [],
      service: {
        namespace,
        name: spec.coordinator?.service?.name ?? `${rtName}-coordinator`,
        port: spec.coordinator?.service?.port ?? 8080,
      },
    },
  };
}

/** Oldest first: creationTimestamp, then namespace/name. Objects read from files have no timestamp. */
export function compareAge(a: { creationTimestamp: string | undefined; key: string }, b: typeof a): number {
  const ta = a.creationTimestamp ? Date.parse(a.creationTimestamp) : Number.NEGATIVE_INFINITY;
  const tb = b.creationTimestamp ? Date.parse(b.creationTimestamp) : Number.NEGATIVE_INFINITY;
  if (ta !== tb) return ta < tb ? -1 : 1;
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}
