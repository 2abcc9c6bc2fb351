/**
 * Leader election through a coordination.k8s.io Lease: only the holder reconciles, so two
 * replicas never both write. Acquire when the Lease is free or expired; renew every `renewMs`
 * (2 s). The holder stops leading at once when a renew finds the Lease taken (409 or another
 * holder), and when it could not renew for `renewDeadlineSec` (10 s) — well before the
 * `leaseDurationSec` (15 s) after which another replica may take over, as controller-runtime does.
 * A renew counts from the moment it was sent. Optimistic concurrency (resourceVersion) makes
 * concurrent takeovers safe.
 */
import type { CoordinationV1Api, V1Lease } from '@kubernetes/client-node';
import { MicroTime } from '../lib/micro-time.ts';

export interface LeaderElectionOptions {
  api: CoordinationV1Api;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationSec?: number;
  /** Stop leading when no renew succeeded for this long; must be under leaseDurationSec. */
  renewDeadlineSec?: number;
  renewMs?: number;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
  onError?: (err: unknown) => void;
}

export class LeaderElector {
  private readonly o: Required<LeaderElectionOptions>;
  private timer: NodeJS.Timeout | undefined;
  private leading = false;
  private lastRenew = 0;
  private stopped = false;

  constructor(o: LeaderElectionOptions) {
    this.o = { leaseDurationSec: 15, renewDeadlineSec: 10, renewMs: 2000, onError: () => undefined, ...o };
    if (this.o.renewDeadlineSec >= this.o.leaseDurationSec) throw new Error(`renewDeadlineSec (${this.o.renewDeadlineSec}) must be under leaseDurationSec (${this.o.leaseDurationSec}): a leader must stop before another may take over`);
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    const tick = async () => {
      if (this.stopped) return;
      try {
        await this.tryAcquireOrRenew();
      } catch (e) {
        this.o.onError(e);
        if ((e as { code?: number }).code === 409) this.setLeading(false); // another replica took it
      }
      // A renew that keeps failing (API server unreachable) ends leadership before the Lease expires.
      if (this.leading && Date.now() - this.lastRenew > this.o.renewDeadlineSec * 1000) this.setLeading(false);
      if (!this.stopped) this.timer = setTimeout(() => void tick(), this.o.renewMs);
    };
    void tick();
  }

  /**
   * Stops and, when leading, releases the Lease so another replica takes over at once.
   * `release: false` stops without a word, as a crashed process does (tests).
   */
  async stop(o: { release?: boolean } = {}): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (!this.leading) return;
    if (o.release === false) {
      this.leading = false;
      return;
    }
    this.setLeading(false);
    try {
      const lease = await this.o.api.readNamespacedLease({ name: this.o.name, namespace: this.o.namespace });
      if (lease.spec?.holderIdentity === this.o.identity) {
        lease.spec.holderIdentity = undefined as unknown as string;
        lease.spec.renewTime = undefined as unknown as Date;
        await this.o.api.replaceNamespacedLease({ name: this.o.name, namespace: this.o.namespace, body: lease });
      }
    } catch {
      /* it expires on its own */
    }
  }

  private setLeading(v: boolean): void {
    if (v === this.leading) return;
    this.leading = v;
    if (v) this.o.onStartedLeading();
    else this.o.onStoppedLeading();
  }

  private async tryAcquireOrRenew(): Promise<void> {
    const { api, namespace, name, identity, leaseDurationSec } = this.o;
    const now = new MicroTime();
    const sent = Date.now();
    let lease: V1Lease | undefined;
    try {
      lease = await api.readNamespacedLease({ name, namespace });
    } catch (e) {
      if ((e as { code?: number }).code !== 404) throw e;
    }
    if (!lease) {
      await api.createNamespacedLease({
        namespace,
        body: { metadata: { name, namespace }, spec: { holderIdentity: identity, leaseDurationSeconds: leaseDurationSec, acquireTime: now, renewTime: now, leaseTransitions: 0 } },
      });
      this.lastRenew = sent;
      this.setLeading(true);
      return;
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity;
    const renew = spec.renewTime ? new Date(spec.renewTime).getTime() : 0;
    const expired = !holder || renew + (spec.leaseDurationSeconds ?? leaseDurationSec) * 1000 < Date.now();
    if (holder !== identity && !expired) {
      this.setLeading(false);
      return;
    }
    lease.spec = {
      ...spec,
      holderIdentity: identity,
      leaseDurationSeconds: leaseDurationSec,
      renewTime: now,
      ...(holder !== identity ? { acquireTime: now, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 } : {}),
    };
    await api.replaceNamespacedLease({ name, namespace, body: lease }); // 409 if someone else won
    this.lastRenew = sent;
    this.setLeading(true);
  }
}
