/**
 * Routing rules as the router applies them to a new statement that no hostname claims and that
 * carries no selector header: what the Trino clients send on their own (`X-Trino-Source`,
 * `X-Trino-User`, `X-Trino-Catalog`, `X-Trino-Client-Tags`), against the rules of the route
 * table, which lists them in precedence order (the first match wins).
 *
 * A rule matches when every condition it has holds: source, user and catalog equal the header
 * exactly (as the HTTPRoute's Exact header matches do); every client tag of the rule is one of
 * the request's comma-separated tags, in any order, blanks around each tag ignored (the CLI trims
 * `--client-tags ' etl , nightly'`; JDBC and python send the list as given).
 *
 * @example
 * const req = ruleRequest(headers);
 * const rule = firstMatchingRule(table.rules ?? [], req); // undefined: no rule takes it
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { RouteRule } from '../routetable/schema.ts';

export interface RuleRequest {
  source: string | undefined;
  user: string | undefined;
  catalog: string | undefined;
  clientTags: ReadonlySet<string>;
}

/** Longest header value read for a rule: rule values are at most 128 characters, tags 63 each. */
const MAX_VALUE = 4096;

function one(v: string | string[] | undefined): string | undefined {
  const s = Array.isArray(v) ? v.join(',') : v;
  return s === undefined ? undefined : s.slice(0, MAX_VALUE);
}

/** The request's rule inputs, from its headers (Node joins a repeated header with ', '). */
export function ruleRequest(headers: IncomingHttpHeaders): RuleRequest {
  const tags = one(headers['x-trino-client-tags']);
  return {
    source: one(headers['x-trino-source']),
    user: one(headers['x-trino-user']),
    catalog: one(headers['x-trino-catalog']),
    clientTags: new Set(tags === undefined ? [] : tags.split(',').map((t) => t.trim()).filter((t) => t.length > 0)),
  };
}

export function ruleMatches(rule: RouteRule, req: RuleRequest): boolean {
  if (rule.source !== undefined && req.source !== rule.source) return false;
  if (rule.user !== undefined && req.user !== rule.user) return false;
  if (rule.catalog !== undefined && req.catalog !== rule.catalog) return false;
  for (const t of rule.clientTags ?? []) if (!req.clientTags.has(t)) return false;
  return true;
}

export function firstMatchingRule(rules: readonly RouteRule[], req: RuleRequest): RouteRule | undefined {
  return rules.find((r) => ruleMatches(r, req));
}

/** How many conditions a rule has (each client tag counts): more conditions take precedence. */
export function ruleConditions(r: { source?: string; user?: string; catalog?: string; clientTags?: readonly string[] }): number {
  return (r.source !== undefined ? 1 : 0) + (r.user !== undefined ? 1 : 0) + (r.catalog !== undefined ? 1 : 0) + (r.clientTags?.length ?? 0);
}
