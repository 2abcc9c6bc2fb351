/**
 * Resuming suspended runtimes from the data path, and reporting activity for idle suspension.
 *
 * One coordination.k8s.io Lease per routing group (`xtrinode-resume-<group>` in the router's
 * namespace) decides which router replica issues the resume: the one whose create (or takeover of
 * an expired Lease) succeeds. The winner sets `spec.suspend: false` on the group's suspended
 * XTrinodes, but only those still suspended, so with any number of clients and replicas one
 * resume operation is issued. A replica that dies mid-resume leaves a Lease that expires after
 * `leaseDurationSec`; the next request then takes over.
 */
import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Counter } from 'prom-client';
import type { RouteGroup } from '../routetable/schema.ts';
import { MicroTime } from '../lib/micro-time.ts';

const GROUP = 'analytics.xtrinode.io';
const VERSION = 'v1';
const PLURAL = 'xtrinodes';
export const ANNOTATION_LAST_ACTIVITY = 'analytics.xtrinode.io/last-activity';

export interface ResumerOptions {
  kubeConfig: k8s.KubeConfig;
  namespace: string;
  identity: string;
  leaseDurationSec?: number;
  logger: Logger;
}

export class Resumer {
  private readonly leases: k8s.CoordinationV1Api;
  private readonly custom: k8s.CustomObjectsApi;
  private readonly o: Required<ResumerOptions>;
  private readonly inProgress = new Map<string, Promise<void>>();
  /** Set by the router so resumes are counted with its other metrics. */
  counter: Counter<'result'> | undefined;

  constructor(o: ResumerOptions) {
    this.o = { leaseDurationSec: 30, ...o };
    this.leases = o.kubeConfig.makeApiClient(k8s.CoordinationV1Api);
    this.custom = o.kubeConfig.makeApiClient(k8s.CustomObjectsApi);
  }

  /** Starts (or joins) a resume of the group's suspended runtimes. Never throws. */
  resume(group: RouteGroup): Promise<void> {
    const running = this.inProgress.get(group.name);
    if (running) return running;
    const p = this.resumeOnce(group)
      .catch((e: unknown) => {
        this.counter?.inc({ result: 'error' });
        this.o.logger.warn({ group: group.name, err: errText(e) }, 'resume failed; the next request retries');
      })
      .finally(() => this.inProgress.delete(group.name));
    this.inProgress.set(group.name, p);
    return p;
  }

  private async resumeOnce(group: RouteGroup): Promise<void> {
    const name = `xtrinode-resume-${group.name}`.slice(0, 253);
    if (!(await this.acquire(name))) {
      this.counter?.inc({ result: 'lease-held-elsewhere' });
      return;
    }
    try {
      for (const b of group.backends.filter((x) => x.state === 'Suspended')) {
        const [namespace, xtName] = b.id.split('/') as [string, string];
        const xt = (await this.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL, name: xtName })) as { spec?: { suspend?: boolean } };
        if (xt.spec?.suspend !== true) continue; // already resumed (by someone else, or coordinator just not ready)
        await this.custom.patchNamespacedCustomObject(
          { group: GROUP, version: VERSION, namespace, plural: PLURAL, name: xtName, body: { spec: { suspend: false } } },
          k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
        );
        this.counter?.inc({ result: 'issued' });
        this.o.logger.info({ group: group.name, xtrinode: b.id, by: this.o.identity }, 'resume issued');
      }
    } finally {
      await this.release(name);
    }
  }

  /** Creates the Lease, or takes over an expired one; false when another holder is live. */
  private async acquire(name: string): Promise<boolean> {
    const { namespace, identity, leaseDurationSec } = this.o;
    const now = new MicroTime();
    try {
      await this.leases.createNamespacedLease({ namespace, body: { metadata: { name, namespace }, spec: { holderIdentity: identity, leaseDurationSeconds: leaseDurationSec, acquireTime: now, renewTime: now } } });
      return true;
    } catch (e) {
      if ((e as { code?: number }).code !== 409) throw e;
    }
    let lease: k8s.V1Lease;
    try {
      lease = await this.leases.readNamespacedLease({ name, namespace });
    } catch (e) {
      if ((e as { code?: number }).code === 404) return false; // its holder finished and released it just now
      throw e;
    }
    const spec = lease.spec ?? {};
    const renew = spec.renewTime ? new Date(spec.renewTime).getTime() : 0;
    const live = spec.holderIdentity && renew + (spec.leaseDurationSeconds ?? leaseDurationSec) * 1000 > Date.now();
    if (live) return false;
    lease.spec = { ...spec, holderIdentity: identity, leaseDurationSeconds: leaseDurationSec, acquireTime: now, renewTime: now, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 };
    try {
      await this.leases.replaceNamespacedLease({ name, namespace, body: lease });
      return true;
    } catch (e) {
      if ((e as { code?: number }).code === 409) return false; // another replica took it first
      throw e;
    }
  }

  private async release(name: string): Promise<void> {
    try {
      const lease = await this.leases.readNamespacedLease({ name, namespace: this.o.namespace });
      if (lease.spec?.holderIdentity !== this.o.identity) return;
      await this.leases.deleteNamespacedLease({ name, namespace: this.o.namespace, body: { preconditions: { resourceVersion: lease.metadata?.resourceVersion } } });
    } catch {
      /* it expires */
    }
  }

  /** Records activity; `flushActivity` writes it as an annotation on the XTrinodes. */
  private readonly activity = new Set<string>();
  noteActivity(backendId: string): void {
    this.activity.add(backendId);
  }

  async flushActivity(): Promise<void> {
    const ids = [...this.activity];
    this.activity.clear();
    const now = new Date().toISOString();
    await Promise.all(ids.map(async (id) => {
      const [namespace, name] = id.split('/') as [string, string];
      try {
        await this.custom.patchNamespacedCustomObject(
          { group: GROUP, version: VERSION, namespace, plural: PLURAL, name, body: { metadata: { annotations: { [ANNOTATION_LAST_ACTIVITY]: now } } } },
          k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
        );
      } catch (e) {
        this.o.logger.debug({ xtrinode: id, err: errText(e) }, 'activity not recorded');
      }
    }));
  }
}

function errText(e: unknown): string {
  if (e && typeof e === 'object' && 'code' in e) return `${String((e as { code: unknown }).code)} ${String((e as { body?: unknown }).body ?? '').slice(0, 300)}`;
  return e instanceof Error ? e.message : String(e);
}
