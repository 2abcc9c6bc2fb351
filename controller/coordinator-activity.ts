/**
 * Idle, as the coordinator sees it: a runtime is idle only when its coordinator reports no queued
 * or running query and no query started since the controller last asked (the QueryManager MBean,
 * lib/query-manager.ts). Queries that go Gateway -> coordinator never pass the router, so the
 * router's activity annotation alone would call a busy runtime idle and suspend it mid-query.
 *
 * The controller asks when a runtime's idle time is up, and once when it first sees the runtime
 * (the baseline of the started count). A coordinator that does not answer is never called idle.
 */
import { readQueryManager, type QueryManagerFigures } from '../lib/query-manager.ts';

export type Activity = { state: 'idle' } | { state: 'busy'; why: string } | { state: 'unknown'; why: string };

export class CoordinatorActivity {
  private readonly started = new Map<string, number>();
  private readonly asked = new Set<string>();
  private readonly read: (origin: string) => Promise<QueryManagerFigures | undefined>;

  constructor(read: (origin: string) => Promise<QueryManagerFigures | undefined> = (o) => readQueryManager(o, 3000)) {
    this.read = read;
  }

  /** Records the started count the next `check` compares with (no-op when already known). */
  async baseline(key: string, origin: string): Promise<void> {
    if (this.asked.has(key)) return;
    this.asked.add(key);
    const f = await this.read(origin);
    if (f?.started !== undefined && !this.started.has(key)) this.started.set(key, f.started);
  }

  async check(key: string, origin: string | undefined): Promise<Activity> {
    if (!origin) return { state: 'unknown', why: 'its coordinator Service has no ClusterIP the controller can reach' };
    const f = await this.read(origin);
    if (!f) return { state: 'unknown', why: `its coordinator did not report its queries (GET ${origin.replace(/^https?:\/\/[^/]+/, '')}/v1/jmx/mbean/trino.execution:name=QueryManager as X-Trino-User xtrinode-gateway failed or was refused)` };
    const before = this.started.get(key);
    if (f.started !== undefined) this.started.set(key, f.started);
    if (f.queued + f.running > 0) return { state: 'busy', why: `${f.running} running and ${f.queued} queued queries` };
    if (f.started !== undefined && before === undefined) return { state: 'busy', why: 'no earlier count of started queries to compare with (first look)' };
    if (f.started !== undefined && before !== undefined && f.started !== before) return { state: 'busy', why: `${f.started - before} queries started since the last look` };
    return { state: 'idle' };
  }

  forget(key: string): void {
    this.started.delete(key);
    this.asked.delete(key);
  }
}
