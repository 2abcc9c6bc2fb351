/**
 * Coordinator reads (idle checks, the re-read before an idle scale-down) run beside the
 * reconcile pass, never inside it: a pass that needs one starts it and goes on, and the answer
 * triggers a new pass that uses it. A coordinator that hangs therefore delays only its own
 * runtime's lifecycle, never a route change or a status of any other XTrinode.
 *
 * - At most `concurrency` reads at once (16); the rest wait in order, one per key and purpose.
 * - Each read is bounded by its own timeout (the caller's: lib/query-manager.ts, 3 s).
 * - An answer is used once (`take`) and only while fresh (`maxAgeMs`, 10 s): an old answer is
 *   not the coordinator's state "right before" a scale-down.
 */
export class CoordinatorReads {
  private readonly answers = new Map<string, { value: unknown; at: number }>();
  private readonly pending = new Set<string>();
  private readonly waiting: Array<{ id: string; read: () => Promise<unknown> }> = [];
  private running = 0;
  private readonly o: { concurrency: number; maxAgeMs: number; answered: (id: string) => void; now: () => number };

  constructor(o: { answered: (id: string) => void; concurrency?: number; maxAgeMs?: number; now?: () => number }) {
    this.o = { concurrency: 16, maxAgeMs: 10_000, now: () => performance.now(), ...o };
  }

  /**
   * The answer for `id` (a runtime key and purpose) if one came since the last take, else
   * undefined after starting the read (at most one per id in flight or waiting).
   */
  take<T>(id: string, read: () => Promise<T>): { value: T } | undefined {
    const a = this.answers.get(id);
    if (a) {
      this.answers.delete(id);
      // The id names one read (key and purpose), so its answer has that read's type.
      if (this.o.now() - a.at <= this.o.maxAgeMs) return { value: a.value as T };
    }
    if (!this.pending.has(id)) {
      this.pending.add(id);
      this.waiting.push({ id, read });
      this.next();
    }
    return undefined;
  }

  /** Reads in flight or waiting. */
  get outstanding(): number {
    return this.pending.size;
  }

  private next(): void {
    while (this.running < this.o.concurrency && this.waiting.length > 0) {
      const { id, read } = this.waiting.shift()!;
      this.running++;
      void read()
        .then(
          (value) => {
            if (this.answers.size >= 10_000) for (const [k, v] of this.answers) if (this.o.now() - v.at > this.o.maxAgeMs) this.answers.delete(k);
            this.answers.set(id, { value, at: this.o.now() });
            return true;
          },
          () => false, // the callers' reads answer undefined instead of failing; a throw waits for the next pass
        )
        .then((answered) => {
          this.running--;
          this.pending.delete(id);
          if (answered) this.o.answered(id);
          this.next();
        });
    }
  }
}
