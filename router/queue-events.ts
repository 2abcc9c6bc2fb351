/**
 * Events when a routing group starts and stops queueing for capacity (README: Capacity): the
 * router process whose queue for the group went from empty to non-empty posts `QueueStarted` on
 * the group's first member XTrinode, and `QueueDrained` once its queue is empty again. Each router
 * process has its own queue, so each says so for its own (the message names the process). A group
 * that flaps is reported at most once per `minIntervalMs` (a minute); a drained event follows only
 * a started one that was posted. Posting never blocks or fails a query: a failed post is logged.
 */
import type { Logger } from 'pino';
import type { RouteGroup } from '../routetable/schema.ts';

export interface QueueEventsOptions {
  /** Creates the Event (api-server.ts in production). */
  post: (namespace: string, body: Record<string, unknown>) => Promise<void>;
  /** Who posts: the Pod and worker (in the message and the Event's source). */
  identity: string;
  log: Pick<Logger, 'warn'>;
  minIntervalMs?: number;
  now?: () => number;
}

export class QueueEvents {
  private readonly o: QueueEventsOptions;
  private readonly lastStarted = new Map<string, number>();
  private readonly open = new Set<string>();

  constructor(o: QueueEventsOptions) {
    this.o = o;
  }

  /** The group's capacity queue in this process became non-empty (`true`) or empty (`false`). */
  changed(group: RouteGroup, queueing: boolean, waiting: number): void {
    const now = (this.o.now ?? Date.now)();
    if (queueing) {
      const last = this.lastStarted.get(group.name);
      if (last !== undefined && now - last < (this.o.minIntervalMs ?? 60_000)) return;
      this.lastStarted.set(group.name, now);
      this.open.add(group.name);
      this.emit(group, 'QueueStarted', `routing group ${group.name}: every member is at its capacity.maxQueries; new statements wait in the gateway queue of router ${this.o.identity} (${waiting} waiting).`);
    } else if (this.open.delete(group.name)) {
      this.emit(group, 'QueueDrained', `routing group ${group.name}: the gateway queue of router ${this.o.identity} is empty again.`);
    }
  }

  private emit(group: RouteGroup, reason: string, message: string): void {
    const member = [...group.backends].sort((a, b) => (a.id < b.id ? -1 : 1))[0];
    if (!member) return;
    const [namespace, name] = member.id.split('/') as [string, string];
    const at = new Date((this.o.now ?? Date.now)()).toISOString();
    const body = {
      metadata: { generateName: `${name}.`, namespace },
      involvedObject: { apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', name, namespace },
      type: 'Normal',
      reason,
      message,
      source: { component: 'xtrinode-router' },
      reportingComponent: 'xtrinode-router',
      reportingInstance: this.o.identity,
      firstTimestamp: at,
      lastTimestamp: at,
      count: 1,
    };
    this.o.post(namespace, body).catch((e: unknown) => this.o.log.warn({ group: group.name, reason, err: (e as Error).message }, 'could not post the queue Event; queries are not affected'));
  }
}
