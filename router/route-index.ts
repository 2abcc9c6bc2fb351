/**
 * The route table as the router uses it: lookups by hostname, selector, routing rule and default,
 * with the priority of the product: hostname, then a selector header (`X-Trino-XTrinode`, then
 * `X-Trino-Routing-Group` unless the table turns it off), then the routing rules in the table's
 * order (routing-rules.ts), then the default route.
 */
import type { RouteBackend, RouteGroup, RouteRule, RouteTable } from '../routetable/schema.ts';
import { firstMatchingRule, type RuleRequest } from './routing-rules.ts';

export type Resolution =
  | { kind: 'group'; group: RouteGroup; via: 'hostname' | 'header' | 'routing-group' | 'default' }
  | { kind: 'group'; group: RouteGroup; via: 'rule'; rule: RouteRule }
  | { kind: 'unknown-selector'; header: string; value: string }
  | { kind: 'no-route' };

/** What a request carries besides its Host and X-Trino-XTrinode header. */
export interface ResolveExtras {
  /** The X-Trino-Routing-Group value. */
  routingGroup?: string | undefined;
  /** Rule inputs; only new statements are placed by rules (follow-ups travel by their URL). */
  rules?: RuleRequest | undefined;
}

export class RouteIndex {
  readonly table: RouteTable;
  readonly backends: ReadonlyMap<string, { backend: RouteBackend; group: RouteGroup }>;
  private readonly byHost = new Map<string, RouteGroup>();
  private readonly byHeader = new Map<string, RouteGroup>();
  private readonly byName = new Map<string, RouteGroup>();
  private readonly defaultGroup: RouteGroup | undefined;
  private readonly rules: readonly RouteRule[];
  /** Groups some rule leads to: any client reaches them by sending the rule's headers. */
  readonly ruleGroups: readonly RouteGroup[];

  constructor(table: RouteTable) {
    this.table = table;
    const backends = new Map<string, { backend: RouteBackend; group: RouteGroup }>();
    let def: RouteGroup | undefined;
    for (const g of table.groups) {
      for (const h of g.hostnames) this.byHost.set(h, g);
      for (const v of g.headerValues) this.byHeader.set(v, g);
      if (g.default) def = g;
      this.byName.set(g.name, g);
      for (const b of g.backends) backends.set(b.id, { backend: b, group: g });
    }
    this.defaultGroup = def;
    this.backends = backends;
    this.rules = table.rules ?? [];
    this.ruleGroups = [...new Set(this.rules.map((r) => r.group))].map((n) => this.byName.get(n)!);
  }

  /** `host` is the Host header (port and case ignored); `selector` the X-Trino-XTrinode value. */
  resolve(host: string | undefined, selector: string | undefined, extras: ResolveExtras = {}): Resolution {
    if (host) {
      const g = this.byHost.get(normalizeHost(host));
      if (g) return { kind: 'group', group: g, via: 'hostname' };
    }
    if (selector !== undefined) {
      const g = this.byHeader.get(selector.trim());
      return g ? { kind: 'group', group: g, via: 'header' } : { kind: 'unknown-selector', header: 'X-Trino-XTrinode', value: selector };
    }
    if (extras.routingGroup !== undefined && this.table.routingGroupHeader !== false) {
      const g = this.byName.get(extras.routingGroup.trim());
      return g ? { kind: 'group', group: g, via: 'routing-group' } : { kind: 'unknown-selector', header: 'X-Trino-Routing-Group', value: extras.routingGroup };
    }
    if (extras.rules && this.rules.length > 0) {
      const rule = firstMatchingRule(this.rules, extras.rules);
      if (rule) return { kind: 'group', group: this.byName.get(rule.group)!, via: 'rule', rule };
    }
    return this.defaultGroup ? { kind: 'group', group: this.defaultGroup, via: 'default' } : { kind: 'no-route' };
  }
}

export function normalizeHost(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[')) return h; // IPv6 literal: never a route hostname
  const colon = h.lastIndexOf(':');
  if (colon >= 0) h = h.slice(0, colon);
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h;
}
