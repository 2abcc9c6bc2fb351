/**
 * Suspend and resume of a runtime's workloads, as pure decisions the controller then applies.
 *
 * Workloads: the Deployments and StatefulSets labelled `analytics.xtrinode.io/xtrinode=<name>` in
 * the XTrinode's namespace (role from `analytics.xtrinode.io/role`: coordinator | worker; without
 * it, worker). A label rather than names in the spec: the controller then watches only labelled
 * workloads and never caches every Deployment of the cluster. Suspending scales them to 0 and remembers the replicas
 * in the workload's annotation `analytics.xtrinode.io/replicas-before-suspend`; resuming restores them.
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
/** Written by the router: when this runtime last served a request (RFC 3339). */
export const ANNOTATION_LAST_ACTIVITY = 'analytics.xtrinode.io/last-activity';

export interface Workload {
  kind: 'Deployment' | 'StatefulSet';
  namespace: string;
  name: string;
  role: 'coordinator' | 'worker';
  replicas: number;
  readyReplicas: number;
  rememberedReplicas: number | undefined;
}

export type Phase = 'Running' | 'Suspending' | 'Suspended' | 'Resuming';

export interface ScaleAction {
  workload: Workload;
  replicas: number;
  /** Annotation value to set (string) or remove (null). */
  remember: string | null;
}

export interface LifecycleDecision {
  phase: Phase | undefined;
  /** Coordinator ready for queries; undefined when no workload is known (not managed here). */
  coordinatorReady: boolean | undefined;
  actions: ScaleAction[];
}

export function decideLifecycle(suspend: boolean, workloads: Workload[]): LifecycleDecision {
  if (workloads.length === 0) return { phase: suspend ? 'Suspended' : undefined, coordinatorReady: suspend ? false : undefined, actions: [] };
  const actions: ScaleAction[] = [];
  const coordinators = workloads.filter((w) => w.role === 'coordinator');
  if (suspend) {
    for (const w of workloads) {
      if (w.replicas > 0) actions.push({ workload: w, replicas: 0, remember: String(w.replicas) });
    }
    const allDown = workloads.every((w) => w.replicas === 0 && w.readyReplicas === 0);
    return { phase: allDown ? 'Suspended' : 'Suspending', coordinatorReady: false, actions };
  }
  for (const w of workloads) {
    if (w.replicas === 0 && w.rememberedReplicas !== undefined) actions.push({ workload: w, replicas: Math.max(1, w.rememberedReplicas), remember: null });
    else if (w.replicas > 0 && w.rememberedReplicas !== undefined) actions.push({ workload: w, replicas: w.replicas, remember: null });
  }
  const ready = coordinators.length === 0 ? undefined : coordinators.every((w) => w.readyReplicas > 0) && actions.length === 0;
  return { phase: ready === false ? 'Resuming' : 'Running', coordinatorReady: ready, actions };
}

/** Milliseconds until an idle runtime should be suspended (<= 0: now); undefined: never. */
export function idleRemainingMs(idleTimeoutMs: number | undefined, lastActivity: number[], now: number): number | undefined {
  if (idleTimeoutMs === undefined) return undefined;
  const last = Math.max(...lastActivity.filter((t) => Number.isFinite(t)));
  if (!Number.isFinite(last)) return undefined;
  return last + idleTimeoutMs - now;
}
