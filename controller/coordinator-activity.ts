/**
 * Idle, as the coordinator sees it: a runtime is idle only when its coordinator reports no queued
 * or running query and no query started since the controller last asked (the QueryManager MBean,
 * lib/query-manager.ts). Queries that go Gateway -> coordinator never pass the router, so the
 * router's activity annotation alone would call a busy runtime idle and suspend it mid-query.
 *
 * The controller asks when a runtime's idle time is up, and once when it first sees the runtime
 * (the baseline of the started count). Idle needs a whole idle time without a started query: a
 * look that comes less than that after the count was taken says "not yet", so setting an
 * idleTimeout on a runtime that has just run a query never suspends it on the spot. A coordinator
 * that does not answer is never called idle.
 */
import { readQueryManager, type QueryManagerFigures } from '../lib/query-manager.ts';

/** `retryInMs`: quiet so far, but the count is younger than the idle time; look again then. */
export type Activity = { state: 'idle' } | { state: 'busy'; why: string; retryInMs?: number } | { state: 'unknown'; why: string };

/** A coordinator's started-queries count and when the controller read it. */
interface Count {
  started: number | undefined;
  at: number;
}

export class CoordinatorActivity {
  private readonly counts = new Map<string, Count>();
  private readonly asked = new Set<string>();
  private readonly read: (origin: string) => Promise<QueryManagerFigures | undefined>;
  private readonly now: () => number;

  constructor(read: (origin: string) => Promise<QueryManagerFigures | undefined> = (o) => readQueryManager(o, 3000), now: () => number = Date.now) {
    this.read = read;
    this.now = now;
  }

  /** True once a baseline was asked for (answered or not). */
  hasBaseline(key: string): boolean {
    return this.asked.has(key);
  }

  /** Records the started count the next `check` compares with (no-op when already known). */
  async baseline(key: string, origin: string): Promise<void> {
    if (this.asked.has(key)) return;
    this.asked.add(key);
    const f = await this.read(origin);
    if (f && !this.counts.has(key)) this.counts.set(key, { started: f.started, at: this.now() });
  }

  /** Idle only when no query is queued or running, and none started in the last `idleMs` (one count taken at least that long ago). */
  async check(key: string, origin: string | undefined, idleMs: number): Promise<Activity> {
    if (!origin) return { state: 'unknown', why: 'its coordinator Service has no ClusterIP the controller can reach' };
    const f = await this.read(origin);
    if (!f) return { state: 'unknown', why: `its coordinator did not report its queries (GET ${origin.replace(/^https?:\/\/[^/]+/, '')}/v1/jmx/mbean/trino.execution:name=QueryManager as X-Trino-User xtrinode-gateway failed or was refused)` };
    const now = this.now();
    const before = this.counts.get(key);
    const busy =
      f.queued + f.running > 0 ? `${f.running} running and ${f.queued} queued queries`
      : before !== undefined && f.started !== before.started ? `${(f.started ?? 0) - (before.started ?? 0)} queries started since the last look`
      : undefined;
    if (busy !== undefined || before === undefined) {
      // Activity (or a first look) starts the idle time again: later looks compare with this count.
      this.counts.set(key, { started: f.started, at: now });
      return { state: 'busy', why: busy ?? 'no earlier count of started queries to compare with (first look)' };
    }
    if (now - before.at < idleMs) return { state: 'busy', why: `no query started for ${((now - before.at) / 1000).toFixed(1)}s, less than the idle time`, retryInMs: idleMs - (now - before.at) };
    return { state: 'idle' };
  }

  forget(key: string): void {
    this.counts.delete(key);
    this.asked.delete(key);
  }

  /** Forgets every runtime not in `keys` (deleted XTrinodes). */
  retain(keys: Set<string>): void {
    for (const key of [...this.counts.keys(), ...this.asked.keys()]) if (!keys.has(key)) this.forget(key);
  }
}
