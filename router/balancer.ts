/**
 * Choosing a coordinator inside a routing group for a new query.
 *
 * - `round-robin`: smooth weighted round-robin (each backend gets its weight's share, spread evenly).
 * - `adaptive`: the healthy backend with the fewest queued + running queries per unit of weight,
 *   from the coordinators' own counters; ties and missing counters fall back to round-robin.
 * Backends that are unhealthy (starting, unreachable) or weight 0 get no new queries.
 */
import type { RouteBackend, RouteGroup } from '../routetable/schema.ts';

export interface BackendHealth {
  healthy: boolean;
  /** queued + running queries, when the coordinator reports them */
  load?: number;
}

export type BalancingMode = 'round-robin' | 'adaptive';

export class Balancer {
  private readonly current = new Map<string, Map<string, number>>(); // group -> backend -> smooth WRR weight
  private readonly mode: BalancingMode;
  constructor(mode: BalancingMode) {
    this.mode = mode;
  }

  /** Returns the chosen backend, or undefined when none is eligible. */
  choose(group: RouteGroup, health: (id: string) => BackendHealth | undefined): RouteBackend | undefined {
    const eligible = group.backends.filter((b) => b.weight > 0 && b.state === 'Ready' && health(b.id)?.healthy !== false);
    if (eligible.length === 0) return undefined;
    if (eligible.length === 1) return eligible[0];
    if (this.mode === 'adaptive') {
      let best: RouteBackend | undefined;
      let bestScore = Infinity;
      let allKnown = true;
      for (const b of eligible) {
        const load = health(b.id)?.load;
        if (load === undefined) {
          allKnown = false;
          break;
        }
        const score = load / b.weight;
        if (score < bestScore) {
          bestScore = score;
          best = b;
        }
      }
      if (allKnown && best) {
        const h = health(best.id);
        if (h?.load !== undefined) h.load += 1; // count the query we are about to send until the next poll
        return best;
      }
    }
    return this.smoothWeighted(group.name, eligible);
  }

  private smoothWeighted(group: string, eligible: RouteBackend[]): RouteBackend {
    let cur = this.current.get(group);
    if (!cur) {
      cur = new Map();
      this.current.set(group, cur);
    }
    let total = 0;
    let best: RouteBackend = eligible[0]!;
    let bestW = -Infinity;
    for (const b of eligible) {
      const w = (cur.get(b.id) ?? 0) + b.weight;
      cur.set(b.id, w);
      total += b.weight;
      if (w > bestW) {
        bestW = w;
        best = b;
      }
    }
    cur.set(best.id, bestW - total);
    return best;
  }
}
