/**
 * An informer's first list, as controller-runtime requires it: nothing may reconcile from a cache
 * that was never filled. In client-node 2.0.1 a first LIST that fails (a 429, a 5xx, a timeout)
 * calls the error callbacks and `start()` resolves all the same, with an empty cache; a controller
 * that went on would see an empty world and delete every route it manages. `startSynced` retries
 * the first list (with backoff) until it succeeds, and says which list failed and why.
 *
 * Whether a list ever succeeded is read from the informer itself: its resourceVersion is empty
 * until one did. `watchSynced` wires an informer for the controller on top of that (predicate,
 * managedFields dropped, re-list after a failed watch).
 */
import type * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';

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

type Obj = k8s.KubernetesObject & Record<string, unknown>;

export interface WatchOptions {
  name: string;
  /** Told of every add, delete, and update whose `change` fingerprint changed (all without one). */
  onChange: () => void;
  /**
   * Predicate: what of an object its consumer acts on, as a string; an update that leaves it the
   * same (a status or annotation the consumer ignores) does not call onChange.
   */
  change?: (o: Obj) => string;
  stopped: () => boolean;
  log: Pick<Logger, 'warn'>;
  errorText: (e: unknown) => string;
}

/**
 * Wires a cached informer as controller-runtime does and resolves once its first list succeeded
 * (startSynced): changes reach `onChange` through the predicate, cached objects drop
 * metadata.managedFields (nothing reads them; for server-side-applied objects they repeat the
 * applied fields as field paths), and a watch that fails after the first list keeps the cache and
 * lists again in 1 s.
 */
export async function watchSynced(informer: k8s.Informer<Obj> & k8s.ObjectCache<Obj>, o: WatchOptions): Promise<boolean> {
  const seen = new Map<string, string>();
  const uid = (x: Obj) => x.metadata?.uid ?? `${x.metadata?.namespace}/${x.metadata?.name}`;
  const forgetManagedFields = (x: Obj) => {
    if (x.metadata?.managedFields) delete x.metadata.managedFields;
  };
  informer.on('add', (x) => {
    forgetManagedFields(x);
    if (o.change) seen.set(uid(x), o.change(x));
    o.onChange();
  });
  informer.on('update', (x) => {
    forgetManagedFields(x);
    if (o.change) {
      const fp = o.change(x);
      if (seen.get(uid(x)) === fp) return;
      seen.set(uid(x), fp);
    }
    o.onChange();
  });
  informer.on('delete', (x) => {
    seen.delete(uid(x));
    o.onChange();
  });
  let synced = false;
  informer.on('error', (err: unknown) => {
    if (o.stopped()) return;
    if (!synced) {
      o.log.warn({ informer: o.name, err: o.errorText(err) }, 'first list failed; nothing is reconciled until it succeeds');
      return; // startSynced tries again
    }
    o.log.warn({ informer: o.name, err: o.errorText(err) }, 'watch failed; re-listing in 1s');
    setTimeout(() => {
      if (!o.stopped()) informer.start().then(o.onChange, () => undefined);
    }, 1000);
  });
  synced = await startSynced(informer, { what: o.name, stopped: o.stopped });
  return synced;
}
