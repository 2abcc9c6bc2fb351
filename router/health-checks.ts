/**
 * Which coordinators take new queries: marked down when a request cannot reach them, and checked
 * every `intervalMs` where the router chooses (groups of more than one coordinator): `/v1/info`
 * through the shared CoordinatorHealth, plus the queued + running queries for adaptive balancing.
 * Held queries ask `readyBackend` for a fresh answer (one check per coordinator every 250 ms).
 */
import type { Logger } from 'pino';
import type { Gauge } from 'prom-client';
import type { RouteBackend, RouteGroup } from '../routetable/schema.ts';
import type { BackendHealth, BalancingMode } from './balancer.ts';
import { CoordinatorHealth } from './coordinator-health.ts';
import { coordinatorLoad } from './coordinator-load.ts';
import type { RouteIndex } from './route-index.ts';

export class HealthChecks {
  private readonly health = new Map<string, BackendHealth>();
  private readonly coordinators: CoordinatorHealth;
  private timer: NodeJS.Timeout | undefined;
  private readonly o: { intervalMs: number; probeTimeoutMs: number; balancing: BalancingMode; origin: (b: RouteBackend) => string; index: () => RouteIndex | undefined; gauge: Gauge<'backend'>; log: Logger };

  constructor(o: HealthChecks['o']) {
    this.o = o;
    this.coordinators = new CoordinatorHealth({ timeoutMs: o.probeTimeoutMs });
  }

  of(id: string): BackendHealth | undefined {
    return this.health.get(id);
  }

  markUnhealthy(id: string): void {
    const h = this.health.get(id);
    if (h) h.healthy = false;
    else this.health.set(id, { healthy: false });
  }

  /** Forgets coordinators no longer in the route table. */
  retain(origins: Set<string>): void {
    this.coordinators.retain(origins);
  }

  start(): void {
    if (this.timer || this.o.intervalMs <= 0) return;
    const tick = () => void this.check().catch((e: unknown) => this.o.log.warn({ err: String(e) }, 'health check round failed'));
    tick();
    this.timer = setInterval(tick, this.o.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Checks coordinators of groups where the router chooses (more than one backend). */
  async check(): Promise<void> {
    const index = this.o.index();
    if (!index) return;
    const targets = [...index.backends.values()].filter((e) => e.group.backends.length > 1 && e.backend.state === 'Ready').map((e) => e.backend);
    await Promise.all(targets.map(async (b) => {
      const origin = this.o.origin(b);
      const h: BackendHealth = { healthy: await this.coordinators.up(origin, this.o.intervalMs / 2) };
      if (h.healthy && this.o.balancing === 'adaptive') {
        const load = await coordinatorLoad(origin, this.o.probeTimeoutMs);
        if (load !== undefined) h.load = load; // else round-robin decides
      }
      this.health.set(b.id, h);
      this.o.gauge.set({ backend: b.id }, h.healthy ? 1 : 0);
    }));
  }

  /**
   * For held queries: a backend marked Ready in the table whose /v1/info says it is up (checked
   * now, whatever the last round said; a success marks it healthy again).
   */
  /** Whether the coordinator takes new queries now (one shared check every 250 ms). */
  async up(b: RouteBackend): Promise<boolean> {
    const up = await this.coordinators.up(this.o.origin(b), 250);
    if (up) this.health.set(b.id, { healthy: true });
    return up;
  }

  async readyBackend(group: RouteGroup): Promise<RouteBackend | undefined> {
    for (const b of group.backends.filter((x) => x.state === 'Ready' && x.weight > 0)) {
      // One check per coordinator every 250 ms, whatever the number of held queries asking.
      if (await this.coordinators.up(this.o.origin(b), 250)) {
        this.health.set(b.id, { healthy: true });
        return b;
      }
    }
    return undefined;
  }
}
