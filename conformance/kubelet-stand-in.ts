/**
 * What a kubelet does for a coordinator Deployment, for machines without one: scaled up, the
 * coordinator process starts (after a start-up delay) and `readyReplicas` becomes 1 once it
 * serves; scaled to zero, the process stops and `readyReplicas` drops to 0 at once. Deployments
 * are matched by the label `analytics.xtrinode.io/xtrinode`. Each coordinator starts and stops on
 * its own: a real Trino taking 20 s to start delays no other runtime.
 */
import * as k8s from '@kubernetes/client-node';

export interface StandInCoordinator {
  running: boolean;
  /** Leave this one alone (a test simulating a process that is down while its pod is "up"). */
  ignore?: boolean;
  /** Resolves once the coordinator serves. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function startKubeletStandIn(
  apps: k8s.AppsV1Api,
  namespaces: () => Iterable<string>,
  lookup: (namespace: string, name: string) => StandInCoordinator | undefined,
  startupMs = 1000,
  log: (line: string) => void = () => undefined,
): { stop(): Promise<void> } {
  let stopped = false;
  /** Coordinators being started or stopped right now: not ready, and not touched again until done. */
  const busy = new Set<string>();
  /** The starts and stops under way, and the pass in progress: stop() waits for them. */
  const underWay = new Set<Promise<void>>();
  const track = (p: Promise<void>) => {
    underWay.add(p);
    void p.finally(() => underWay.delete(p));
  };
  const tick = async () => {
    for (const namespace of namespaces()) {
      for (const d of (await apps.listNamespacedDeployment({ namespace })).items) {
        const name = d.metadata?.labels?.['analytics.xtrinode.io/xtrinode'];
        const c = name ? lookup(namespace, name) : undefined;
        if (!name || !c || c.ignore) continue;
        const key = `${namespace}/${name}`;
        const want = (d.spec?.replicas ?? 0) > 0;
        if (!busy.has(key) && want !== c.running) {
          busy.add(key);
          track((async () => {
            try {
              if (want) {
                await new Promise((r) => setTimeout(r, startupMs)); // scheduling and image pull, abridged
                if (stopped) return; // the node is going away: a start now would outlive the stack
                await c.start();
              } else await c.stop();
              c.running = want;
              log(`${key}: coordinator ${want ? 'started' : 'stopped'}`);
            } catch (e) {
              log(`${key}: coordinator ${want ? 'start' : 'stop'} failed, retrying: ${(e as Error).message}`);
            } finally {
              busy.delete(key);
            }
          })());
        }
        const ready = c.running && !busy.has(key) && want ? 1 : 0;
        if ((d.status?.readyReplicas ?? 0) !== ready) {
          await apps.patchNamespacedDeploymentStatus(
            { name: d.metadata!.name!, namespace, body: { status: { replicas: ready, readyReplicas: ready, availableReplicas: ready } } },
            k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
          );
        }
      }
    }
  };
  let next: NodeJS.Timeout | undefined;
  const loop = () => {
    if (stopped) return;
    track(tick().catch(() => undefined).finally(() => {
      if (!stopped) next = setTimeout(loop, 200);
    }));
  };
  loop();
  return {
    /** Starts nothing more and resolves once every start or stop under way has ended. */
    stop: async () => {
      stopped = true;
      if (next) clearTimeout(next);
      while (underWay.size > 0) await Promise.all([...underWay]);
    },
  };
}
