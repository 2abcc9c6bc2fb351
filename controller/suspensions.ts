/**
 * Suspend, resume and idle suspension of each runtime, applied runtime by runtime: the decisions
 * are lifecycle.ts's (pure, golden-tested); here they are written. Workloads change only through
 * their `/scale` subresource, and the replicas to come back to are recorded on the XTrinode first.
 * Idle checks and the re-read before an idle scale-down are coordinator reads off the pass
 * (coordinator-reads.ts): a hung coordinator delays only its own runtime. Each runtime's writes go
 * through the pass's `attemptFor`, so one that fails backs off alone (object-backoff.ts).
 */
import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { ConditionType, type XTrinode } from './api/xtrinode.ts';
import type { CoordinatorActivity } from './coordinator-activity.ts';
import type { CoordinatorReads } from './coordinator-reads.ts';
import { ANNOTATION_IDLE_SUSPENDED, ANNOTATION_LAST_ACTIVITY, ANNOTATION_REPLICAS, LABEL_ROLE, LABEL_XTRINODE, decideLifecycle, idleRemainingMs, workloadKey, type LifecycleDecision, type Workload } from './lifecycle.ts';
import { WRITE_CONCURRENCY, inParallel } from './write-concurrency.ts';
import { readQueryManager } from '../lib/query-manager.ts';
import { parseDurationMs } from '../lib/duration.ts';

/** Runs one runtime's write: on failure that runtime backs off alone (the controller's pass gives it). */
export type AttemptFor = (key: string, what: string, f: () => Promise<void>) => Promise<void>;

export interface SuspensionsOptions {
  /** Clients that write only while this replica leads (leader-writes.ts). */
  objects: k8s.KubernetesObjectApi;
  apps: k8s.AppsV1Api;
  fieldManager: string;
  coordinatorReads: CoordinatorReads;
  activity: CoordinatorActivity;
  log: Logger;
  /** Counts a write made (the controller's `xtrinode_controller_api_writes_total`). */
  wrote: (kind: string, verb: string) => void;
  event: (xt: XTrinode, type: 'Normal' | 'Warning', reason: string, message: string) => Promise<void>;
}

export class Suspensions {
  /** When each runtime was last seen busy at the end of its idle time (its idle clock restarts there). */
  private readonly busySeen = new Map<string, number>();
  private readonly unknownActivityReported = new Set<string>();

  private readonly o: SuspensionsOptions;

  constructor(o: SuspensionsOptions) {
    this.o = o;
  }

  /** Phase, readiness and the scale actions of every runtime (pure: nothing is written here). */
  decide(xtrinodes: XTrinode[], deployments: k8s.ObjectCache<k8s.KubernetesObject>, statefulSets: k8s.ObjectCache<k8s.KubernetesObject>): Map<string, LifecycleDecision> {
    const byOwner = new Map<string, Workload[]>();
    for (const [cache, kind] of [[deployments, 'Deployment'], [statefulSets, 'StatefulSet']] as const) {
      for (const w of cache.list()) {
        const owner = w.metadata?.labels?.[LABEL_XTRINODE];
        if (!owner) continue;
        const key = `${w.metadata!.namespace}/${owner}`;
        const spec = (w as { spec?: { replicas?: number } }).spec;
        const st = (w as { status?: { readyReplicas?: number } }).status;
        const legacy = Number(w.metadata?.annotations?.[ANNOTATION_REPLICAS] ?? NaN);
        const list = byOwner.get(key) ?? [];
        list.push({ kind, namespace: w.metadata!.namespace!, name: w.metadata!.name!, role: w.metadata?.labels?.[LABEL_ROLE] === 'coordinator' ? 'coordinator' : 'worker', replicas: spec?.replicas ?? 1, readyReplicas: st?.readyReplicas ?? 0, ...(Number.isInteger(legacy) && legacy >= 0 ? { legacyReplicas: legacy } : {}) });
        byOwner.set(key, list);
      }
    }
    const decisions = new Map<string, LifecycleDecision>();
    for (const xt of xtrinodes) {
      const key = `${xt.metadata.namespace}/${xt.metadata.name}`;
      decisions.set(key, decideLifecycle((xt.spec as { suspend?: boolean } | undefined)?.suspend === true, byOwner.get(key) ?? [], { record: xt.metadata.annotations?.[ANNOTATION_REPLICAS], wasSuspended: xt.status?.phase === 'Suspended' }));
    }
    return decisions;
  }

  /**
   * Scales workloads for spec.suspend (scale-downs only once `routesSettled`: the routes already
   * lead to the router) and suspends idle runtimes. One runtime's failure does not stop the others.
   */
  async apply(xtrinodes: XTrinode[], decisions: Map<string, LifecycleDecision>, routesSettled: boolean, attemptFor: AttemptFor, origins: Map<string, string | undefined>): Promise<number> {
    let nextIdleCheck = Infinity;
    // What is remembered of runtimes that are gone goes with them.
    const present = new Set(xtrinodes.map((x) => `${x.metadata.namespace}/${x.metadata.name}`));
    for (const key of this.busySeen.keys()) if (!present.has(key)) this.busySeen.delete(key);
    for (const key of this.unknownActivityReported) if (!present.has(key)) this.unknownActivityReported.delete(key);
    this.o.activity.retain(present);
    const now = Date.now();
    // Coordinator reads (idle checks, the re-read before an idle scale-down) run off the pass
    // (coordinator-reads.ts): a hung coordinator delays its own runtime's lifecycle only. The
    // writes here go WRITE_CONCURRENCY runtimes at a time.
    await inParallel(xtrinodes, WRITE_CONCURRENCY, async (xt) => {
      const key = `${xt.metadata.namespace}/${xt.metadata.name}`;
      const spec = (xt.spec ?? {}) as { suspend?: boolean; idleTimeout?: string };
      const d = decisions.get(key)!;
      const idleSuspendedAt = xt.metadata.annotations?.[ANNOTATION_IDLE_SUSPENDED];
      if (spec.suspend && idleSuspendedAt && routesSettled && d.actions.some((a) => a.replicas === 0)) {
        // An idle suspension: the routes lead to the router now, but queries may have started on
        // the coordinator since the idle decision (a poll-less client, a query by another path).
        // Re-read it right before scaling to 0; queries there cancel the suspension.
        const origin = origins.get(key);
        // Off the pass (coordinator-reads.ts): the answer starts the pass that scales down.
        const reread = this.o.coordinatorReads.take(`${key} before-scale-down`, async () => ({ figures: origin ? await readQueryManager(origin, 3000) : undefined }));
        if (!reread) return;
        const f = reread.value.figures;
        if (f && Math.max(f.alive ?? 0, f.running + f.queued) > 0) {
          await attemptFor(key, 'cancel idle suspension', async () => {
            await this.patchXTrinode(xt, { [ANNOTATION_IDLE_SUSPENDED]: null }, { suspend: false });
            this.o.wrote('XTrinode', 'idle-suspend-cancel');
            this.o.log.info({ xtrinode: key, running: f.running, queued: f.queued }, 'idle suspension cancelled: the coordinator has queries');
            await this.o.event(xt, 'Normal', 'IdleSuspensionCancelled', `suspended at ${idleSuspendedAt} for idleness, but before its workloads were scaled down its coordinator reported ${f.running} running and ${f.queued} queued queries; it stays up.`);
          });
          return;
        }
        // No answer: nothing observable runs there (a coordinator that is down or hung); go on.
      }
      if (!spec.suspend && idleSuspendedAt) {
        // Resumed: the mark goes, so a suspension a user asks for later is not taken for an idle one.
        await attemptFor(key, 'clear the idle-suspension mark', async () => {
          await this.patchXTrinode(xt, { [ANNOTATION_IDLE_SUSPENDED]: null });
          this.o.wrote('XTrinode', 'patch');
        });
      }
      const scalingDown = d.actions.some((a) => a.replicas === 0);
      if (!(scalingDown && !routesSettled)) { // a scale-down waits for the pass in which the Gateway took the routes
        let recorded = true;
        if (typeof d.record === 'string') {
          // The replicas to come back to, on the XTrinode, before anything is scaled down.
          recorded = false;
          await attemptFor(key, 'record the replicas before suspending', async () => {
            await this.patchXTrinode(xt, { [ANNOTATION_REPLICAS]: d.record as string });
            this.o.wrote('XTrinode', 'patch');
            recorded = true;
          });
        }
        if (recorded) {
          for (const a of d.actions) {
            await attemptFor(key, `scale ${a.workload.kind} ${a.workload.namespace}/${a.workload.name} to ${a.replicas}`, async () => {
              await this.scale(a.workload, a.replicas);
              this.o.wrote(a.workload.kind, 'scale');
              this.o.log.info({ xtrinode: key, workload: workloadKey(a.workload), replicas: a.replicas }, spec.suspend ? 'suspending' : 'resuming');
            });
          }
        }
        if (d.record === null) {
          await attemptFor(key, 'remove the replicas recorded for the suspension', async () => {
            await this.patchXTrinode(xt, { [ANNOTATION_REPLICAS]: null });
            this.o.wrote('XTrinode', 'patch');
          });
        }
      }
      if (d.phase === 'Running' && d.coordinatorReady === true && spec.idleTimeout) {
        let timeout: number | undefined;
        try {
          timeout = parseDurationMs(spec.idleTimeout);
        } catch {
          timeout = undefined;
        }
        const readySince = xt.status?.conditions?.find((c) => c.type === ConditionType.Ready && c.status === 'True')?.lastTransitionTime;
        const origin = origins.get(key);
        if (origin && !this.o.activity.hasBaseline(key)) this.o.coordinatorReads.take(`${key} baseline`, () => this.o.activity.baseline(key, origin));
        let remaining = idleRemainingMs(timeout, [Date.parse(xt.metadata.annotations?.[ANNOTATION_LAST_ACTIVITY] ?? ''), Date.parse(readySince ?? ''), Date.parse(xt.metadata.creationTimestamp ?? ''), this.busySeen.get(key) ?? NaN], now);
        if (remaining !== undefined && remaining <= 0) {
          // The coordinator's own view decides (coordinator-activity.ts): busy or silent is not
          // idle. Asked off the pass (coordinator-reads.ts); its answer starts the next pass.
          const answer = this.o.coordinatorReads.take(`${key} idle`, () => this.o.activity.check(key, origin, timeout!));
          if (!answer) return;
          const seen = answer.value;
          if (seen.state === 'busy' && seen.retryInMs !== undefined) remaining = seen.retryInMs; // quiet, but not for a whole idle time yet
          else if (seen.state !== 'idle') {
            this.busySeen.set(key, now);
            remaining = timeout;
            this.o.log.info({ xtrinode: key, activity: seen.state, why: seen.why }, 'idle time is up, but the coordinator is not idle: not suspended');
            if (seen.state === 'unknown' && !this.unknownActivityReported.has(key)) {
              this.unknownActivityReported.add(key);
              await this.o.event(xt, 'Warning', 'IdleUnknown', `idleTimeout ${spec.idleTimeout} passed but the runtime is not suspended: ${seen.why}. It is suspended only when its coordinator reports no queries.`);
            }
          }
        }
        if (remaining !== undefined && remaining <= 0) {
          this.busySeen.delete(key);
          this.o.activity.forget(key);
          await attemptFor(key, 'idle suspension', async () => {
            await this.patchXTrinode(xt, { [ANNOTATION_IDLE_SUSPENDED]: new Date().toISOString() }, { suspend: true });
            this.o.wrote('XTrinode', 'idle-suspend');
            await this.o.event(xt, 'Normal', 'IdleSuspended', `no query for ${spec.idleTimeout}; suspended. The next query through the gateway resumes it.`);
          });
        } else if (remaining !== undefined) nextIdleCheck = Math.min(nextIdleCheck, remaining);
      }
    });
    return nextIdleCheck;
  }

  /**
   * Sets a workload's replicas through its `/scale` subresource: the controller's RBAC has
   * `deployments/scale` and `statefulsets/scale`, not `patch` on the workloads themselves.
   */
  private async scale(w: Workload, replicas: number): Promise<void> {
    const req = { name: w.name, namespace: w.namespace, body: { spec: { replicas } }, fieldManager: this.o.fieldManager };
    const opts = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
    if (w.kind === 'Deployment') await this.o.apps.patchNamespacedDeploymentScale(req, opts);
    else await this.o.apps.patchNamespacedStatefulSetScale(req, opts);
  }

  /** A merge patch of an XTrinode's annotations (null removes one) and, when given, its spec. */
  private async patchXTrinode(xt: XTrinode, annotations: Record<string, string | null>, spec?: Record<string, unknown>): Promise<void> {
    await this.o.objects.patch(
      { apiVersion: xt.apiVersion, kind: xt.kind, metadata: { name: xt.metadata.name, namespace: xt.metadata.namespace, annotations }, ...(spec ? { spec } : {}) } as unknown as k8s.KubernetesObject,
      undefined, undefined, this.o.fieldManager, undefined, k8s.PatchStrategy.MergePatch,
    );
  }
}
