/**
 * The controller: informers on XTrinodes, Services and the objects it generates; one
 * level-triggered reconcile through the pure translation; server-side apply with one field
 * manager, writing only what differs; status conditions on every XTrinode, including whether the
 * Gateway implementation accepted its routes (read from HTTPRoute.status.parents, never written).
 *
 * @example
 * const c = new Controller({ kubeConfig, settings, identity: hostname(), leaseNamespace: 'xtrinode-system' });
 * await c.start();
 */
import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import pino from 'pino';
import { Counter, Gauge, Registry } from 'prom-client';
import { GROUP, PLURAL, VERSION, ConditionType, type Condition, type XTrinode, type XTrinodeStatus } from './api/xtrinode.ts';
import { translate, LABEL_MANAGED_BY, MANAGED_BY } from './translate/translate.ts';
import type { GatewaySettings } from './translate/settings.ts';
import { WorkQueue } from './work-queue.ts';
import { GatewayFeatures } from './gateway-features.ts';
import { LeaderElector } from './leader-election.ts';
import { ANNOTATION_LAST_ACTIVITY, ANNOTATION_REPLICAS, LABEL_ROLE, LABEL_XTRINODE, decideLifecycle, idleRemainingMs, type LifecycleDecision, type Workload } from './lifecycle.ts';
import { parseDurationMs } from '../lib/duration.ts';

export const FIELD_MANAGER = 'xtrinode-controller';
/** API writes in flight at once within one reconcile. */
const WRITE_CONCURRENCY = 8;
const RECONCILE_KEY = 'routes';

export interface ControllerOptions {
  kubeConfig: k8s.KubeConfig;
  settings: GatewaySettings;
  /**
   * `auto`: balance shared groups by weighted backendRefs when the GatewayClass lists
   * HTTPRouteBackendRequestHeaderModification, through the router otherwise (re-read every 30 s).
   * Unset: `settings.sharedGroupPath` as given.
   */
  sharedGroups?: 'auto';
  identity: string;
  leaseNamespace: string;
  leaseName?: string;
  logger?: Logger;
  registry?: Registry;
}

type Obj = k8s.KubernetesObject & Record<string, unknown>;

export class Controller {
  readonly registry: Registry;
  /** API writes by kind and verb (apply, delete, status, event). */
  readonly writes: Counter<'kind' | 'verb'>;
  private readonly reconciles: Counter<'result'>;
  private readonly o: ControllerOptions;
  private readonly log: Logger;
  private readonly objects: k8s.KubernetesObjectApi;
  private readonly custom: k8s.CustomObjectsApi;
  private readonly core: k8s.CoreV1Api;
  private readonly queue: WorkQueue;
  private readonly elector: LeaderElector;
  private readonly informers: Array<{ name: string; informer: k8s.Informer<Obj> & k8s.ObjectCache<Obj> }> = [];
  private xts!: k8s.ObjectCache<Obj>;
  private services!: k8s.ObjectCache<Obj>;
  private routes!: k8s.ObjectCache<Obj>;
  private grants!: k8s.ObjectCache<Obj>;
  private configMaps!: k8s.ObjectCache<Obj>;
  private deployments!: k8s.ObjectCache<Obj>;
  private statefulSets!: k8s.ObjectCache<Obj>;
  private idleTimer: NodeJS.Timeout | undefined;
  private featuresTimer: NodeJS.Timeout | undefined;
  private readonly features: GatewayFeatures | undefined;
  private sharedGroupPath: GatewaySettings['sharedGroupPath'];
  private stopped = false;

  constructor(o: ControllerOptions) {
    this.o = o;
    this.log = o.logger ?? pino({ base: { component: 'controller' } });
    this.registry = o.registry ?? new Registry();
    this.writes = new Counter({ name: 'xtrinode_controller_api_writes_total', help: 'Writes to the API server', labelNames: ['kind', 'verb'], registers: [this.registry] });
    this.reconciles = new Counter({ name: 'xtrinode_controller_reconciles_total', help: 'Reconciles by result', labelNames: ['result'], registers: [this.registry] });
    const queueDepth = () => this.queue.length;
    new Gauge({ name: 'xtrinode_controller_queue_depth', help: 'Keys waiting', registers: [this.registry], collect() { this.set(queueDepth()); } });
    this.objects = k8s.KubernetesObjectApi.makeApiClient(o.kubeConfig);
    this.custom = o.kubeConfig.makeApiClient(k8s.CustomObjectsApi);
    this.core = o.kubeConfig.makeApiClient(k8s.CoreV1Api);
    this.sharedGroupPath = o.settings.sharedGroupPath;
    if (o.sharedGroups === 'auto') this.features = new GatewayFeatures(this.custom, o.settings.gateway);
    this.queue = new WorkQueue((key) => this.reconcile(key), {
      coalesceMs: 100,
      onError: (key, err, retry) => {
        this.reconciles.inc({ result: 'error' });
        this.log.warn({ key, err: errorText(err), retryInMs: retry }, 'reconcile failed; retrying');
      },
    });
    this.elector = new LeaderElector({
      api: o.kubeConfig.makeApiClient(k8s.CoordinationV1Api),
      namespace: o.leaseNamespace,
      name: o.leaseName ?? 'xtrinode-controller',
      identity: o.identity,
      onStartedLeading: () => {
        this.log.info({ identity: o.identity }, 'became leader');
        this.queue.start();
        this.queue.add(RECONCILE_KEY);
      },
      onError: (err) => this.log.debug({ err: errorText(err) }, 'lease acquire/renew failed'),
      onStoppedLeading: () => {
        // reconcile() checks leadership before every pass, so nothing more is written.
        this.log.warn({ identity: o.identity }, 'lost leadership; no more writes until re-elected');
      },
    });
  }

  get isLeader(): boolean {
    return this.elector.isLeader;
  }

  async start(): Promise<void> {
    const s = this.o.settings;
    const sel = `${LABEL_MANAGED_BY}=${MANAGED_BY}`;
    this.xts = await this.watch('xtrinodes', `/apis/${GROUP}/${VERSION}/${PLURAL}`, () => this.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL }) as Promise<k8s.KubernetesListObject<Obj>>);
    this.services = await this.watch('services', '/api/v1/services', () => this.core.listServiceForAllNamespaces() as unknown as Promise<k8s.KubernetesListObject<Obj>>);
    this.routes = await this.watch('httproutes', `/apis/gateway.networking.k8s.io/v1/namespaces/${s.gatewayNamespace}/httproutes`, () => this.custom.listNamespacedCustomObject({ group: 'gateway.networking.k8s.io', version: 'v1', namespace: s.gatewayNamespace, plural: 'httproutes', labelSelector: sel }) as Promise<k8s.KubernetesListObject<Obj>>, sel);
    this.grants = await this.watch('referencegrants', '/apis/gateway.networking.k8s.io/v1beta1/referencegrants', () => this.custom.listClusterCustomObject({ group: 'gateway.networking.k8s.io', version: 'v1beta1', plural: 'referencegrants', labelSelector: sel }) as Promise<k8s.KubernetesListObject<Obj>>, sel);
    this.configMaps = await this.watch('configmaps', `/api/v1/namespaces/${s.gatewayNamespace}/configmaps`, () => this.core.listNamespacedConfigMap({ namespace: s.gatewayNamespace, labelSelector: sel }) as unknown as Promise<k8s.KubernetesListObject<Obj>>, sel);
    const apps = this.o.kubeConfig.makeApiClient(k8s.AppsV1Api);
    this.deployments = await this.watch('deployments', '/apis/apps/v1/deployments', () => apps.listDeploymentForAllNamespaces({ labelSelector: LABEL_XTRINODE }) as unknown as Promise<k8s.KubernetesListObject<Obj>>, LABEL_XTRINODE);
    this.statefulSets = await this.watch('statefulsets', '/apis/apps/v1/statefulsets', () => apps.listStatefulSetForAllNamespaces({ labelSelector: LABEL_XTRINODE }) as unknown as Promise<k8s.KubernetesListObject<Obj>>, LABEL_XTRINODE);
    this.elector.start();
    if (this.features) {
      this.featuresTimer = setInterval(() => void this.checkFeatures(), 30_000);
      this.featuresTimer.unref();
    }
  }

  /**
   * Re-reads what the Gateway supports; from the timer, a change of the shared-group mode triggers
   * a reconcile (a reconcile that asks uses the new mode itself).
   */
  private async checkFeatures(fromReconcile = false): Promise<void> {
    if (!this.features) return;
    const { path, reason } = await this.features.sharedGroupPath();
    if (path !== this.sharedGroupPath) {
      this.log.info({ sharedGroups: path, reason }, 'shared groups balanced by a new mode');
      this.sharedGroupPath = path;
      if (!fromReconcile) this.queue.add(RECONCILE_KEY);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    if (this.featuresTimer) clearInterval(this.featuresTimer);
    this.queue.stop();
    await this.elector.stop();
    await Promise.all(this.informers.map((i) => i.informer.stop().catch(() => undefined)));
  }

  /** Resolves once the queue has nothing to do (tests and benchmarks). */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  private async watch(name: string, path: string, list: () => Promise<k8s.KubernetesListObject<Obj>>, labelSelector?: string): Promise<k8s.ObjectCache<Obj>> {
    const informer = k8s.makeInformer<Obj>(this.o.kubeConfig, path, list, labelSelector);
    const enqueue = () => this.queue.add(RECONCILE_KEY);
    informer.on('add', enqueue);
    informer.on('update', enqueue);
    informer.on('delete', enqueue);
    informer.on('error', (err: unknown) => {
      if (this.stopped) return;
      this.log.warn({ informer: name, err: errorText(err) }, 'watch failed; re-listing in 1s');
      setTimeout(() => {
        if (!this.stopped) informer.start().then(enqueue, () => undefined);
      }, 1000);
    });
    await informer.start();
    this.informers.push({ name, informer });
    return informer;
  }

  private async reconcile(_key: string): Promise<void> {
    if (!this.elector.isLeader) return;
    const xtrinodes = this.xts.list() as unknown as XTrinode[];
    const lifecycle = await this.reconcileLifecycle(xtrinodes);
    const notReady = new Set([...lifecycle].filter(([, d]) => d.coordinatorReady === false).map(([k]) => k));
    await this.checkFeatures(true);
    const settings = { ...this.o.settings, sharedGroupPath: this.sharedGroupPath };
    const out = translate({ xtrinodes, services: this.services.list() as never, settings, notReady });

    // 1. Apply what differs: grants before the routes that need them, the route table last.
    const desiredKeys = new Set(out.objects.map(objKey));
    const changed = out.objects.filter((obj) => {
      const live = this.cacheFor(obj.kind)?.get(obj.metadata.name, obj.metadata.namespace);
      const { apiVersion: _a, kind: _k, ...fields } = obj; // typed list items carry no apiVersion/kind
      return !live || !contains(live, fields);
    });
    for (const kind of ['ReferenceGrant', 'HTTPRoute', 'ConfigMap']) {
      await inParallel(changed.filter((o) => o.kind === kind), WRITE_CONCURRENCY, async (obj) => {
        await this.objects.patch(obj as k8s.KubernetesObject, undefined, undefined, FIELD_MANAGER, true, k8s.PatchStrategy.ServerSideApply);
        this.writes.inc({ kind: obj.kind, verb: 'apply' });
      });
    }
    // 2. Delete generated objects nobody wants any more (also across namespaces).
    const managed: Array<[k8s.ObjectCache<Obj>, string, string]> = [
      [this.routes, 'gateway.networking.k8s.io/v1', 'HTTPRoute'],
      [this.grants, 'gateway.networking.k8s.io/v1beta1', 'ReferenceGrant'],
      [this.configMaps, 'v1', 'ConfigMap'],
    ];
    const stale = managed.flatMap(([cache, apiVersion, kind]) => cache.list()
      .filter((item) => item.metadata?.labels?.[LABEL_MANAGED_BY] === MANAGED_BY)
      .map((item) => ({ apiVersion, kind, metadata: { name: item.metadata!.name!, namespace: item.metadata!.namespace! } }))
      .filter((o) => !desiredKeys.has(objKey(o))));
    await inParallel(stale, WRITE_CONCURRENCY, async (o) => {
      try {
        await this.objects.delete(o);
      } catch (e) {
        if ((e as { code?: number }).code !== 404) throw e;
      }
      this.writes.inc({ kind: o.kind, verb: 'delete' });
    });
    // 3. Status of every XTrinode whose status differs.
    const statusWrites: Array<{ live: XTrinode; merged: XTrinodeStatus }> = [];
    for (const [key, report] of out.statuses) {
      const [namespace, name] = key.split('/') as [string, string];
      const live = this.xts.get(name, namespace) as unknown as XTrinode | undefined;
      if (!live) continue;
      const merged = mergeStatus(live.status, this.withGatewayConditions(report.status, live, lifecycle.get(key)));
      if (!sameStatus(live.status, merged)) statusWrites.push({ live, merged });
    }
    await inParallel(statusWrites, WRITE_CONCURRENCY, async ({ live, merged }) => {
      try {
        await this.custom.patchNamespacedCustomObjectStatus(
          { group: GROUP, version: VERSION, namespace: live.metadata.namespace!, plural: PLURAL, name: live.metadata.name, body: { status: merged } },
          k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
        );
        this.writes.inc({ kind: 'XTrinode', verb: 'status' });
      } catch (e) {
        if ((e as { code?: number }).code !== 404) throw e; // deleted meanwhile
        return;
      }
      await this.eventOnChange(live, merged);
    });
    this.reconciles.inc({ result: 'ok' });
  }

  private cacheFor(kind: string): k8s.ObjectCache<Obj> | undefined {
    return kind === 'HTTPRoute' ? this.routes : kind === 'ReferenceGrant' ? this.grants : kind === 'ConfigMap' ? this.configMaps : undefined;
  }

  /** Adds Programmed (from HTTPRoute.status.parents) and Ready to the translated status. */
  private withGatewayConditions(status: XTrinodeStatus, live: XTrinode, life: LifecycleDecision | undefined): XTrinodeStatus {
    const gen = live.metadata.generation;
    const conditions = [...(status.conditions ?? [])];
    status = { ...status };
    delete status.phase;
    if (life?.phase) status.phase = life.phase;
    const gw = this.o.settings.gateway;
    const routeNames = status.routes ?? [];
    let programmed: Condition | undefined;
    if (conditions.some((c) => c.type === ConditionType.Accepted && c.reason === 'InvalidSpec')) {
      programmed = { type: ConditionType.Programmed, status: 'False', reason: 'InvalidSpec', message: 'no routes: the spec is invalid' };
    } else {
      const pending: string[] = [];
      for (const rn of routeNames) {
        const route = this.routes.get(rn, this.o.settings.gatewayNamespace) as { status?: { parents?: Array<{ parentRef: { name: string; namespace?: string }; controllerName?: string; conditions?: Condition[] }> } } | undefined;
        const parent = route?.status?.parents?.find((p) => p.parentRef.name === gw.name && (p.parentRef.namespace ?? this.o.settings.gatewayNamespace) === gw.namespace);
        const accepted = parent?.conditions?.find((c) => c.type === 'Accepted');
        if (!accepted) {
          pending.push(rn);
          continue;
        }
        if (accepted.status !== 'True') {
          programmed ??= { type: ConditionType.Programmed, status: 'False', reason: accepted.reason || 'NotAccepted', message: `Gateway ${gw.namespace}/${gw.name} (${parent?.controllerName ?? 'unknown implementation'}) did not accept HTTPRoute ${rn}: ${accepted.message}` };
        }
      }
      programmed ??= pending.length > 0
        ? { type: ConditionType.Programmed, status: 'Unknown', reason: 'Pending', message: `waiting for Gateway ${gw.namespace}/${gw.name} to accept HTTPRoute ${pending.join(', ')} (is a Gateway API implementation running?)` }
        : { type: ConditionType.Programmed, status: 'True', reason: 'Accepted', message: `Gateway ${gw.namespace}/${gw.name} accepted ${routeNames.join(', ')}` };
    }
    if (gen !== undefined) programmed.observedGeneration = gen;
    conditions.push(programmed);
    const notReady = conditions.find((c) => (c.type === ConditionType.Accepted && c.reason === 'InvalidSpec') || (c.type !== ConditionType.Accepted && c.status !== 'True'));
    const ready: Condition = life?.coordinatorReady === false
      ? { type: ConditionType.Ready, status: 'False', reason: life.phase ?? 'NotReady', message: life.phase === 'Resuming' ? 'the coordinator is starting; queries wait in the router' : `the runtime is ${(life.phase ?? 'not ready').toLowerCase()}; a query through the gateway resumes it` }
      : notReady
      ? { type: ConditionType.Ready, status: notReady.status === 'Unknown' ? 'Unknown' : 'False', reason: notReady.reason, message: `${notReady.type}: ${notReady.message}` }
      : { type: ConditionType.Ready, status: 'True', reason: 'Ready', message: 'routes accepted and coordinator Service resolved' };
    if (gen !== undefined) ready.observedGeneration = gen;
    conditions.push(ready);
    return { ...status, conditions };
  }

  /** Scales workloads for spec.suspend, decides phase and readiness, suspends idle runtimes. */
  private async reconcileLifecycle(xtrinodes: XTrinode[]): Promise<Map<string, LifecycleDecision>> {
    const byOwner = new Map<string, Workload[]>();
    for (const [cache, kind] of [[this.deployments, 'Deployment'], [this.statefulSets, 'StatefulSet']] as const) {
      for (const w of cache.list()) {
        const owner = w.metadata?.labels?.[LABEL_XTRINODE];
        if (!owner) continue;
        const key = `${w.metadata!.namespace}/${owner}`;
        const spec = (w as { spec?: { replicas?: number } }).spec;
        const st = (w as { status?: { readyReplicas?: number } }).status;
        const remembered = w.metadata?.annotations?.[ANNOTATION_REPLICAS];
        const list = byOwner.get(key) ?? [];
        list.push({ kind, namespace: w.metadata!.namespace!, name: w.metadata!.name!, role: w.metadata?.labels?.[LABEL_ROLE] === 'coordinator' ? 'coordinator' : 'worker', replicas: spec?.replicas ?? 1, readyReplicas: st?.readyReplicas ?? 0, rememberedReplicas: remembered === undefined ? undefined : Number(remembered) });
        byOwner.set(key, list);
      }
    }
    const decisions = new Map<string, LifecycleDecision>();
    let nextIdleCheck = Infinity;
    const now = Date.now();
    for (const xt of xtrinodes) {
      const key = `${xt.metadata.namespace}/${xt.metadata.name}`;
      const spec = (xt.spec ?? {}) as { suspend?: boolean; idleTimeout?: string };
      const d = decideLifecycle(spec.suspend === true, byOwner.get(key) ?? []);
      decisions.set(key, d);
      for (const a of d.actions) {
        await this.objects.patch(
          { apiVersion: 'apps/v1', kind: a.workload.kind, metadata: { name: a.workload.name, namespace: a.workload.namespace, annotations: { [ANNOTATION_REPLICAS]: a.remember } }, spec: { replicas: a.replicas } } as unknown as k8s.KubernetesObject,
          undefined, undefined, FIELD_MANAGER, undefined, k8s.PatchStrategy.MergePatch,
        );
        this.writes.inc({ kind: a.workload.kind, verb: 'scale' });
        this.log.info({ xtrinode: key, workload: `${a.workload.kind}/${a.workload.name}`, replicas: a.replicas }, spec.suspend ? 'suspending' : 'resuming');
      }
      if (d.phase === 'Running' && d.coordinatorReady === true && spec.idleTimeout) {
        let timeout: number | undefined;
        try {
          timeout = parseDurationMs(spec.idleTimeout);
        } catch {
          timeout = undefined;
        }
        const readySince = xt.status?.conditions?.find((c) => c.type === ConditionType.Ready && c.status === 'True')?.lastTransitionTime;
        const remaining = idleRemainingMs(timeout, [Date.parse(xt.metadata.annotations?.[ANNOTATION_LAST_ACTIVITY] ?? ''), Date.parse(readySince ?? ''), Date.parse(xt.metadata.creationTimestamp ?? '')], now);
        if (remaining !== undefined && remaining <= 0) {
          await this.objects.patch({ apiVersion: xt.apiVersion, kind: xt.kind, metadata: { name: xt.metadata.name, namespace: xt.metadata.namespace }, spec: { suspend: true } } as unknown as k8s.KubernetesObject, undefined, undefined, FIELD_MANAGER, undefined, k8s.PatchStrategy.MergePatch);
          this.writes.inc({ kind: 'XTrinode', verb: 'idle-suspend' });
          await this.event(xt, 'Normal', 'IdleSuspended', `no query for ${spec.idleTimeout}; suspended. The next query through the gateway resumes it.`);
        } else if (remaining !== undefined) nextIdleCheck = Math.min(nextIdleCheck, remaining);
      }
    }
    if (this.idleTimer) clearTimeout(this.idleTimer);
    if (Number.isFinite(nextIdleCheck)) {
      this.idleTimer = setTimeout(() => this.queue.add(RECONCILE_KEY), Math.min(nextIdleCheck + 50, 2 ** 31 - 1));
      this.idleTimer.unref();
    }
    return decisions;
  }

  private async event(xt: XTrinode, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const now = new Date();
    try {
      await this.core.createNamespacedEvent({
        namespace: xt.metadata.namespace!,
        body: {
          metadata: { generateName: `${xt.metadata.name}.`, namespace: xt.metadata.namespace },
          involvedObject: { apiVersion: xt.apiVersion, kind: xt.kind, name: xt.metadata.name, namespace: xt.metadata.namespace, uid: xt.metadata.uid },
          type,
          reason,
          message: message.slice(0, 1024),
          source: { component: FIELD_MANAGER },
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      });
      this.writes.inc({ kind: 'Event', verb: 'create' });
    } catch (e) {
      this.log.debug({ err: errorText(e) }, 'event not recorded');
    }
  }

  /** Events for notable changes of Accepted: a selector lost or regained, the spec turning invalid or valid. */
  private async eventOnChange(xt: XTrinode, status: XTrinodeStatus): Promise<void> {
    const now = status.conditions?.find((c) => c.type === ConditionType.Accepted);
    const before = xt.status?.conditions?.find((c) => c.type === ConditionType.Accepted);
    if (!now || (before?.status === now.status && before.reason === now.reason)) return;
    if (!before && now.status === 'True') return; // a first, plain acceptance is in the status; no event noise
    await this.event(xt, now.status === 'True' ? 'Normal' : 'Warning', now.reason, now.message);
  }
}

/** Runs `f` over `items`, at most `n` at a time. */
async function inParallel<T>(items: T[], n: number, f: (x: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (i < items.length) await f(items[i++]!);
  }));
}

function objKey(o: { kind?: string; metadata?: { namespace?: string; name?: string } }): string {
  return `${o.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
}

/** True when every field of `want` is present with the same value in `have` (extra defaults in `have` are fine). */
export function contains(have: unknown, want: unknown): boolean {
  if (want === null || typeof want !== 'object') return have === want;
  if (Array.isArray(want)) {
    return Array.isArray(have) && have.length === want.length && want.every((w, i) => contains(have[i], w));
  }
  if (have === null || typeof have !== 'object' || Array.isArray(have)) return false;
  const h = have as Record<string, unknown>;
  return Object.entries(want as Record<string, unknown>).every(([k, v]) => contains(h[k], v));
}

/** Keeps lastTransitionTime of conditions whose status did not change; stamps the others. */
function mergeStatus(live: XTrinodeStatus | undefined, desired: XTrinodeStatus): XTrinodeStatus {
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const conditions = (desired.conditions ?? []).map((c) => {
    const prev = live?.conditions?.find((p) => p.type === c.type);
    return { ...c, lastTransitionTime: prev && prev.status === c.status && prev.lastTransitionTime ? prev.lastTransitionTime : now };
  });
  const out: XTrinodeStatus = { ...desired, conditions };
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  // fields the translation no longer sets are removed by sending null (merge patch)
  for (const k of ['hostname', 'hostnames', 'headerSelector', 'phase', 'routingGroup', 'routes']) if (!(k in out) && live && k in live) out[k] = null;
  return out;
}

function sameStatus(live: XTrinodeStatus | undefined, merged: XTrinodeStatus): boolean {
  if (!live) return false;
  if (Object.entries(merged).some(([k, v]) => v === null && k in live)) return false;
  const want = Object.fromEntries(Object.entries(merged).filter(([, v]) => v !== null));
  return contains(live, want) && contains(want, live); // equal, whatever the key order
}

function errorText(e: unknown): string {
  if (e && typeof e === 'object' && 'body' in e) return `${(e as { code?: number }).code ?? ''} ${String((e as { body: unknown }).body).slice(0, 500)}`;
  return e instanceof Error ? e.message : String(e);
}
