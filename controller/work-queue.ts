/**
 * A keyed, de-duplicating work queue with per-key exponential backoff and an overall rate limit
 * (token bucket), as controller-runtime has. A key added while queued is not added twice; a key
 * added while being processed is processed again afterwards; a failing key retries after
 * base * 2^failures (capped).
 *
 * @example
 * const q = new WorkQueue(async (key) => reconcile(key));
 * q.add('routes');
 */
export interface WorkQueueOptions {
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Overall processing rate: tokens per second and burst. */
  ratePerSecond?: number;
  burst?: number;
  /** A key waits this long before it is processed, so a burst of events becomes one pass. */
  coalesceMs?: number;
  onError?: (key: string, err: unknown, retryInMs: number) => void;
}

export class WorkQueue {
  private readonly queued = new Set<string>();
  private readonly order: string[] = [];
  private readonly processing = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly opts: Required<Omit<WorkQueueOptions, 'onError'>> & Pick<WorkQueueOptions, 'onError'>;
  private tokens: number;
  private lastRefill = Date.now();
  private running = false;
  private stopped = false;
  private wake: (() => void) | undefined;
  private idleWaiters: Array<() => void> = [];
  private passWaiters: Array<() => void> = [];
  private readonly handler: (key: string) => Promise<void>;

  constructor(handler: (key: string) => Promise<void>, opts: WorkQueueOptions = {}) {
    this.handler = handler;
    this.opts = { baseDelayMs: opts.baseDelayMs ?? 50, maxDelayMs: opts.maxDelayMs ?? 30_000, ratePerSecond: opts.ratePerSecond ?? 50, burst: opts.burst ?? 100, coalesceMs: opts.coalesceMs ?? 0, onError: opts.onError };
    this.tokens = this.opts.burst;
  }

  add(key: string): void {
    if (this.stopped) return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    const t = this.timers.get(key);
    if (t) {
      clearTimeout(t);
      this.timers.delete(key);
    }
    this.queued.add(key);
    this.order.push(key);
    this.wake?.();
  }

  get length(): number {
    return this.queued.size;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    void this.loop();
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.wake?.();
  }

  /** Resolves when nothing is queued, processing or waiting for a retry. */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** Resolves once no handler runs (after stop(): the last one has ended). */
  notProcessing(): Promise<void> {
    if (this.processing.size === 0) return Promise.resolve();
    return new Promise((r) => this.passWaiters.push(r));
  }

  private isIdle(): boolean {
    return this.queued.size === 0 && this.processing.size === 0 && this.timers.size === 0;
  }

  private async takeToken(): Promise<void> {
    for (;;) {
      const now = Date.now();
      this.tokens = Math.min(this.opts.burst, this.tokens + ((now - this.lastRefill) / 1000) * this.opts.ratePerSecond);
      this.lastRefill = now;
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      await new Promise((r) => setTimeout(r, Math.ceil(((1 - this.tokens) / this.opts.ratePerSecond) * 1000)));
    }
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const key = this.order.shift();
      if (key === undefined) {
        if (this.isIdle()) for (const w of this.idleWaiters.splice(0)) w();
        await new Promise<void>((r) => (this.wake = r));
        this.wake = undefined;
        continue;
      }
      if (this.opts.coalesceMs > 0) await new Promise((r) => setTimeout(r, this.opts.coalesceMs)); // adds now are absorbed
      this.queued.delete(key);
      await this.takeToken();
      this.processing.add(key);
      try {
        await this.handler(key);
        this.failures.delete(key);
      } catch (e) {
        const n = (this.failures.get(key) ?? 0) + 1;
        this.failures.set(key, n);
        const delay = Math.min(this.opts.maxDelayMs, this.opts.baseDelayMs * 2 ** (n - 1));
        this.opts.onError?.(key, e, delay);
        if (!this.stopped) {
          this.timers.set(key, setTimeout(() => {
            this.timers.delete(key);
            this.add(key);
          }, delay));
        }
      } finally {
        this.processing.delete(key);
        if (this.processing.size === 0) for (const w of this.passWaiters.splice(0)) w();
        if (this.dirty.delete(key)) this.add(key);
      }
    }
  }
}
