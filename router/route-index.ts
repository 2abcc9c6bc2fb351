/**
 * The route table as the router uses it: lookups by hostname, selector value and default,
 * with the priority of the product (hostname, then X-Trino-XTrinode, then default).
 */
import type { RouteBackend, RouteGroup, RouteTable } from '../routetable/schema.ts';

export type Resolution =
  | { kind: 'group'; group: RouteGroup; via: 'hostname' | 'header' | 'default' }
  | { kind: 'unknown-selector'; value: string }
  | { kind: 'no-route' };

export class RouteIndex {
  readonly table: RouteTable;
  readonly backends: ReadonlyMap<string, { backend: RouteBackend; group: RouteGroup }>;
  private readonly byHost = new Map<string, RouteGroup>();
  private readonly byHeader = new Map<string, RouteGroup>();
  private readonly defaultGroup: RouteGroup | undefined;

  constructor(table: RouteTable) {
    this.table = table;
    const backends = new Map<string, { backend: RouteBackend; group: RouteGroup }>();
    let def: RouteGroup | undefined;
    for (const g of table.groups) {
      for (const h of g.hostnames) this.byHost.set(h, g);
      for (const v of g.headerValues) this.byHeader.set(v, g);
      if (g.default) def = g;
      for (const b of g.backends) backends.set(b.id, { backend: b, group: g });
    }
    this.defaultGroup = def;
    this.backends = backends;
  }

  /** `host` is the Host header (port and case ignored); `selector` the X-Trino-XTrinode value. */
  resolve(host: string | undefined, selector: string | undefined): Resolution {
    if (host) {
      const g = this.byHost.get(normalizeHost(host));
      if (g) return { kind: 'group', group: g, via: 'hostname' };
    }
    if (selector !== undefined) {
      const g = this.byHeader.get(selector.trim());
      return g ? { kind: 'group', group: g, via: 'header' } : { kind: 'unknown-selector', value: selector };
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
