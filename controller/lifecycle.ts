/**
 * Suspend and resume of a runtime's workloads, as pure decisions the controller then applies.
 *
 * Workloads: the Deployments and StatefulSets labelled `analytics.xtrinode.io/xtrinode=<name>` in
 * the XTrinode's namespace (role from `analytics.xtrinode.io/role`: coordinator | worker; without
 * it, worker). A label rather than names in the spec: the controller then watches only labelled
 * workloads and never caches every Deployment of the cluster. Suspending scales them to 0 through
 * their `/scale` subresource (the controller may change replica counts, never a pod template) after
 * recording their replicas in the XTrinode's annotation `analytics.xtrinode.io/replicas-before-suspend`
 * (`{"Deployment/trino-coordinator":1,"StatefulSet/trino-worker":3}`); resuming restores them and
 * then removes the record. A workload at 0 that the record does not name stays at 0 (someone
 * stopped it on purpose).
 */
export const LABEL_XTRINODE = 'analytics.xtrinode.io/xtrinode';
export const LABEL_ROLE = 'analytics.xtrinode.io/role';
export const ANNOTATION_REPLICAS = 'analytics.xtrinode.io/replicas-before-suspend';
/**
 * Written by the controller with the `spec.suspend: true` of an idle suspension (RFC 3339): the
 * scale-down that follows re-reads the coordinator first and, if queries started since the idle
 * decision, cancels the suspension instead. A suspension a user asked for has no such annotation.
 */
export const ANNOTATION_IDLE_SUSPENDED = 'analytics.xtrinode.io/idle-suspended-at';
/** Written by the router (router/activity.ts): when this runtime last served a request (RFC 3339). */
export { ANNOTATION_LAST_ACTIVITY } from '../router/activity.ts';

export interface Workload {
  kind: 'Deployment' | 'StatefulSet';
  namespace: string;
  name: string;
  role: 'coordinator' | 'worker';
  replicas: number;
  readyReplicas: number;
  /**
   * The workload's own `replicas-before-suspend` annotation, as earlier builds of the controller wrote it:
   * read only to resume a runtime such a version suspended (the controller can no longer remove it).
   */
  legacyReplicas?: number | undefined;
}

export type Phase = 'Running' | 'Suspending' | 'Suspended' | 'Resuming';

export interface ScaleAction {
  workload: Workload;
  replicas: number;
}

/** What the XTrinode says about its suspension, read by `decideLifecycle`. */
export interface SuspensionMemory {
  /** The raw `replicas-before-suspend` annotation of the XTrinode, if any. */
  record?: string | undefined;
  /** The phase in the XTrinode's status is Suspended (a legacy record on a workload is honoured only then). */
  wasSuspended?: boolean;
}

export interface LifecycleDecision {
  phase: Phase | undefined;
  /** Coordinator ready for queries; undefined when no workload is known (not managed here). */
  coordinatorReady: boolean | undefined;
  actions: ScaleAction[];
  /**
   * The XTrinode's `replicas-before-suspend` annotation to write before the actions (a string),
   * to remove once they are done (null), or left as it is (undefined).
   */
  record?: string | null;
}

/** The key of a workload in the record: `Deployment/<name>` or `StatefulSet/<name>`. */
export function workloadKey(w: Pick<Workload, 'kind' | 'name'>): string {
  return `${w.kind}/${w.name}`;
}

/**
 * The replicas a record holds, by workload key. A count that is not a whole number from 0 to
 * 2^31-1 reads as 1, and so does every workload's when the record is not a JSON object (someone
 * edited it): a runtime asked to resume then comes back small rather than not at all.
 */
export function parseRecord(raw: string | undefined): { counts: Map<string, number>; unreadable: boolean } {
  const counts = new Map<string, number>();
  if (raw === undefined) return { counts, unreadable: false };
  let parsed: unknown;
  try {
    parsed = raw.length > 64 * 1024 ? undefined : JSON.parse(raw);
  } catch {
    parsed = undefined;
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return { counts, unreadable: true };
  for (const [k, v] of Object.entries(parsed)) counts.set(k, typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 2 ** 31 - 1 ? v : 1);
  return { counts, unreadable: false };
}

function recordText(m: Map<string, number>): string {
  return JSON.stringify(Object.fromEntries([...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
}

export function decideLifecycle(suspend: boolean, workloads: Workload[], memory: SuspensionMemory = {}): LifecycleDecision {
  if (workloads.length === 0) return { phase: suspend ? 'Suspended' : undefined, coordinatorReady: suspend ? false : undefined, actions: [] };
  const actions: ScaleAction[] = [];
  const coordinators = workloads.filter((w) => w.role === 'coordinator');
  const { counts: recorded, unreadable } = parseRecord(memory.record);
  if (suspend) {
    // Record first (the controller writes it before any scale-down), keeping what an earlier
    // attempt recorded for workloads already at 0.
    const record = new Map<string, number>();
    for (const w of workloads) {
      const key = workloadKey(w);
      if (w.replicas > 0) {
        record.set(key, w.replicas);
        actions.push({ workload: w, replicas: 0 });
      } else if (recorded.has(key)) record.set(key, recorded.get(key)!);
    }
    const allDown = workloads.every((w) => w.replicas === 0 && w.readyReplicas === 0);
    const text = recordText(record);
    return { phase: allDown ? 'Suspended' : 'Suspending', coordinatorReady: false, actions, ...(actions.length > 0 && text !== memory.record ? { record: text } : {}) };
  }
  for (const w of workloads) {
    if (w.replicas !== 0) continue;
    const remembered = unreadable ? 1 : recorded.get(workloadKey(w)) ?? (memory.wasSuspended && memory.record === undefined ? w.legacyReplicas : undefined);
    if (remembered !== undefined) actions.push({ workload: w, replicas: Math.max(1, remembered) });
  }
  const ready = coordinators.length === 0 ? undefined : coordinators.every((w) => w.readyReplicas > 0) && actions.length === 0;
  return { phase: ready === false ? 'Resuming' : 'Running', coordinatorReady: ready, actions, ...(actions.length === 0 && memory.record !== undefined ? { record: null } : {}) };
}

/** Milliseconds until an idle runtime should be suspended (<= 0: now); undefined: never. */
export function idleRemainingMs(idleTimeoutMs: number | undefined, lastActivity: number[], now: number): number | undefined {
  if (idleTimeoutMs === undefined) return undefined;
  const last = Math.max(...lastActivity.filter((t) => Number.isFinite(t)));
  if (!Number.isFinite(last)) return undefined;
  return last + idleTimeoutMs - now;
}
