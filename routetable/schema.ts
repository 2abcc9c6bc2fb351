/**
 * The route table: what the controller writes into the `trino-gateway-routes` ConfigMap and the
 * router reads. This file is its only schema; both sides parse with it.
 *
 * @example
 * const table = parseRouteTable(configMap.data[ROUTE_TABLE_KEY]);
 * if (!table.ok) log.error(table.error); // keep the last good table
 */
import { z } from 'zod';

export const ROUTE_TABLE_CONFIGMAP = 'trino-gateway-routes';
export const ROUTE_TABLE_KEY = 'routes.json';
export const ROUTE_TABLE_VERSION = 1;

const DnsLabel = z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/).max(63);

export const BackendSchema = z
  .object({
    /** `<namespace>/<name>` of the XTrinode: stable, never an address. */
    id: z.string().min(3),
    service: z
      .object({ namespace: DnsLabel, name: DnsLabel, port: z.number().int().min(1).max(65535) })
      .strict(),
    weight: z.number().int().min(0).max(1000000),
    /**
     * Ready: serve. Suspended: `spec.suspend` is true; a new statement waits and asks for a resume.
     * NotReady: not suspended, but its coordinator is not ready (starting, resuming, restarting):
     * a new statement waits, nothing is resumed. Unresolved: the coordinator Service is missing.
     */
    state: z.enum(['Ready', 'Suspended', 'NotReady', 'Unresolved']),
    /** X-Forwarded-Prefix the router sets on requests to this coordinator (`followUps: prefix`). */
    prefix: z.string().regex(/^\/xtrinode\/c\/[a-z0-9-]{1,63}\/[a-z0-9-]{1,63}$/).optional(),
    /** spec.capacity.maxQueries: queued + running queries the gateway gives this coordinator. */
    maxQueries: z.number().int().min(1).max(100000).optional(),
    /**
     * Its XTrinode is being deleted: it gets no new statements (its weight is 0) while its
     * coordinator's running queries finish; follow-ups still reach it by its prefix.
     */
    draining: z.literal(true).optional(),
  })
  .strict();

export const GroupSchema = z
  .object({
    name: DnsLabel,
    hostnames: z.array(z.string().min(1)),
    headerValues: z.array(z.string().min(1)),
    default: z.boolean(),
    /**
     * How the HTTPRoutes reach this group: `coordinator` (straight to its one coordinator),
     * `router` (new statements through the router), `gateway-weighted` (new statements weighted
     * by the Gateway). Follow-ups carry their coordinator's prefix in every mode (`prefix`).
     */
    path: z.enum(['coordinator', 'router', 'gateway-weighted']),
    backends: z.array(BackendSchema).min(1),
  })
  .strict();

const RuleValue = z.string().min(1).max(128);

/**
 * A routing rule in force (spec.routing.rules of an XTrinode, consented and not in conflict):
 * a new statement that no hostname claims and that carries no selector header goes to `group`
 * when every condition given holds. The table lists rules in precedence order (more conditions
 * first, then the oldest XTrinode, then spec order): the first match wins.
 */
export const RuleSchema = z
  .object({
    group: DnsLabel,
    /** `<namespace>/<name>` of the XTrinode that declares it. */
    xtrinode: z.string().min(3),
    name: z.string().min(1).max(80),
    source: RuleValue.optional(),
    user: RuleValue.optional(),
    catalog: RuleValue.optional(),
    clientTags: z.array(z.string().min(1).max(63).regex(/^[^,\s]+$/)).min(1).max(4).optional(),
  })
  .strict()
  .refine((r) => r.source !== undefined || r.user !== undefined || r.catalog !== undefined || r.clientTags !== undefined, 'a rule needs a condition');

export const RouteTableSchema = z
  .object({
    version: z.literal(ROUTE_TABLE_VERSION),
    groups: z.array(GroupSchema),
    /** In precedence order; absent: none. */
    rules: z.array(RuleSchema).optional(),
    /** Whether `X-Trino-Routing-Group: <group>` selects a group; absent: it does. */
    routingGroupHeader: z.boolean().optional(),
  })
  .strict()
  .superRefine((t, ctx) => {
    const groupNames = new Set(t.groups.map((g) => g.name));
    for (const [i, r] of (t.rules ?? []).entries()) {
      if (!groupNames.has(r.group)) ctx.addIssue({ code: 'custom', path: ['rules', i, 'group'], message: `rule ${r.name} of ${r.xtrinode} leads to group ${r.group}, which is not in the table` });
    }
    const hosts = new Map<string, string>();
    const headers = new Map<string, string>();
    const names = new Set<string>();
    let defaults = 0;
    for (const [i, g] of t.groups.entries()) {
      if (names.has(g.name)) ctx.addIssue({ code: 'custom', path: ['groups', i, 'name'], message: `duplicate group ${g.name}` });
      names.add(g.name);
      for (const h of g.hostnames) {
        const other = hosts.get(h);
        if (other !== undefined) ctx.addIssue({ code: 'custom', path: ['groups', i, 'hostnames'], message: `hostname ${h} is in groups ${other} and ${g.name}` });
        hosts.set(h, g.name);
      }
      for (const v of g.headerValues) {
        const other = headers.get(v);
        if (other !== undefined) ctx.addIssue({ code: 'custom', path: ['groups', i, 'headerValues'], message: `header value ${v} is in groups ${other} and ${g.name}` });
        headers.set(v, g.name);
      }
      if (g.default) defaults++;
    }
    if (defaults > 1) ctx.addIssue({ code: 'custom', path: ['groups'], message: `${defaults} default groups; at most one` });
  });

export type RouteTable = z.infer<typeof RouteTableSchema>;
export type RouteGroup = z.infer<typeof GroupSchema>;
export type RouteBackend = z.infer<typeof BackendSchema>;
export type RouteRule = z.infer<typeof RuleSchema>;

export type ParseResult = { ok: true; table: RouteTable } | { ok: false; error: string };

/** Parses and validates a route table document as a whole: one bad entry refuses the table. */
export function parseRouteTable(text: string | undefined): ParseResult {
  if (text === undefined) return { ok: false, error: `no ${ROUTE_TABLE_KEY} key` };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return { ok: false, error: `${ROUTE_TABLE_KEY} is not JSON: ${(e as Error).message}` };
  }
  const r = RouteTableSchema.safeParse(raw);
  if (!r.success) {
    const issues = r.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    return { ok: false, error: `route table refused: ${issues.join('; ')}` };
  }
  return { ok: true, table: r.data };
}

/**
 * The canonical serialisation: stable key order, so an unchanged table is byte-identical; compact
 * (346 bytes per runtime at 1,000 runtimes, 574 pretty-printed), so the ConfigMap's 1 MiB holds
 * about 3,000 runtimes. Read it with `kubectl get cm ... -o jsonpath='{.data.routes\.json}' | jq`.
 */
export function serializeRouteTable(t: RouteTable): string {
  return JSON.stringify(t) + '\n';
}
