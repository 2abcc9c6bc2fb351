/**
 * Per-coordinator query limits (`spec.capacity.maxQueries`, `maxQueries` in the route table): a
 * new statement goes to a member of its group with room, or waits in the group's queue
 * (held-queries.ts) until one has room.
 *
 * A member's count is its coordinator's own count of queries alive (submitted minus completed in
 * the QueryManager MBean, lib/query-manager.ts; at least queued + running), read at most once per `readMs` whoever asks, plus the statements this
 * process sent it since that reading was requested. So the limit holds for queries that bypassed
 * this router, and across replicas up to what the replicas start between two readings: with R
 * router processes (replicas x workers) a coordinator can reach `maxQueries + R - 1` in the worst
 * case, each having counted one start the others did not yet see (README: Capacity).
 *
 * A coordinator that does not report (401 with authentication on its HTTP port, down, slow) has
 * an unknown count: it is not given queries while it has a limit, so a limit is never exceeded
 * silently; its held statements wait, then fail with the queue timeout.
 */
import { readQueryManager, type QueryManagerFigures } from '../lib/query-manager.ts';
import type { RouteBackend, RouteGroup } from '../routetable/schema.ts';

interface Reading {
  /** queued + running, or undefined when the coordinator did not tell. */
  count: number | undefined;
  /** When the request for it was sent: starts after this are not in it. */
  requestedAt: number;
  pending: Promise<void> | undefined;
}

export interface CapacityOptions {
  origin: (b: RouteBackend) => string;
  /** A reading younger than this is reused. */
  readMs: number;
  timeoutMs: number;
  /** The MBean reader (tests give a fake that answers like lib/query-manager.ts). */
  read?: (origin: string, timeoutMs: number) => Promise<QueryManagerFigures | undefined>;
  /** Whether a coordinator takes new queries now (health checks). */
  up?: (b: RouteBackend) => Promise<boolean>;
  /** The clock (tests move it). */
  now?: () => number;
}

export function limited(group: RouteGroup): boolean {
  return group.backends.some((b) => b.maxQueries !== undefined);
}

export class Capacity {
  private readonly readings = new Map<string, Reading>();
  /** Backend id -> send times of statements since the oldest reading still relevant. */
  private readonly starts = new Map<string, number[]>();
  private readonly o: CapacityOptions;

  private readonly now: () => number;

  constructor(o: CapacityOptions) {
    this.o = o;
    this.now = o.now ?? Date.now;
  }

  /** The count of a member now: its coordinator's reading plus this process's starts since. */
  async count(b: RouteBackend): Promise<number | undefined> {
    const r = await this.fresh(b);
    if (r.count === undefined) return undefined;
    // A start a little older than the reading may not be in it either: Trino counts a query once
    // the client's first poll dispatched it, so a start stays counted for one more read interval.
    const since = (this.starts.get(b.id) ?? []).filter((t) => t >= r.requestedAt - this.o.readMs).length;
    return r.count + since;
  }

  /**
   * A member of the group with room, counted as started (the caller sends it the statement), or
   * undefined when every eligible member is at its limit. Members without a limit always have
   * room. Among members with room the one with the lowest count per unit of weight.
   */
  async admit(group: RouteGroup): Promise<RouteBackend | undefined> {
    const eligible = group.backends.filter((b) => b.state === 'Ready' && b.weight > 0);
    let best: RouteBackend | undefined;
    let bestScore = Infinity;
    for (const b of eligible) {
      if (this.o.up && !(await this.o.up(b))) continue;
      if (b.maxQueries === undefined) {
        best = b;
        bestScore = -1;
        break;
      }
      const n = await this.count(b);
      if (n === undefined || n >= b.maxQueries) continue;
      const score = n / b.weight;
      if (score < bestScore) {
        best = b;
        bestScore = score;
      }
    }
    if (best) this.started(best.id);
    return best;
  }

  /** A statement was sent to the backend outside `admit` (counted until the next reading). */
  started(id: string): void {
    const list = this.starts.get(id) ?? [];
    list.push(this.now());
    // Keep what a reading in flight may not include; older starts are in every later reading.
    const r = this.readings.get(id);
    const keepFrom = r ? r.requestedAt - 2 * this.o.readMs : 0;
    this.starts.set(id, list.filter((t) => t >= keepFrom));
  }

  /** Forgets members no longer in the route table. */
  retain(ids: Set<string>): void {
    for (const id of [...this.readings.keys()]) if (!ids.has(id)) this.readings.delete(id);
    for (const id of [...this.starts.keys()]) if (!ids.has(id)) this.starts.delete(id);
  }

  private async fresh(b: RouteBackend): Promise<Reading> {
    let r = this.readings.get(b.id);
    if (r?.pending) {
      await r.pending;
      return r;
    }
    if (r && this.now() - r.requestedAt < this.o.readMs) return r;
    const requestedAt = this.now();
    const reading: Reading = r ?? { count: undefined, requestedAt, pending: undefined };
    this.readings.set(b.id, reading);
    r = reading;
    reading.pending = (this.o.read ?? readQueryManager)(this.o.origin(b), this.o.timeoutMs).then((f) => {
      reading.count = f ? Math.max(f.alive ?? 0, f.queued + f.running) : undefined;
      reading.requestedAt = requestedAt;
      reading.pending = undefined;
    });
    await reading.pending;
    return reading;
  }
}
