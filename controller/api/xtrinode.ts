/**
 * The XTrinode resource (analytics.xtrinode.io/v1): the fields the gateway reads.
 *
 * The CRD in manifests/crd/xtrinode.yaml carries the same rules as OpenAPI + CEL, so the API
 * server refuses what this schema refuses; this copy exists so that `xtrinode render` can check
 * files offline and so the controller never trusts an object an older CRD let through.
 */
import { z } from 'zod';

export const GROUP = 'analytics.xtrinode.io';
export const VERSION = 'v1';
export const KIND = 'XTrinode';
export const PLURAL = 'xtrinodes';
export const API_VERSION = `${GROUP}/${VERSION}`;

/** The only header name a selector may use. */
export const SELECTOR_HEADER = 'X-Trino-XTrinode';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const HOSTNAME_LABEL = DNS_LABEL;
/** Header values: what a user can type on a command line without quoting. */
const SELECTOR_VALUE = /^[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?$/;
const DURATION = /^([0-9]+(ms|s|m|h))+$/;

export function isDnsLabel(s: string): boolean {
  return s.length <= 63 && DNS_LABEL.test(s);
}

/** A fully qualified DNS hostname, lowercase, no wildcard, no trailing dot, no IP address. */
export function hostnameProblem(h: string): string | undefined {
  if (h.length === 0) return 'is empty';
  if (h.length > 253) return `is ${h.length} characters long, over the DNS limit of 253`;
  if (h.includes('*')) return 'is a wildcard; only exact hostnames are supported';
  if (h !== h.toLowerCase()) return 'must be lowercase';
  if (/^[0-9.]+$/.test(h)) return 'is an IP address; Gateway API hostnames must be DNS names';
  const labels = h.split('.');
  if (labels.length < 2) return 'must have at least two DNS labels (for example trino.example.com)';
  for (const l of labels) {
    if (l.length > 63) return `has the label "${l}" of ${l.length} characters, over the DNS limit of 63`;
    if (!HOSTNAME_LABEL.test(l)) return `has the label "${l}", which is not a lowercase RFC 1123 label`;
  }
  return undefined;
}

export function selectorValueProblem(v: string): string | undefined {
  if (v.length === 0) return 'has an empty value';
  if (v.length > 253) return 'has a value over 253 characters';
  if (!SELECTOR_VALUE.test(v)) return `has the value "${v}"; use letters, digits, '.', '_', '-' and '/'`;
  return undefined;
}

/**
 * Routing rules (spec.routing.rules): which new statements of the shared entry point (no hostname
 * claims them, no selector header) an XTrinode takes, by what Trino clients send on their own.
 */
export const RULE_HEADERS = {
  source: 'X-Trino-Source',
  user: 'X-Trino-User',
  catalog: 'X-Trino-Catalog',
  clientTags: 'X-Trino-Client-Tags',
} as const;
/** The header Trino Gateway's clients use to name a routing group (accepted as a selector). */
export const ROUTING_GROUP_HEADER = 'X-Trino-Routing-Group';
export const MAX_RULES_PER_XTRINODE = 16;
export const MAX_CLIENT_TAGS_PER_RULE = 4;
/** A source, user or catalog value: printable ASCII, no surrounding blanks (an HTTP header value as sent). */
export const RULE_VALUE = /^[!-~]([ -~]*[!-~])?$/;
/** A client tag: no ',' (the list separator) and no blanks (the CLI trims them). */
export const CLIENT_TAG = /^[A-Za-z0-9._:=/@+-]+$/;

const RuleValue = z.string().min(1).max(128).regex(RULE_VALUE, 'must be printable ASCII without leading or trailing blanks');
const Rule = z
  .object({
    name: z.string().max(63).regex(DNS_LABEL, 'must be a DNS label (lowercase letters, digits and -)').optional(),
    source: RuleValue.optional(),
    user: RuleValue.optional(),
    catalog: RuleValue.optional(),
    clientTags: z
      .array(z.string().min(1).max(63).regex(CLIENT_TAG, "must be a client tag: letters, digits and . _ : = / @ + - (no ',' or blanks)"))
      .min(1)
      .max(MAX_CLIENT_TAGS_PER_RULE)
      .refine((ts) => new Set(ts).size === ts.length, 'must not list a tag twice')
      .optional(),
  })
  .strict()
  .refine((r) => r.source !== undefined || r.user !== undefined || r.catalog !== undefined || r.clientTags !== undefined, 'a rule needs at least one of source, user, catalog, clientTags');

const ServiceRef = z
  .object({
    name: z.string().min(1).max(63).optional(),
    port: z.number().int().min(1).max(65535).optional(),
  })
  .strict();

const Routing = z
  .object({
    routingGroup: z.string().optional(),
    header: z.string().optional(),
    hostnameDomain: z.string().optional(),
    hostname: z.string().optional(),
    default: z.boolean().optional(),
    weight: z.number().int().min(0).max(1000000).optional(),
    acceptMembersFrom: z.array(z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must name namespaces (DNS labels)').max(63)).max(64).optional(),
    rules: z
      .array(Rule)
      .min(1)
      .max(MAX_RULES_PER_XTRINODE)
      .refine((rs) => { const names = rs.flatMap((r) => (r.name ? [r.name] : [])); return new Set(names).size === names.length; }, 'rule names must be unique')
      .optional(),
    acceptRulesFrom: z.array(z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must name namespaces (DNS labels)').max(63)).max(64).optional(),
  })
  .strict();

export const XTrinodeSpecSchema = z
  .object({
    size: z.enum(['xs', 's', 'm', 'l', 'xl']).optional(),
    suspend: z.boolean().optional(),
    idleTimeout: z.string().regex(DURATION, 'must be a duration like 30m or 1h30m').optional(),
    coordinator: z.object({ service: ServiceRef.optional(), oauth2: z.boolean().optional() }).strict().optional(),
    routing: Routing.optional(),
    capacity: z.object({ maxQueries: z.number().int().min(1).max(100000).optional() }).strict().optional(),
  })
  .strict();

export type XTrinodeSpec = z.infer<typeof XTrinodeSpecSchema>;

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime?: string;
}

export interface XTrinodeStatus {
  observedGeneration?: number;
  routingGroup?: string;
  hostname?: string;
  hostnames?: string[];
  headerSelector?: string;
  default?: boolean;
  /** Names of the routing rules in force (unnamed ones as `rules[<index>]`). */
  rules?: string[];
  phase?: string;
  routes?: string[];
  conditions?: Condition[];
  [k: string]: unknown;
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  finalizers?: string[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [k: string]: unknown;
}

/** An XTrinode as read from a file or the API server; `spec` is not trusted until parsed. */
export interface XTrinode {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec?: unknown;
  status?: XTrinodeStatus;
}

/** Condition types written on XTrinode status. */
export const ConditionType = {
  /** The spec is valid and every selector it asks for is in force (no conflict lost). */
  Accepted: 'Accepted',
  /** The coordinator Service exists and has the port. */
  ResolvedRefs: 'ResolvedRefs',
  /** The Gateway implementation accepted every HTTPRoute carrying this runtime (controller only). */
  Programmed: 'Programmed',
  /** The coordinator is ready to take queries (controller only). */
  Ready: 'Ready',
} as const;

/** Condition reasons, stable for alerting. */
export const Reason = {
  Accepted: 'Accepted',
  InvalidSpec: 'InvalidSpec',
  HostnameConflict: 'HostnameConflict',
  HeaderConflict: 'HeaderConflict',
  DefaultConflict: 'DefaultConflict',
  ResolvedRefs: 'ResolvedRefs',
  ServiceNotFound: 'ServiceNotFound',
  PortNotFound: 'PortNotFound',
  ServiceNotChecked: 'ServiceNotChecked',
  Suspended: 'Suspended',
  GroupOwnedElsewhere: 'GroupOwnedElsewhere',
  RuleConflict: 'RuleConflict',
  RuleNotPermitted: 'RuleNotPermitted',
} as const;
