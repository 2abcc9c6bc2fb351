/**
 * What a kubelet does for a coordinator Deployment, for machines without one: scaled up, the
 * coordinator process starts (after a start-up delay) and `readyReplicas` becomes 1; scaled to
 * zero, it stops. Deployments are matched by the label `analytics.xtrinode.io/xtrinode`.
 */
import * as k8s from '@kubernetes/client-node';

export interface StandInCoordinator {
  running: boolean;
  /** Leave this one alone (a test simulating a process that is down while its pod is "up"). */
  ignore?: boolean;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function startKubeletStandIn(
  apps: k8s.AppsV1Api,
  namespaces: () => Iterable<string>,
  lookup: (namespace: string, name: string) => StandInCoordinator | undefined,
  startupMs = 1000,
): { stop(): void } {
  let stopped = false;
  const tick = async () => {
    for (const namespace of namespaces()) {
      for (const d of (await apps.listNamespacedDeployment({ namespace })).items) {
        const name = d.metadata?.labels?.['analytics.xtrinode.io/xtrinode'];
        const c = name ? lookup(namespace, name) : undefined;
        if (!c || c.ignore) continue;
        const want = (d.spec?.replicas ?? 0) > 0;
        if (want && !c.running) {
          c.running = true;
          await new Promise((r) => setTimeout(r, startupMs)); // JVM start-up, abridged
          await c.start();
        } else if (!want && c.running) {
          c.running = false;
          await c.stop();
        }
        const ready = c.running ? 1 : 0;
        if ((d.status?.readyReplicas ?? 0) !== ready) {
          await apps.patchNamespacedDeploymentStatus(
            { name: d.metadata!.name!, namespace, body: { status: { replicas: ready, readyReplicas: ready, availableReplicas: ready } } },
            k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
          );
        }
      }
    }
  };
  const loop = () => {
    if (!stopped) void tick().catch(() => undefined).finally(() => setTimeout(loop, 200));
  };
  loop();
  return { stop: () => void (stopped = true) };
}
