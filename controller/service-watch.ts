/**
 * The Services the controller needs: those in namespaces that have XTrinodes (a coordinator
 * Service always lives in its XTrinode's namespace), one informer per such namespace, started
 * when the first XTrinode appears there and stopped when the last one goes. A cluster-wide
 * Service watch would cache every Service of the cluster for the few that routes use.
 */
import * as k8s from '@kubernetes/client-node';
import { hasSynced } from './informer-sync.ts';

type Obj = k8s.KubernetesObject & Record<string, unknown>;

export class ServiceWatch {
  private readonly informers = new Map<string, k8s.Informer<Obj> & k8s.ObjectCache<Obj>>();
  private readonly kc: k8s.KubeConfig;
  private readonly core: k8s.CoreV1Api;
  private readonly onChange: () => void;
  private readonly onError: (namespace: string, err: unknown) => void;
  private stopped = false;

  constructor(kc: k8s.KubeConfig, onChange: () => void, onError: (namespace: string, err: unknown) => void) {
    this.kc = kc;
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    this.onChange = onChange;
    this.onError = onError;
  }

  /**
   * Watches exactly these namespaces; resolves once each new one has been listed. A namespace
   * whose first list fails is not kept (the next sync tries again) and the sync throws, naming it:
   * the pass stops before it writes anything from a namespace it has not seen (its coordinator
   * Services would look missing and their routes would move to the router).
   */
  async sync(namespaces: Set<string>): Promise<void> {
    for (const [ns, informer] of this.informers) {
      if (!namespaces.has(ns)) {
        this.informers.delete(ns);
        void informer.stop().catch(() => undefined);
      }
    }
    const failed: string[] = [];
    await Promise.all([...namespaces].filter((ns) => !this.informers.has(ns)).map(async (ns) => {
      const informer = k8s.makeInformer<Obj>(this.kc, `/api/v1/namespaces/${ns}/services`, () => this.core.listNamespacedService({ namespace: ns }) as unknown as Promise<k8s.KubernetesListObject<Obj>>);
      for (const ev of ['add', 'update', 'delete'] as const) informer.on(ev, () => this.onChange());
      let listed = false; // a later failure (after a 410 the informer lists again) must still restart it
      informer.on('error', (err: unknown) => {
        if (this.stopped || this.informers.get(ns) !== informer || !listed) return;
        this.onError(ns, err);
        setTimeout(() => {
          if (!this.stopped && this.informers.get(ns) === informer) informer.start().then(() => this.onChange(), () => undefined);
        }, 1000);
      });
      this.informers.set(ns, informer);
      await informer.start();
      listed = hasSynced(informer);
      if (!listed) {
        this.informers.delete(ns);
        void informer.stop().catch(() => undefined);
        failed.push(ns);
      }
    }));
    if (failed.length > 0) throw new Error(`the first list of Services failed in namespace(s) ${failed.join(', ')}: nothing is written until they are listed (retrying)`);
  }

  get(name: string, namespace: string): Obj | undefined {
    return this.informers.get(namespace)?.get(name, namespace);
  }

  list(): Obj[] {
    return [...this.informers.values()].flatMap((i) => i.list());
  }

  /** Namespaces watched now. */
  get namespaces(): string[] {
    return [...this.informers.keys()].sort();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.informers.values()].map((i) => i.stop().catch(() => undefined)));
    this.informers.clear();
  }
}
