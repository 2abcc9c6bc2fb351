/**
 * The coordination.k8s.io Lease rules that the controller's leader election and the router's
 * resume share: when another holder's Lease counts as expired, and what a new holder writes.
 *
 * Expiry is judged by locally observed time, as client-go does: a Lease held by someone else is
 * expired only once this process has seen it unchanged (same holder, renewTime and
 * resourceVersion) for its whole `leaseDurationSeconds`, measured on this process's monotonic
 * clock. The holder's `renewTime` is never compared with the local wall clock, so a holder whose
 * clock runs behind (or a local clock that jumps) cannot make a live Lease look expired. The cost:
 * a process that sees a Lease for the first time waits one full duration before taking it over.
 */
import { MicroTime } from './micro-time.ts';

export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: unknown;
  renewTime?: unknown;
  leaseTransitions?: number;
}

export interface Lease {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
  spec?: LeaseSpec;
}

/** Milliseconds on a clock that never jumps (process uptime). */
export const monotonicMs = (): number => performance.now();

/** Remembers, per Lease name, since when (local, monotonic) its current version has been seen. */
export class LeaseObservations {
  private readonly seen = new Map<string, { version: string; since: number }>();
  private readonly now: () => number;

  constructor(now: () => number = monotonicMs) {
    this.now = now;
  }

  /**
   * True when the Lease has no holder, or has stayed unchanged for its duration as observed here.
   * Call it on every read: each call records what was seen.
   */
  expired(name: string, lease: Lease, defaultDurationSec: number): boolean {
    const spec = lease.spec ?? {};
    if (!spec.holderIdentity) return true;
    const version = `${spec.holderIdentity}\u0000${String(spec.renewTime)}\u0000${lease.metadata?.resourceVersion ?? ''}`;
    const now = this.now();
    const last = this.seen.get(name);
    if (!last || last.version !== version) {
      if (this.seen.size >= 10_000) this.seen.clear(); // bounded; forgetting only delays a takeover
      this.seen.set(name, { version, since: now });
      return false;
    }
    return now - last.since >= (spec.leaseDurationSeconds ?? defaultDurationSec) * 1000;
  }

  forget(name: string): void {
    this.seen.delete(name);
  }
}

/** A new Lease held by `identity`. */
export function newLease(name: string, namespace: string, identity: string, durationSec: number): Lease & { apiVersion: string; kind: string } {
  const now = new MicroTime();
  return { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace }, spec: { holderIdentity: identity, leaseDurationSeconds: durationSec, acquireTime: now, renewTime: now, leaseTransitions: 0 } };
}

/**
 * The spec `identity` writes to renew its own Lease or take over another's (a takeover counts a
 * transition and resets acquireTime). Written with the read resourceVersion, so of two
 * concurrent takeovers one gets 409.
 */
export function heldSpec(spec: LeaseSpec, identity: string, durationSec: number): LeaseSpec {
  const now = new MicroTime();
  const takeover = spec.holderIdentity !== identity;
  return {
    ...spec,
    holderIdentity: identity,
    leaseDurationSeconds: durationSec,
    renewTime: now,
    ...(takeover ? { acquireTime: now, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 } : {}),
  };
}

/** Resolves or rejects as `p` does, or rejects after `ms`: a hung API call must not hold a decision. */
export function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`${what}: no answer from the API server within ${Math.round(ms)} ms`), { code: 'DEADLINE' })), Math.max(0, ms));
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}
