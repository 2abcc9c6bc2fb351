/**
 * Per-coordinator query limits (`spec.capacity.maxQueries`, `maxQueries` in the route table): a
 * new statement goes to a member of its group with room, or waits in the group's queue
 * (held-queries.ts) until one has room.
 *
 * A member's count is its coordinator's own count of queries alive (submitted minus completed in
 * the QueryManager MBean, lib/query-manager.ts; at least queued + running), read at most once per
 * `readMs` whoever asks, plus the statements this process sent it that the coordinator has not
 * registered yet. Trino registers a query only once its client's first poll dispatched it, which
 * on a loaded machine came more than a second after the POST (measured: a reading 1.1 s after two
 * POSTs still said 0), so a start stays counted until readings taken after it show that many new
 * registrations (the growth of `SubmittedQueries.TotalCount`), at most `PENDING_START_MS`; a
 * coordinator that does not report that total counts a start for one read interval past the
 * reading, as before. So the limit holds for queries that bypassed this router, and across
 * replicas up to what the replicas start between two readings: with R router processes
 * (replicas x workers) a coordinator can reach `maxQueries + R - 1` in the worst case, each having
 * counted one start the others did not yet see (README: Capacity).
 *
 * A coordinator that does not report (401 with authentication on its HTTP port, down, slow) has
 * an unknown count: it is not given queries while it has a limit, so a limit is never exceeded
 * silently; its held statements wait, then fail with the queue timeout.
 */
import { readQueryManager, type QueryManagerFigures } from '../lib/query-manager.ts';
import type { RouteBackend, RouteGroup } from '../routetable/schema.ts';

/** Longest a start not yet registered by its coordinator is counted (a client that never polls). */
export const PENDING_START_MS = 30_000;

interface Reading {
  /** Queries alive, or undefined when the coordinator did not tell. */
  count: number | undefined;
  /** SubmittedQueries.TotalCount, when reported. */
  submitted: number | undefined;
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

  /** The count of a member now: its coordinator's reading plus this process's starts it has not registered yet. */
  async count(b: RouteBackend): Promise<number | undefined> {
    const r = await this.fresh(b);
    if (r.count === undefined) return undefined;
    const now = this.now();
    const starts = (this.starts.get(b.id) ?? []).filter((t) => t >= now - PENDING_START_MS);
    this.starts.set(b.id, starts);
    if (r.submitted !== undefined) return r.count + starts.length;
    // No registration total: a start a little older than the reading may not be in it either, so
    // it stays counted for one more read interval.
    return r.count + starts.filter((t) => t >= r.requestedAt - this.o.readMs).length;
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

  /** A statement was sent to the backend outside `admit` (counted until its coordinator registers it). */
  started(id: string): void {
    const list = this.starts.get(id) ?? [];
    list.push(this.now());
    this.starts.set(id, list);
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
    const reading: Reading = r ?? { count: undefined, submitted: undefined, requestedAt, pending: undefined };
    this.readings.set(b.id, reading);
    r = reading;
    reading.pending = (this.o.read ?? readQueryManager)(this.o.origin(b), this.o.timeoutMs).then((f) => {
      const before = reading.submitted;
      reading.count = f ? Math.max(f.alive ?? 0, f.queued + f.running) : undefined;
      reading.submitted = f?.submitted;
      // The coordinator registered this many queries since the last reading: as many of this
      // process's starts sent before this reading's request are in its count now (oldest first).
      // A first reading, or one after a restart of the coordinator (the total went down), takes
      // the starts older than one read interval as registered.
      const list = this.starts.get(b.id) ?? [];
      if (f?.submitted !== undefined) {
        const grown = before !== undefined && f.submitted >= before ? f.submitted - before : undefined;
        const older = list.filter((t) => t < requestedAt);
        const registered = grown === undefined ? older.filter((t) => t < requestedAt - this.o.readMs).length : Math.min(grown, older.length);
        this.starts.set(b.id, list.slice(registered));
      }
      reading.requestedAt = requestedAt;
      reading.pending = undefined;
    });
    await reading.pending;
    return reading;
  }
}
