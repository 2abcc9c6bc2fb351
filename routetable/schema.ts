/**
 * The route table: what the controller writes into the `trino-gateway-routes` ConfigMap and the
 * router reads. This file is its only schema; both sides parse with it.
 *
 * @example
 * const table = parseRouteTable(configMap.data[ROUTE_TABLE_KEY]);
 * if (!table.ok) log.error(table.error); // keep the last good table
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { z } from 'zod';

export const ROUTE_TABLE_CONFIGMAP = 'trino-gateway-routes';
export const ROUTE_TABLE_KEY = 'routes.json';
/** The same table gzipped, in the ConfigMap's binaryData, once the plain text would be too large. */
export const ROUTE_TABLE_GZIP_KEY = 'routes.json.gz';
/**
 * Up to this size the table is plain JSON in `data` (readable with kubectl and jq: about 1,500
 * runtimes); beyond it gzip in `binaryData` (JSON of this shape compresses about 10x).
 */
export const PLAIN_TABLE_LIMIT = 512 * 1024;
/**
 * What the table may take of the ConfigMap (base64 of the gzip): a ConfigMap is at most 1 MiB,
 * the rest is for its metadata. About 25,000 runtimes.
 */
export const TABLE_OBJECT_LIMIT = 1000 * 1024;
/** The most a gzipped table may inflate to in the router (a bound, not an expectation). */
const MAX_INFLATED_TABLE = 64 * 1024 * 1024;
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
 * (346 bytes per runtime at 1,000 runtimes, 574 pretty-printed). Read it with
 * `kubectl get cm ... -o jsonpath='{.data.routes\.json}' | jq`, or past PLAIN_TABLE_LIMIT with
 * `kubectl get cm ... -o jsonpath='{.binaryData.routes\.json\.gz}' | base64 -d | gunzip | jq`.
 */
export function serializeRouteTable(t: RouteTable): string {
  return JSON.stringify(t) + '\n';
}

/**
 * The route table ConfigMap's content: plain `routes.json` up to PLAIN_TABLE_LIMIT, gzipped
 * `routes.json.gz` beyond (deterministic: the same table gives the same bytes, so an unchanged
 * table is no write). Throws when even the gzip exceeds what a ConfigMap holds.
 */
export function routeTableContent(t: RouteTable): { data: Record<string, string> } | { binaryData: Record<string, string> } {
  const text = serializeRouteTable(t);
  if (Buffer.byteLength(text) <= PLAIN_TABLE_LIMIT) return { data: { [ROUTE_TABLE_KEY]: text } };
  const gz = gzipSync(text, { level: 9 }).toString('base64');
  if (gz.length > TABLE_OBJECT_LIMIT) {
    const runtimes = t.groups.reduce((n, g) => n + g.backends.length, 0);
    throw new Error(`the route table of ${runtimes} runtimes is ${Math.round(gz.length / 1024)} KiB gzipped (base64), more than the ${TABLE_OBJECT_LIMIT / 1024} KiB one ConfigMap holds: nothing is written until runtimes are removed`);
  }
  return { binaryData: { [ROUTE_TABLE_GZIP_KEY]: gz } };
}

/**
 * The table's text from the ConfigMap (plain or gzipped, see routeTableContent); undefined when it
 * has neither key. Throws, saying why, on both keys at once and on a gzip that is broken or
 * inflates beyond 64 MiB.
 */
export function routeTableText(cm: { data?: Record<string, string>; binaryData?: Record<string, string> }): string | undefined {
  const plain = cm.data?.[ROUTE_TABLE_KEY];
  const gz = cm.binaryData?.[ROUTE_TABLE_GZIP_KEY];
  // The controller writes one of them (server-side apply drops the other): both means someone
  // else wrote one, and either could be stale.
  if (plain !== undefined && gz !== undefined) throw new Error(`has both ${ROUTE_TABLE_KEY} and ${ROUTE_TABLE_GZIP_KEY}; the controller writes only one: remove the one it did not write (kubectl get cm -o yaml --show-managed-fields)`);
  if (plain !== undefined) return plain;
  if (gz === undefined) return undefined;
  try {
    return gunzipSync(Buffer.from(gz, 'base64'), { maxOutputLength: MAX_INFLATED_TABLE }).toString('utf8');
  } catch (e) {
    throw new Error(`${ROUTE_TABLE_GZIP_KEY} does not inflate to a table: ${(e as Error).message}`);
  }
}
