/**
 * Leader election through a coordination.k8s.io Lease: only the holder reconciles, so two
 * replicas never both write. Acquire when the Lease is free or expired; renew every `renewMs`
 * (2 s). The holder stops leading at once when a renew finds the Lease taken (409 or another
 * holder), and when it could not renew for `renewDeadlineSec` (10 s) — well before the
 * `leaseDurationSec` (15 s) after which another replica may take over, as controller-runtime does.
 *
 * - Every API call is bounded: a call that hangs (an API server or proxy that stops answering)
 *   is given up at the renew deadline, and a watchdog ends leadership at the deadline even while
 *   a call is still outstanding.
 * - A renew counts from the moment it was sent, on the monotonic clock.
 * - Another holder's Lease expires by locally observed time (lib/lease.ts), never by comparing
 *   its renewTime with the local clock.
 * - Optimistic concurrency (resourceVersion) makes concurrent takeovers safe.
 * - `stop()` releases the Lease; the controller calls it only after its in-flight pass ended.
 */
import type { CoordinationV1Api } from '@kubernetes/client-node';
import { heldSpec, LeaseObservations, monotonicMs, newLease, withDeadline, type Lease } from '../lib/lease.ts';

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
  private watchdog: NodeJS.Timeout | undefined;
  private leading = false;
  /** Monotonic time the last successful renew was sent. */
  private lastRenew = 0;
  private stopped = false;
  private readonly observed = new LeaseObservations();

  constructor(o: LeaderElectionOptions) {
    this.o = { leaseDurationSec: 15, renewDeadlineSec: 10, renewMs: 2000, onError: () => undefined, ...o };
    if (this.o.renewDeadlineSec >= this.o.leaseDurationSec) throw new Error(`renewDeadlineSec (${this.o.renewDeadlineSec}) must be under leaseDurationSec (${this.o.leaseDurationSec}): a leader must stop before another may take over`);
  }

  /** True only while leading and within the renew deadline of the last renew. */
  get isLeader(): boolean {
    if (this.leading && this.pastDeadline()) this.setLeading(false);
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
      if (this.leading && this.pastDeadline()) this.setLeading(false);
      if (!this.stopped) this.timer = setTimeout(() => void tick(), this.o.renewMs);
    };
    // Independent of the calls: ends leadership at the deadline even while a call hangs.
    this.watchdog = setInterval(() => void this.isLeader, Math.min(250, this.o.renewMs));
    this.watchdog.unref();
    void tick();
  }

  /**
   * Stops and, when leading, releases the Lease so another replica takes over at once.
   * `release: false` stops without a word, as a crashed process does (tests).
   */
  async stop(o: { release?: boolean } = {}): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.watchdog) clearInterval(this.watchdog);
    if (!this.leading) return;
    if (o.release === false) {
      this.leading = false;
      return;
    }
    this.setLeading(false);
    const { api, name, namespace, identity } = this.o;
    try {
      const lease = await withDeadline(api.readNamespacedLease({ name, namespace }), this.o.renewDeadlineSec * 1000, `read Lease ${namespace}/${name}`);
      if (lease.spec?.holderIdentity === identity) {
        lease.spec.holderIdentity = undefined as unknown as string;
        lease.spec.renewTime = undefined as unknown as Date;
        await withDeadline(api.replaceNamespacedLease({ name, namespace, body: lease }), this.o.renewDeadlineSec * 1000, `release Lease ${namespace}/${name}`);
      }
    } catch {
      /* it expires on its own */
    }
  }

  private pastDeadline(): boolean {
    return monotonicMs() - this.lastRenew > this.o.renewDeadlineSec * 1000;
  }

  private setLeading(v: boolean): void {
    if (v === this.leading) return;
    this.leading = v;
    if (v) this.o.onStartedLeading();
    else this.o.onStoppedLeading();
  }

  /** Time left for this attempt's calls: up to the renew deadline when leading, else one deadline. */
  private callBudgetMs(): number {
    const deadline = this.o.renewDeadlineSec * 1000;
    return this.leading ? deadline - (monotonicMs() - this.lastRenew) : deadline;
  }

  private async tryAcquireOrRenew(): Promise<void> {
    const { api, namespace, name, identity, leaseDurationSec } = this.o;
    const sent = monotonicMs();
    const bounded = <T>(p: Promise<T>, what: string) => withDeadline(p, this.callBudgetMs(), `${what} Lease ${namespace}/${name}`);
    let lease: Lease | undefined;
    try {
      lease = await bounded(api.readNamespacedLease({ name, namespace }), 'read');
    } catch (e) {
      if ((e as { code?: number }).code !== 404) throw e;
    }
    if (!lease) {
      await bounded(api.createNamespacedLease({ namespace, body: newLease(name, namespace, identity, leaseDurationSec) as never }), 'create');
      this.renewed(sent);
      return;
    }
    const spec = lease.spec ?? {};
    if (spec.holderIdentity !== identity && !this.observed.expired(name, lease, leaseDurationSec)) {
      this.setLeading(false);
      return;
    }
    lease.spec = heldSpec(spec, identity, leaseDurationSec);
    await bounded(api.replaceNamespacedLease({ name, namespace, body: lease as never }), 'renew'); // 409 if someone else won
    this.renewed(sent);
  }

  private renewed(sent: number): void {
    // A call answered after the deadline counts for nothing: leadership may already have ended
    // for lack of it, and the next tick renews (or takes over) afresh.
    if (monotonicMs() - sent > this.o.renewDeadlineSec * 1000) return;
    this.lastRenew = sent;
    this.setLeading(true);
  }
}
