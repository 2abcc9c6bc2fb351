/** How many writes the controller has in flight at once, and the loop that keeps to it. */

/**
 * API writes in flight at once within one reconcile. 16 (was 8): at 1,000 XTrinodes the last
 * passes finish sooner (bench:controller 1.26x the API server's create time against 1.43-1.56x);
 * the API server's default limit is 200 mutating requests in flight.
 */
export const WRITE_CONCURRENCY = 16;

/** Runs `f` over `items`, at most `n` at a time. */
export async function inParallel<T>(items: T[], n: number, f: (x: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (i < items.length) await f(items[i++]!);
  }));
}
