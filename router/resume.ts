/**
 * Resuming suspended runtimes from the data path (activity for idle suspension: activity.ts).
 *
 * One coordination.k8s.io Lease per routing group (`xtrinode-resume-<group>` in the router's
 * namespace) decides which router replica issues the resume: the one whose create (or takeover of
 * an expired Lease) succeeds. The winner sets `spec.suspend: false` on the group's suspended
 * XTrinodes, but only those still suspended, so with any number of clients and replicas one
 * resume operation is issued. A replica that dies mid-resume leaves a Lease that another takes
 * over once it has seen it unchanged for `leaseDurationSec` (the rules are lib/lease.ts, shared
 * with the controller's leader election).
 */
import type { ApiServer } from './api-server.ts';
import type { Logger } from 'pino';
import type { Counter } from 'prom-client';
import type { RouteGroup } from '../routetable/schema.ts';
import { heldSpec, LeaseObservations, newLease, type Lease } from '../lib/lease.ts';

const GROUP = 'analytics.xtrinode.io';
const VERSION = 'v1';
const PLURAL = 'xtrinodes';
const MERGE_PATCH = 'application/merge-patch+json';
const xtrinodePath = (namespace: string, name: string) => `/apis/${GROUP}/${VERSION}/namespaces/${encodeURIComponent(namespace)}/${PLURAL}/${encodeURIComponent(name)}`;
const leasePath = (namespace: string, name?: string) => `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases${name ? `/${encodeURIComponent(name)}` : ''}`;

const RETRY_AFTER_ERROR_MS = 2000;

export interface ResumerOptions {
  api: ApiServer;
  namespace: string;
  identity: string;
  leaseDurationSec?: number;
  logger: Logger;
}

export class Resumer {
  private readonly api: ApiServer;
  private readonly o: Required<ResumerOptions>;
  private readonly inProgress = new Map<string, Promise<void>>();
  /** Since when each resume Lease held by another replica has looked the same to this one. */
  private readonly observed = new LeaseObservations();
  /** Set by the router so resumes are counted with its other metrics. */
  counter: Counter<'result'> | undefined;

  constructor(o: ResumerOptions) {
    this.o = { leaseDurationSec: 30, ...o };
    this.api = o.api;
  }

  /** When each group's last resume attempt ended, and how soon another may start (ms since epoch). */
  private readonly nextAttempt = new Map<string, number>();

  /**
   * Starts (or joins) a resume of the group's suspended runtimes. Never throws. At most one
   * attempt per group per lease period in this process: however many held queries ask (each
   * asks every 2 s while it waits), the API server sees one Lease take-over and one read of each
   * member per period. A failed attempt may be retried after 2 s.
   */
  resume(group: RouteGroup): Promise<void> {
    const running = this.inProgress.get(group.name);
    if (running) return running;
    if ((this.nextAttempt.get(group.name) ?? 0) > Date.now()) return Promise.resolve();
    if (this.nextAttempt.size > 10_000) for (const [g, t] of this.nextAttempt) if (t <= Date.now()) this.nextAttempt.delete(g);
    const p = this.resumeOnce(group)
      .then(() => this.nextAttempt.set(group.name, Date.now() + this.o.leaseDurationSec * 1000))
      .catch((e: unknown) => {
        this.nextAttempt.set(group.name, Date.now() + RETRY_AFTER_ERROR_MS);
        this.counter?.inc({ result: 'error' });
        this.o.logger.warn({ group: group.name, err: errText(e) }, 'resume failed; retried in 2 s');
      })
      .then(() => undefined)
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
        const xt = await this.api.call<{ spec?: { suspend?: boolean } }>('GET', xtrinodePath(namespace, xtName));
        if (xt.spec?.suspend !== true) continue; // already resumed (by someone else, or coordinator just not ready)
        await this.api.call('PATCH', xtrinodePath(namespace, xtName), { spec: { suspend: false } }, MERGE_PATCH);
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
    try {
      await this.api.call('POST', leasePath(namespace), newLease(name, namespace, identity, leaseDurationSec));
      this.observed.forget(name);
      return true;
    } catch (e) {
      if ((e as { code?: number }).code !== 409) throw e;
    }
    let lease: Lease;
    try {
      lease = await this.api.call<Lease>('GET', leasePath(namespace, name));
    } catch (e) {
      if ((e as { code?: number }).code === 404) return false; // its holder finished and released it just now
      throw e;
    }
    // Expired only once this process has seen it unchanged for its duration (lib/lease.ts): a
    // holder's clock is never compared with ours.
    if (!this.observed.expired(name, lease, leaseDurationSec)) return false;
    lease.spec = heldSpec(lease.spec ?? {}, identity, leaseDurationSec);
    try {
      await this.api.call('PUT', leasePath(namespace, name), lease);
      this.observed.forget(name);
      return true;
    } catch (e) {
      if ((e as { code?: number }).code === 409) return false; // another replica took it first
      throw e;
    }
  }

  private async release(name: string): Promise<void> {
    try {
      const lease = await this.api.call<Lease>('GET', leasePath(this.o.namespace, name));
      if (lease.spec?.holderIdentity !== this.o.identity) return;
      await this.api.call('DELETE', leasePath(this.o.namespace, name), { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { resourceVersion: lease.metadata?.resourceVersion } });
    } catch {
      /* it expires */
    }
  }
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
