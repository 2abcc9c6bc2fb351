/**
 * An informer's first list, as controller-runtime requires it: nothing may reconcile from a cache
 * that was never filled. In client-node 2.0.1 a first LIST that fails (a 429, a 5xx, a timeout)
 * calls the error callbacks and `start()` resolves all the same, with an empty cache; a controller
 * that went on would see an empty world and delete every route it manages. `startSynced` retries
 * the first list (with backoff) until it succeeds, and says which list failed and why.
 *
 * Whether a list ever succeeded is read from the informer itself: its resourceVersion is empty
 * until one did.
 */
import type * as k8s from '@kubernetes/client-node';

export interface SyncOptions {
  /** What is listed, for the message (e.g. `httproutes in trino-gateway`). */
  what: string;
  /** True once the caller stopped: no more tries. */
  stopped: () => boolean;
  onRetry?: (what: string, attempt: number, retryInMs: number) => void;
  baseDelayMs?: number;
  maxDelayMs?: number;
}

type Startable = Pick<k8s.Informer<k8s.KubernetesObject>, 'start'>;

/**
 * True once a list of this informer succeeded. `makeInformer` returns a ListWatch, whose
 * `latestResourceVersion()` its Informer type does not declare; a client-node without it fails here.
 */
export function hasSynced(informer: object): boolean {
  const rv = (informer as { latestResourceVersion?: () => string }).latestResourceVersion;
  if (typeof rv !== 'function') throw new Error('this @kubernetes/client-node informer has no latestResourceVersion(): cannot tell whether its first list succeeded');
  return rv.call(informer) !== '';
}

/** Starts `informer` and resolves once its first list succeeded (false when stopped before that). */
export async function startSynced(informer: Startable, o: SyncOptions): Promise<boolean> {
  const base = o.baseDelayMs ?? 250;
  const max = o.maxDelayMs ?? 10_000;
  for (let attempt = 1; ; attempt++) {
    if (o.stopped()) return false;
    await informer.start();
    if (hasSynced(informer)) return true;
    const delay = Math.min(max, base * 2 ** (attempt - 1));
    o.onRetry?.(o.what, attempt, delay);
    await new Promise((r) => setTimeout(r, delay));
  }
}
