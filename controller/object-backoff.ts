/**
 * Per-XTrinode backoff inside the controller's pass. Routing is decided for all XTrinodes at once
 * (a group spans namespaces, a hostname is claimed across them), so it runs under one work-queue
 * key; what is done for one XTrinode alone — its status, its workloads' scale, its idle
 * suspension — fails alone: that object waits base * 2^(failures-1) (capped) before it is tried
 * again, while every other object is served on every pass. A pass tells it which keys still have
 * work (`retain`): the entry of an XTrinode that was deleted, or whose action went away, ends
 * there, and no retry is scheduled for it (it would never succeed, and would rerun passes forever).
 */
export class ObjectBackoff {
  private readonly failures = new Map<string, { n: number; retryAt: number }>();
  private readonly baseMs: number;
  private readonly maxMs: number;

  constructor(baseMs = 500, maxMs = 60_000) {
    this.baseMs = baseMs;
    this.maxMs = maxMs;
  }

  /** True while `key` waits for its retry. */
  waiting(key: string, now = Date.now()): boolean {
    return (this.failures.get(key)?.retryAt ?? 0) > now;
  }

  /** Records a failure; returns the delay before the next try. */
  failed(key: string, now = Date.now()): number {
    const n = (this.failures.get(key)?.n ?? 0) + 1;
    const delay = Math.min(this.maxMs, this.baseMs * 2 ** (n - 1));
    this.failures.set(key, { n, retryAt: now + delay });
    return delay;
  }

  succeeded(key: string): void {
    this.failures.delete(key);
  }

  /** Forgets every key not in `keys` (those the last pass had work for). */
  retain(keys: ReadonlySet<string>): void {
    for (const key of this.failures.keys()) if (!keys.has(key)) this.failures.delete(key);
  }

  /** Keys waiting for a retry. */
  get size(): number {
    return this.failures.size;
  }

  /** Milliseconds until the earliest retry, or undefined when nothing waits. */
  nextRetryIn(now = Date.now()): number | undefined {
    let min: number | undefined;
    for (const { retryAt } of this.failures.values()) min = Math.min(min ?? Infinity, Math.max(0, retryAt - now));
    return min;
  }
}
