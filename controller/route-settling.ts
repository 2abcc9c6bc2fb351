/**
 * Whether the Gateway has taken the HTTPRoutes the controller last wrote, so that what the old
 * routes still needed may be taken away: a ReferenceGrant narrowed, a suspended runtime's
 * coordinator scaled down. Until then a request can still meet the old route, and the old route
 * must still work (Traefik answers 500 for a backend whose grant is gone).
 *
 * Settled means: every route wanted is Accepted by the Gateway at its generation
 * (`HTTPRoute.status.parents[].conditions[].observedGeneration`, read from the cache, so it holds
 * across leaders), and `graceMs` passed since the last route write or delete (an implementation
 * reports status when it has built its configuration, not necessarily when every instance serves
 * it). A Gateway that never reports is waited for at most `maxWaitMs` after the last write.
 */
export interface ParentStatus {
  parentRef: { name: string; namespace?: string };
  conditions?: Array<{ type: string; status: string; observedGeneration?: number }>;
}

export interface RouteView {
  metadata?: { generation?: number };
  status?: { parents?: ParentStatus[] };
}

export interface Settledness {
  /** Routes the Gateway has not yet accepted at the generation wanted (empty once accepted). */
  waitingFor: string[];
  /** Every route is accepted at its generation, or the wait bound passed. */
  accepted: boolean;
  /** `accepted`, and the grace since the last route write or delete passed. */
  settled: boolean;
  /** When to look again if nothing else starts a pass (a route status update does). */
  retryInMs: number;
}

export class RouteSettling {
  private readonly awaited = new Map<string, number>();
  private lastWrite: number;
  private readonly o: { gateway: { namespace: string; name: string }; routeNamespace: string; graceMs: number; maxWaitMs: number };

  /**
   * `now` is the start of this process's leadership: it counts as a route change, since another
   * leader may have written routes an instant before.
   */
  constructor(o: RouteSettling['o'], now = Date.now()) {
    this.o = o;
    this.lastWrite = now;
  }

  /** Leadership (re)gained: the grace counts from now, and routes are judged by their status alone. */
  restart(now = Date.now()): void {
    this.awaited.clear();
    this.lastWrite = now;
  }

  /** A route was applied and the API server answered with this generation. */
  wrote(name: string, generation: number | undefined, now = Date.now()): void {
    if (generation !== undefined) this.awaited.set(name, generation);
    this.lastWrite = now;
  }

  /** A route was deleted. */
  deleted(name: string, now = Date.now()): void {
    this.awaited.delete(name);
    this.lastWrite = now;
  }

  /**
   * Whether the Gateway took `routes` (the names of the routes wanted now), judged from their
   * status in the cache: each must be Accepted at its cached generation, and at least at the
   * generation this process last wrote. So a new leader, which wrote nothing yet, waits for
   * what the old one wrote. Route status updates start passes themselves; the timer returned
   * covers only the grace and the bound.
   */
  pending(route: (name: string) => RouteView | undefined, routes: Iterable<string>, now = Date.now()): Settledness {
    const sinceWrite = now - this.lastWrite;
    if (sinceWrite >= this.o.maxWaitMs) {
      this.awaited.clear();
      return { waitingFor: [], accepted: true, settled: true, retryInMs: 0 };
    }
    const waitingFor: string[] = [];
    const names = new Set(routes);
    for (const name of this.awaited.keys()) names.add(name);
    for (const name of names) {
      const live = route(name);
      const wanted = Math.max(this.awaited.get(name) ?? 0, live?.metadata?.generation ?? 0);
      if (live && this.accepted(live, wanted)) this.awaited.delete(name);
      else waitingFor.push(name);
    }
    waitingFor.sort();
    const accepted = waitingFor.length === 0;
    const settled = accepted && sinceWrite >= this.o.graceMs;
    const retryInMs = settled ? 0 : Math.max(50, (accepted ? this.o.graceMs : this.o.maxWaitMs) - sinceWrite);
    return { waitingFor: accepted && !settled ? ['(grace after the last route change)'] : waitingFor, accepted, settled, retryInMs };
  }

  private accepted(r: RouteView, generation: number): boolean {
    if ((r.metadata?.generation ?? 0) < generation) return false;
    const parent = r.status?.parents?.find((p) => p.parentRef.name === this.o.gateway.name && (p.parentRef.namespace ?? this.o.routeNamespace) === this.o.gateway.namespace);
    const c = parent?.conditions?.find((x) => x.type === 'Accepted');
    return c?.status === 'True' && (c.observedGeneration ?? 0) >= generation;
  }
}
