/**
 * Whether the Gateway has taken the HTTPRoutes the controller last wrote, so that what the old
 * routes still needed may be taken away: a ReferenceGrant narrowed, a suspended runtime's
 * coordinator scaled down. Until then a request can still meet the old route, and the old route
 * must still work (Traefik answers 500 for a backend whose grant is gone).
 *
 * Settled means: every route written since is Accepted by the Gateway at the generation written
 * (`HTTPRoute.status.parents[].conditions[].observedGeneration`), and `graceMs` passed since the
 * last route write or delete (an implementation reports status when it has built its
 * configuration, not necessarily when every instance serves it). A Gateway that never reports
 * is waited for at most `maxWaitMs` after the last write.
 */
export interface ParentStatus {
  parentRef: { name: string; namespace?: string };
  conditions?: Array<{ type: string; status: string; observedGeneration?: number }>;
}

export interface RouteView {
  metadata?: { generation?: number };
  status?: { parents?: ParentStatus[] };
}

export class RouteSettling {
  private readonly awaited = new Map<string, number>();
  private lastWrite = 0;
  private readonly o: { gateway: { namespace: string; name: string }; routeNamespace: string; graceMs: number; maxWaitMs: number };

  constructor(o: RouteSettling['o']) {
    this.o = o;
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

  /** Routes still waited for (empty when settled), and how long until the bound ends the wait. */
  pending(route: (name: string) => RouteView | undefined, now = Date.now()): { waitingFor: string[]; retryInMs: number } {
    const sinceWrite = now - this.lastWrite;
    if (sinceWrite >= this.o.maxWaitMs) {
      this.awaited.clear();
      return { waitingFor: [], retryInMs: 0 };
    }
    for (const [name, generation] of this.awaited) {
      if (this.accepted(route(name), generation)) this.awaited.delete(name);
    }
    const waitingFor = [...this.awaited.keys()];
    if (waitingFor.length === 0 && sinceWrite >= this.o.graceMs) return { waitingFor, retryInMs: 0 };
    return { waitingFor: waitingFor.length > 0 ? waitingFor : ['(grace after the last route change)'], retryInMs: Math.max(100, Math.min(250, this.o.graceMs - sinceWrite)) };
  }

  private accepted(r: RouteView | undefined, generation: number): boolean {
    if (!r || (r.metadata?.generation ?? 0) < generation) return false;
    const parent = r.status?.parents?.find((p) => p.parentRef.name === this.o.gateway.name && (p.parentRef.namespace ?? this.o.routeNamespace) === this.o.gateway.namespace);
    const c = parent?.conditions?.find((x) => x.type === 'Accepted');
    return c?.status === 'True' && (c.observedGeneration ?? 0) >= generation;
  }
}
