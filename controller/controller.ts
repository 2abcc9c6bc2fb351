/**
 * The controller: informers on XTrinodes, Services and the objects it generates; one
 * level-triggered reconcile through the pure translation; server-side apply with one field
 * manager, writing only what differs; status conditions on every XTrinode, including whether the
 * Gateway implementation accepted its routes (read from HTTPRoute.status.parents, never written).
 * This file holds the pass and its order; each concern is its own module: the synced watches
 * (informer-sync.ts), the writes of generated objects (write-plan.ts, route-settling.ts), suspend,
 * resume and idle suspension (suspensions.ts, lifecycle.ts), drains (drain.ts), statuses
 * (status-writes.ts, status-conditions.ts), leadership (leader-election.ts, leader-writes.ts).
 *
 * @example
 * const c = new Controller({ kubeConfig, settings, identity: hostname(), leaseNamespace: 'xtrinode-system' });
 * await c.start();
 */
import { ServiceWatch } from './service-watch.ts';
import { ObjectBackoff } from './object-backoff.ts';
import { watchSynced } from './informer-sync.ts';
import { withGatewayConditions, type RouteStatusView } from './status-conditions.ts';
import { CoordinatorActivity } from './coordinator-activity.ts';
import { readQueryManager } from '../lib/query-manager.ts';
import { DEFAULT_DRAIN_TIMEOUT_MS, Drains } from './drain.ts';
import { QUERY_COUNTS_INTERVAL_MS, queryCountChanges } from './query-counts.ts';
import { RouteSettling } from './route-settling.ts';
import { planWrites, type GeneratedKind, type LiveObjects, type ObjectRef } from './write-plan.ts';
import { acceptedChange, statusWrites } from './status-writes.ts';
import type { K8sObject } from './translate/routes.ts';
import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import pino from 'pino';
import { Counter, Gauge, Registry } from 'prom-client';
import { GROUP, PLURAL, VERSION, type XTrinode, type XTrinodeStatus } from './api/xtrinode.ts';
import { translate, LABEL_MANAGED_BY, MANAGED_BY } from './translate/translate.ts';
import type { GatewaySettings } from './translate/settings.ts';
import { WorkQueue } from './work-queue.ts';
import { GatewayFeatures } from './gateway-features.ts';
import { LeaderElector } from './leader-election.ts';
import { CoordinatorReads } from './coordinator-reads.ts';
import { leaderOnlyWrites } from './leader-writes.ts';
import { reuseConnections } from './api-connections.ts';
import { ANNOTATION_LAST_ACTIVITY, LABEL_XTRINODE, type LifecycleDecision } from './lifecycle.ts';
import { Suspensions } from './suspensions.ts';
import { WRITE_CONCURRENCY, inParallel } from './write-concurrency.ts';

export const FIELD_MANAGER = 'xtrinode-controller';
/**
 * How long after its last route write the controller still assumes a request can meet the old
 * routes (route-settling.ts), even once the Gateway reported them Accepted. Traefik applies
 * provider changes at most every 2 s (providersThrottleDuration), so its status can run up to 2 s
 * ahead of what it serves: with 1 s, a suspended coordinator was scaled down while Traefik still
 * sent it requests (11 Traefik 502s in a conformance run once passes stopped waiting for
 * coordinator reads). 3 s covers the throttle with a margin.
 */
const ROUTE_GRACE_MS = 3000;
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
  /** After the Gateway accepted new routes, wait this long before taking away what old ones needed (3 s: Traefik applies changes at most every 2 s). */
  routeGraceMs?: number;
  /** Longest wait for a Gateway that does not report route status (10s). */
  routeSettleMaxMs?: number;
  /** How coordinators report their queries (tests replace the HTTP read). */
  coordinatorActivity?: CoordinatorActivity;
  /** Where a coordinator Service is reached (default: its ClusterIP; tests map it to a local port). */
  coordinatorOrigin?: (service: { namespace: string; name: string; port: number }) => string | undefined;
  /** Longest drain of a deleted XTrinode before it goes with queries still alive (30 min; drain.ts). */
  drainTimeoutMs?: number;
  /** How often running/queued of limited runtimes are read for status.queries (10 s; query-counts.ts). */
  queryCountsMs?: number;
}

type Obj = k8s.KubernetesObject & Record<string, unknown>;

export class Controller {
  readonly registry: Registry;
  /** API writes by kind and verb (apply, delete, status, event). */
  readonly writes: Counter<'kind' | 'verb'>;
  private readonly reconciles: Counter<'result'>;
  private readonly o: ControllerOptions;
  private readonly kc: k8s.KubeConfig;
  private readonly log: Logger;
  private readonly objects: k8s.KubernetesObjectApi;
  private readonly custom: k8s.CustomObjectsApi;
  private readonly core: k8s.CoreV1Api;
  private readonly queue: WorkQueue;
  private readonly elector: LeaderElector;
  private readonly informers: Array<{ name: string; informer: k8s.Informer<Obj> & k8s.ObjectCache<Obj> }> = [];
  private xts!: k8s.ObjectCache<Obj>;
  private services!: ServiceWatch;
  private routes!: k8s.ObjectCache<Obj>;
  private grants!: k8s.ObjectCache<Obj>;
  private configMaps!: k8s.ObjectCache<Obj>;
  private deployments!: k8s.ObjectCache<Obj>;
  private statefulSets!: k8s.ObjectCache<Obj>;
  private idleTimer: NodeJS.Timeout | undefined;
  private settleTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private drainTimer: NodeJS.Timeout | undefined;
  private countsTimer: NodeJS.Timeout | undefined;
  private counting = false;
  /** Coordinator origins by XTrinode key, from the last pass. */
  private origins = new Map<string, string | undefined>();
  private readonly drains: Drains;
  private readonly backoff = new ObjectBackoff();
  private readonly settling: RouteSettling;
  private readonly suspensions: Suspensions;
  /** Idle checks, re-reads before an idle scale-down and baselines, run beside the pass. */
  /** When a runtime's coordinator was last seen busy (idle time counts from there). */
  private featuresTimer: NodeJS.Timeout | undefined;
  private readonly features: GatewayFeatures | undefined;
  private sharedGroupPath: GatewaySettings['sharedGroupPath'];
  private sharedGroupReason: string | undefined;
  private stopped = false;

  constructor(o: ControllerOptions) {
    this.o = o;
    this.log = o.logger ?? pino({ base: { component: 'controller' } });
    this.registry = o.registry ?? new Registry();
    this.writes = new Counter({ name: 'xtrinode_controller_api_writes_total', help: 'Writes to the API server', labelNames: ['kind', 'verb'], registers: [this.registry] });
    this.reconciles = new Counter({ name: 'xtrinode_controller_reconciles_total', help: 'Reconciles by result', labelNames: ['result'], registers: [this.registry] });
    const queueDepth = () => this.queue.length;
    new Gauge({ name: 'xtrinode_controller_queue_depth', help: 'Keys waiting', registers: [this.registry], collect() { this.set(queueDepth()); } });
    // One connection pool for every client (api-connections.ts: client-node opens a connection
    // per request). Writes leave only while this replica leads (leader-writes.ts); the elector's
    // own Lease calls and the informers use the pooled config without that guard.
    this.kc = reuseConnections(o.kubeConfig);
    const writing = leaderOnlyWrites(this.kc, () => this.elector.isLeader);
    this.objects = k8s.KubernetesObjectApi.makeApiClient(writing);
    this.custom = writing.makeApiClient(k8s.CustomObjectsApi);
    this.core = writing.makeApiClient(k8s.CoreV1Api);
    this.sharedGroupPath = o.settings.sharedGroupPath;
    this.suspensions = new Suspensions({
      objects: this.objects,
      apps: writing.makeApiClient(k8s.AppsV1Api),
      fieldManager: FIELD_MANAGER,
      // Coordinator reads (idle checks, the re-read before an idle scale-down) run off the pass;
      // an answer starts the next one.
      coordinatorReads: new CoordinatorReads({ answered: () => this.queue.add(RECONCILE_KEY) }),
      activity: o.coordinatorActivity ?? new CoordinatorActivity(),
      log: this.log,
      wrote: (kind, verb) => this.writes.inc({ kind, verb }),
      event: (xt, type, reason, message) => this.event(xt, type, reason, message),
    });
    this.settling = new RouteSettling({ gateway: o.settings.gateway, routeNamespace: o.settings.gatewayNamespace, graceMs: o.routeGraceMs ?? ROUTE_GRACE_MS, maxWaitMs: o.routeSettleMaxMs ?? 10_000 });
    this.drains = new Drains({
      timeoutMs: o.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS,
      alive: async (origin) => {
        // Short: a pass waits for it, and a coordinator that does not answer counts as quiet anyway.
        const f = await readQueryManager(origin, 1000);
        return f ? Math.max(f.alive ?? 0, f.queued + f.running) : undefined;
      },
      setFinalizers: async (xt, finalizers) => {
        await this.custom.patchNamespacedCustomObject(
          { group: GROUP, version: VERSION, namespace: xt.metadata.namespace!, plural: PLURAL, name: xt.metadata.name, body: { metadata: { finalizers, resourceVersion: xt.metadata.resourceVersion } } },
          k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
        );
        this.writes.inc({ kind: 'XTrinode', verb: 'finalizers' });
      },
      event: (xt, reason, message) => this.event(xt as XTrinode, 'Normal', reason, message),
      log: this.log,
    });
    if (o.sharedGroups === 'auto') this.features = new GatewayFeatures(this.custom, o.settings.gateway);
    this.queue = new WorkQueue((key) => this.reconcile(key), {
      coalesceMs: 100,
      onError: (key, err, retry) => {
        this.reconciles.inc({ result: 'error' });
        this.log.warn({ key, err: errorText(err), retryInMs: retry }, 'reconcile failed; retrying');
      },
    });
    this.elector = new LeaderElector({
      api: this.kc.makeApiClient(k8s.CoordinationV1Api),
      namespace: o.leaseNamespace,
      name: o.leaseName ?? 'xtrinode-controller',
      identity: o.identity,
      onStartedLeading: () => {
        this.log.info({ identity: o.identity }, 'became leader');
        this.settling.restart(); // another leader may have changed routes an instant ago
        this.queue.start();
        this.queue.add(RECONCILE_KEY);
      },
      onError: (err) => this.log.debug({ err: errorText(err) }, 'lease acquire/renew failed'),
      onStoppedLeading: () => {
        // From now on every write is refused before it is sent (leader-writes.ts), also in a pass under way.
        this.log.warn({ identity: o.identity }, 'lost leadership; no more writes until re-elected');
      },
    });
  }

  /** Namespaces whose Services the controller watches (those with XTrinodes). */
  get serviceNamespaces(): string[] {
    return this.services.namespaces;
  }

  get isLeader(): boolean {
    return this.elector.isLeader;
  }

  async start(): Promise<void> {
    const s = this.o.settings;
    const sel = `${LABEL_MANAGED_BY}=${MANAGED_BY}`;
    this.xts = await this.watch('xtrinodes', `/apis/${GROUP}/${VERSION}/${PLURAL}`, () => this.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL }) as Promise<k8s.KubernetesListObject<Obj>>, undefined, xtrinodeChange);
    this.services = new ServiceWatch(this.kc, () => this.queue.add(RECONCILE_KEY), (namespace, err) => this.log.warn({ informer: `services in ${namespace}`, err: errorText(err) }, 'watch failed; re-listing in 1s'));
    this.routes = await this.watch('httproutes', `/apis/gateway.networking.k8s.io/v1/namespaces/${s.gatewayNamespace}/httproutes`, () => this.custom.listNamespacedCustomObject({ group: 'gateway.networking.k8s.io', version: 'v1', namespace: s.gatewayNamespace, plural: 'httproutes', labelSelector: sel }) as Promise<k8s.KubernetesListObject<Obj>>, sel);
    this.grants = await this.watch('referencegrants', '/apis/gateway.networking.k8s.io/v1beta1/referencegrants', () => this.custom.listClusterCustomObject({ group: 'gateway.networking.k8s.io', version: 'v1beta1', plural: 'referencegrants', labelSelector: sel }) as Promise<k8s.KubernetesListObject<Obj>>, sel);
    this.configMaps = await this.watch('configmaps', `/api/v1/namespaces/${s.gatewayNamespace}/configmaps`, () => this.core.listNamespacedConfigMap({ namespace: s.gatewayNamespace, labelSelector: sel }) as unknown as Promise<k8s.KubernetesListObject<Obj>>, sel);
    const apps = this.kc.makeApiClient(k8s.AppsV1Api);
    this.deployments = await this.watch('deployments', '/apis/apps/v1/deployments', () => apps.listDeploymentForAllNamespaces({ labelSelector: LABEL_XTRINODE }) as unknown as Promise<k8s.KubernetesListObject<Obj>>, LABEL_XTRINODE);
    this.statefulSets = await this.watch('statefulsets', '/apis/apps/v1/statefulsets', () => apps.listStatefulSetForAllNamespaces({ labelSelector: LABEL_XTRINODE }) as unknown as Promise<k8s.KubernetesListObject<Obj>>, LABEL_XTRINODE);
    this.elector.start();
    this.countsTimer = setInterval(() => void this.writeQueryCounts(), this.o.queryCountsMs ?? QUERY_COUNTS_INTERVAL_MS);
    this.countsTimer.unref();
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
    const { path, reason, stale } = await this.features.sharedGroupPath();
    if (stale) this.log.warn({ sharedGroups: path, err: stale }, 'could not re-read what the Gateway supports; shared groups keep their mode');
    this.sharedGroupReason = `SHARED_GROUPS=auto: ${reason}`;
    if (path !== this.sharedGroupPath) {
      this.log.info({ sharedGroups: path, reason }, 'shared groups balanced by a new mode');
      this.sharedGroupPath = path;
      if (!fromReconcile) this.queue.add(RECONCILE_KEY);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    if (this.settleTimer) clearTimeout(this.settleTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.drainTimer) clearTimeout(this.drainTimer);
    if (this.countsTimer) clearInterval(this.countsTimer);
    if (this.featuresTimer) clearInterval(this.featuresTimer);
    this.queue.stop();
    // The Lease is released only once the pass under way has ended: its writes are still this
    // leader's. Bounded: after 30 s the Lease goes anyway and the writes are refused.
    await Promise.race([this.queue.notProcessing(), new Promise((r) => setTimeout(r, 30_000).unref())]);
    await this.elector.stop();
    await Promise.all(this.informers.map((i) => i.informer.stop().catch(() => undefined)));
    await this.services?.stop();
  }

  /** Resolves once the queue has nothing to do, deferred work included (tests and benchmarks). */
  async idle(): Promise<void> {
    await this.queue.idle();
    while (this.settleTimer && !this.stopped) {
      await new Promise((r) => setTimeout(r, 50));
      await this.queue.idle();
    }
  }

  /** A cached watch (informer-sync.ts `watchSynced`) whose changes start a pass. */
  private async watch(name: string, path: string, list: () => Promise<k8s.KubernetesListObject<Obj>>, labelSelector?: string, change?: (o: Obj) => string): Promise<k8s.ObjectCache<Obj>> {
    const informer = k8s.makeInformer<Obj>(this.kc, path, list, labelSelector);
    this.informers.push({ name, informer });
    await watchSynced(informer, { name, change, onChange: () => this.queue.add(RECONCILE_KEY), stopped: () => this.stopped, log: this.log, errorText });
    return informer;
  }

  /**
   * One pass over everything, ordered so that no request meets a half-applied state:
   * grants widened (old and new Services) -> routes and the route table -> once the Gateway
   * accepted them, stale routes deleted (write-plan.ts) -> once the routes settled
   * (route-settling.ts): grants narrowed and coordinators of suspended runtimes scaled down ->
   * scale-ups, idle suspension -> statuses. Routes come before
   * lifecycle work; a write that fails is reported and retried with backoff, the others go on.
   */
  private async reconcile(_key: string): Promise<void> {
    if (!this.elector.isLeader) return;
    const xtrinodes = this.xts.list() as unknown as XTrinode[];
    await this.services.sync(new Set(xtrinodes.map((x) => x.metadata.namespace!).filter(Boolean)));
    const lifecycle = this.suspensions.decide(xtrinodes, this.deployments, this.statefulSets);
    const notReady = new Set([...lifecycle].filter(([, d]) => d.coordinatorReady === false).map(([k]) => k));
    await this.checkFeatures(true);
    const settings = { ...this.o.settings, sharedGroupPath: this.sharedGroupPath, ...(this.sharedGroupReason ? { sharedGroupReason: this.sharedGroupReason } : {}) };
    const out = translate({ xtrinodes, services: this.services.list() as never, settings, notReady, grants: this.liveGrants() });
    const failed: string[] = [];
    const attempt = async (what: string, f: () => Promise<void>) => {
      try {
        await f();
      } catch (e) {
        failed.push(`${what}: ${errorText(e)}`);
      }
    };
    // What is done for one XTrinode alone fails alone, with its own backoff (object-backoff.ts).
    // Keys this pass has work for: the backoff of any other key ends with the pass.
    const withWork = new Set<string>();
    const attemptFor = async (key: string, what: string, f: () => Promise<void>) => {
      withWork.add(key);
      if (this.backoff.waiting(key)) return;
      try {
        await f();
        this.backoff.succeeded(key);
      } catch (e) {
        const retryInMs = this.backoff.failed(key);
        this.reconciles.inc({ result: 'object-error' });
        this.log.warn({ xtrinode: key, what, err: errorText(e), retryInMs }, 'write for one XTrinode failed; the others go on');
      }
    };
    const apply = (obj: K8sObject) => attempt(`apply ${obj.kind} ${obj.metadata.namespace}/${obj.metadata.name}`, async () => {
      const res = (await this.objects.patch(obj as k8s.KubernetesObject, undefined, undefined, FIELD_MANAGER, true, k8s.PatchStrategy.ServerSideApply)) as { metadata?: { generation?: number } };
      if (obj.kind === 'HTTPRoute') this.settling.wrote(obj.metadata.name, res.metadata?.generation);
      this.writes.inc({ kind: obj.kind, verb: 'apply' });
    });
    // Generated objects (write-plan.ts): grants widened -> routes -> route table -> stale routes
    // once the Gateway accepted the rest -> grants narrowed once the routes settled.
    const routeNames = out.objects.filter((o) => o.kind === 'HTTPRoute').map((o) => o.metadata.name);
    const before = this.settling.pending((name) => this.routes.get(name, this.o.settings.gatewayNamespace) as never, routeNames);
    const remove = (o: ObjectRef) => attempt(`delete ${o.kind} ${o.metadata.namespace}/${o.metadata.name}`, async () => {
      try {
        await this.objects.delete(o);
      } catch (e) {
        if ((e as { code?: number }).code !== 404) throw e;
      }
      if (o.kind === 'HTTPRoute') this.settling.deleted(o.metadata.name);
      this.writes.inc({ kind: o.kind, verb: 'delete' });
    });
    for (const phase of planWrites({ desired: out.objects, live: this.live, routesAccepted: before.accepted, settled: before.settled })) {
      await inParallel(phase.apply, WRITE_CONCURRENCY, apply);
      await inParallel(phase.delete, WRITE_CONCURRENCY, remove);
    }
    // What only the old routes needed goes once the Gateway serves the new ones: judged again
    // after this pass's own route writes.
    const { waitingFor, settled, retryInMs } = this.settling.pending((name) => this.routes.get(name, this.o.settings.gatewayNamespace) as never, routeNames);
    if (!settled) {
      this.log.debug({ waitingFor }, 'waiting for the Gateway to take the new routes before removing old ones, narrowing grants or scaling down');
      this.settleTimer ??= setTimeout(() => {
        this.settleTimer = undefined;
        this.queue.add(RECONCILE_KEY);
      }, retryInMs).unref();
    }
    // 5. Lifecycle: scale-ups now; scale-downs once no route leads to the coordinator any more.
    const origins = new Map<string, string | undefined>();
    for (const g of out.table.groups) {
      for (const b of g.backends) {
        origins.set(b.id, this.coordinatorOrigin(b.service));
      }
    }
    this.origins = origins;
    const nextIdleCheck = await this.suspensions.apply(xtrinodes.filter((x) => !x.metadata.deletionTimestamp), lifecycle, settled, attemptFor, origins);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = Number.isFinite(nextIdleCheck) ? setTimeout(() => this.queue.add(RECONCILE_KEY), Math.min(nextIdleCheck + 50, 2 ** 31 - 1)).unref() : undefined;
    // 6. Drain (drain.ts): routed XTrinodes carry the drain finalizer; a deleted one loses it once
    // the Gateway sends it no new statements and its coordinator has no query alive.
    const nextDrainCheck = await this.drains.pass(xtrinodes, origins, settled, (key, what, f) => attemptFor(`${key} drain`, what, f));
    if (this.drainTimer) clearTimeout(this.drainTimer);
    this.drainTimer = nextDrainCheck === undefined ? undefined : setTimeout(() => this.queue.add(RECONCILE_KEY), nextDrainCheck).unref();
    // 7. Status of every XTrinode whose status differs (status-writes.ts).
    const toWrite = statusWrites(out.statuses.keys(), (namespace, name) => this.xts.get(name, namespace) as unknown as XTrinode | undefined,
      (live, key) => this.withGatewayConditions(out.statuses.get(key)!.status, live, lifecycle.get(key)));
    await inParallel(toWrite, WRITE_CONCURRENCY, ({ live, merged }) => attemptFor(`${live.metadata.namespace}/${live.metadata.name} status`, 'status', async () => {
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
      const change = acceptedChange(live.status, merged);
      if (change) await this.event(live, change.type, change.reason, change.message);
    }));
    this.backoff.retain(withWork);
    const retry = this.backoff.nextRetryIn();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (retry !== undefined) {
      this.retryTimer = setTimeout(() => this.queue.add(RECONCILE_KEY), retry + 10).unref();
    }
    if (failed.length > 0) throw new Error(`${failed.length} of this pass's writes failed, the others were made: ${failed.slice(0, 5).join('; ')}${failed.length > 5 ? '; ...' : ''}`);
    this.reconciles.inc({ result: 'ok' });
  }

  /** status.queries of runtimes with a query limit, when their coordinator's figures changed (query-counts.ts). */
  private async writeQueryCounts(): Promise<void> {
    if (!this.elector.isLeader || this.counting || this.stopped) return;
    this.counting = true;
    try {
      const changes = await queryCountChanges(this.xts.list() as never, this.origins, (o) => readQueryManager(o, 3000));
      await inParallel(changes, WRITE_CONCURRENCY, async ({ xt, queries }) => {
        try {
          await this.custom.patchNamespacedCustomObjectStatus(
            { group: GROUP, version: VERSION, namespace: xt.metadata.namespace!, plural: PLURAL, name: xt.metadata.name, body: { status: { queries } } },
            k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
          );
          this.writes.inc({ kind: 'XTrinode', verb: 'status-queries' });
        } catch (e) {
          if ((e as { code?: number }).code !== 404) this.log.warn({ xtrinode: `${xt.metadata.namespace}/${xt.metadata.name}`, err: errorText(e) }, 'could not write status.queries; next try in one interval');
        }
      });
    } finally {
      this.counting = false;
    }
  }

  /** Where the controller reaches a coordinator: its Service's ClusterIP, unless told otherwise. */
  private coordinatorOrigin(service: { namespace: string; name: string; port: number }): string | undefined {
    if (this.o.coordinatorOrigin) return this.o.coordinatorOrigin(service);
    const ip = (this.services.get(service.name, service.namespace) as { spec?: { clusterIP?: string } } | undefined)?.spec?.clusterIP;
    return ip && ip !== 'None' ? `http://${ip.includes(':') ? `[${ip}]` : ip}:${service.port}` : undefined;
  }

  /** Which Services each live ReferenceGrant names, by namespace: translate keeps each Service in its grant. */
  private liveGrants(): Map<string, Map<string, string[]>> {
    const out = new Map<string, Map<string, string[]>>();
    for (const g of this.grants.list() as Array<{ metadata?: { name?: string; namespace?: string }; spec?: { to?: Array<{ kind?: string; name?: string }> } }>) {
      const ns = g.metadata?.namespace;
      const name = g.metadata?.name;
      if (!ns || !name) continue;
      const m = out.get(ns) ?? new Map<string, string[]>();
      m.set(name, (g.spec?.to ?? []).filter((t) => t.kind === 'Service' && t.name).map((t) => t.name!));
      out.set(ns, m);
    }
    return out;
  }

  /** The generated objects in the caches, for the write plan. */
  private readonly live: LiveObjects = {
    get: (kind, namespace, name) => this.cacheOf(kind).get(name, namespace),
    list: (kind) => this.cacheOf(kind).list(),
  };

  private cacheOf(kind: GeneratedKind): k8s.ObjectCache<Obj> {
    return kind === 'HTTPRoute' ? this.routes : kind === 'ReferenceGrant' ? this.grants : this.configMaps;
  }

  /** Adds Programmed (from HTTPRoute.status.parents) and Ready to the translated status. */
  private withGatewayConditions(status: XTrinodeStatus, live: XTrinode, life: LifecycleDecision | undefined): XTrinodeStatus {
    return withGatewayConditions(status, live.metadata.generation, life, {
      gateway: this.o.settings.gateway,
      routeNamespace: this.o.settings.gatewayNamespace,
      route: (name) => this.routes.get(name, this.o.settings.gatewayNamespace) as RouteStatusView | undefined,
    });
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

}

/**
 * What of an XTrinode a pass acts on: its generation (spec), deletion, finalizers, labels and
 * annotations, except the router's `last-activity` (every 30 s per served runtime) and its status
 * (written by this controller, e.g. status.queries every 10 s). Those are read from the cache by the
 * next pass, which the idle timer schedules; they start none themselves.
 */
function xtrinodeChange(o: Obj): string {
  const m = o.metadata ?? {};
  const { [ANNOTATION_LAST_ACTIVITY]: _activity, ...annotations } = m.annotations ?? {};
  return JSON.stringify([m.generation, m.deletionTimestamp ?? null, m.finalizers ?? [], m.labels ?? {}, annotations]);
}

function errorText(e: unknown): string {
  if (e && typeof e === 'object' && 'body' in e) return `${(e as { code?: number }).code ?? ''} ${String((e as { body: unknown }).body).slice(0, 500)}`;
  return e instanceof Error ? e.message : String(e);
}
