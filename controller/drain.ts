/**
 * Drain before delete: the controller puts a finalizer on every routed XTrinode, so deleting one
 * does not cut its running queries. While it drains (metadata.deletionTimestamp set, finalizer
 * still there) the translator gives it weight 0 and marks it `draining` in the route table: no
 * new statements, follow-ups still reach its coordinator by prefix. The finalizer goes when its
 * coordinator has reported no query alive for `quietMs` (read again on every check, once the
 * Gateway took the weight-0 routes), when the coordinator does not answer for as long, or when the
 * drain timeout has passed since the deletion; then the XTrinode goes and its routes with it.
 *
 * The decision is pure; the controller reads the coordinator and removes the finalizer.
 */
export const FINALIZER_DRAIN = 'analytics.xtrinode.io/drain';

/** Default longest drain, from the deletion request (DRAIN_TIMEOUT). */
export const DEFAULT_DRAIN_TIMEOUT_MS = 30 * 60_000;
/** How long a coordinator must report nothing alive (or not answer) before the drain ends. */
export const DRAIN_QUIET_MS = 2_000;
/** How often a draining runtime's coordinator is read. */
export const DRAIN_CHECK_MS = 1_000;

export type DrainVerdict =
  | { done: true; why: string }
  | { done: false; why: string; quietSince: number | undefined };

/**
 * One check of a draining runtime. `alive` is the coordinator's count of queries alive (undefined:
 * no answer); `quietSince` is when it was first seen with none (or silent) in the current streak.
 */
export function drainCheck(o: { deletedAt: number; now: number; timeoutMs: number; alive: number | undefined; quietSince: number | undefined; routesSettled: boolean }): DrainVerdict {
  if (Number.isFinite(o.deletedAt) && o.now - o.deletedAt >= o.timeoutMs) return { done: true, why: `the drain timeout (${Math.round(o.timeoutMs / 1000)} s) passed${o.alive ? ` with ${o.alive} queries still alive on its coordinator` : ''}` };
  if (o.alive !== undefined && o.alive > 0) return { done: false, why: `${o.alive} queries alive on its coordinator`, quietSince: undefined };
  const what = o.alive === undefined ? 'its coordinator does not answer' : 'no query alive on its coordinator';
  // Quiet counts only once the Gateway sends it nothing new: before that a statement may be on its way.
  if (!o.routesSettled) return { done: false, why: `${what}; waiting for the Gateway to take the routes without it`, quietSince: undefined };
  const quietSince = o.quietSince ?? o.now;
  if (o.now - quietSince >= DRAIN_QUIET_MS) return { done: true, why: `${what} for ${Math.round((o.now - quietSince) / 1000)} s` };
  return { done: false, why: what, quietSince };
}

interface DrainedObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; uid?: string; resourceVersion?: string; deletionTimestamp?: string; finalizers?: string[] };
}

export interface DrainsOptions {
  timeoutMs: number;
  /** The coordinator's queries alive, undefined when it does not answer. */
  alive: (origin: string) => Promise<number | undefined>;
  /** Writes metadata.finalizers (a merge patch with the object's resourceVersion: a concurrent change fails it). */
  setFinalizers: (xt: DrainedObject, finalizers: string[]) => Promise<void>;
  event: (xt: DrainedObject, reason: string, message: string) => Promise<void>;
  log: { info(o: object, msg: string): void };
}

/** The controller's side of draining: finalizers on, checks of deleted runtimes, finalizers off. */
export class Drains {
  private readonly quietSince = new Map<string, number>();
  private readonly announced = new Set<string>();
  private readonly o: DrainsOptions;

  constructor(o: DrainsOptions) {
    this.o = o;
  }

  /**
   * One pass: `routed` maps each XTrinode key the route table carries to its coordinator's origin.
   * Work per object goes through `attemptFor` (its own backoff). Returns ms until the next check
   * of a draining runtime, or undefined when none drains.
   */
  async pass(xtrinodes: DrainedObject[], routed: ReadonlyMap<string, string | undefined>, routesSettled: boolean, attemptFor: (key: string, what: string, f: () => Promise<void>) => Promise<void>, now = Date.now()): Promise<number | undefined> {
    let next: number | undefined;
    const keys = new Set<string>();
    await Promise.all(xtrinodes.map(async (xt) => {
      const key = `${xt.metadata.namespace}/${xt.metadata.name}`;
      keys.add(key);
      const finalizers = xt.metadata.finalizers ?? [];
      const ours = finalizers.includes(FINALIZER_DRAIN);
      if (!xt.metadata.deletionTimestamp) {
        if (!ours && routed.has(key)) await attemptFor(key, 'add the drain finalizer', () => this.o.setFinalizers(xt, [...finalizers, FINALIZER_DRAIN]));
        return;
      }
      if (!ours) return;
      const origin = routed.get(key);
      const alive = origin && routed.has(key) ? await this.o.alive(origin) : undefined;
      const verdict = routed.has(key)
        ? drainCheck({ deletedAt: Date.parse(xt.metadata.deletionTimestamp), now, timeoutMs: this.o.timeoutMs, alive, quietSince: this.quietSince.get(key), routesSettled })
        : { done: true as const, why: 'it is not routed (nothing to drain)' };
      if (verdict.done) {
        await attemptFor(key, 'remove the drain finalizer', async () => {
          await this.o.setFinalizers(xt, finalizers.filter((f) => f !== FINALIZER_DRAIN));
          this.quietSince.delete(key);
          this.announced.delete(key);
          this.o.log.info({ xtrinode: key, why: verdict.why }, 'drained; the XTrinode goes');
          await this.o.event(xt, 'Drained', `drained: ${verdict.why}; its routes are removed.`);
        });
        return;
      }
      if (verdict.quietSince === undefined) this.quietSince.delete(key);
      else this.quietSince.set(key, verdict.quietSince);
      if (!this.announced.has(key)) {
        this.announced.add(key);
        await this.o.event(xt, 'Draining', `being deleted: no new statements reach it; follow-ups of its running queries still do. It goes once its coordinator reports no query alive, at the latest ${Math.round(this.o.timeoutMs / 1000)} s after the deletion (${verdict.why}).`);
      }
      next = Math.min(next ?? Infinity, DRAIN_CHECK_MS);
    }));
    for (const k of this.quietSince.keys()) if (!keys.has(k)) this.quietSince.delete(k);
    for (const k of this.announced) if (!keys.has(k)) this.announced.delete(k);
    return next;
  }
}
