/**
 * Backend provider for the local stack (hack/stack.ts): coordinators are processes on loopback
 * ClusterIPs; a kubelet stand-in starts and stops them as their labelled Deployments scale, and
 * reports readiness on the Deployment status as a kubelet would.
 */
import * as k8s from '@kubernetes/client-node';
import { FakeCoordinator } from '../test/fake-coordinator.ts';
import type { Stack } from '../hack/stack.ts';
import type { BackendProvider } from './suite.ts';

export function localBackends(stack: Stack): BackendProvider {
  const apps = stack.kubeConfig.makeApiClient(k8s.AppsV1Api);
  return {
    name: 'local-stack',
    oauth2: true,
    async coordinator(namespace, name, opts = {}) {
      const c = await stack.addCoordinator(namespace, name, { kind: 'fake', ...(opts.oauth2 ? { oauth2: true } : {}) });
      return { identity: c.fake ? name : undefined };
    },
    kubelet(namespace) {
      let stopped = false;
      const running = new Map<string, boolean>();
      const tick = async () => {
        const list = await apps.listNamespacedDeployment({ namespace });
        for (const d of list.items) {
          const name = d.metadata?.labels?.['analytics.xtrinode.io/xtrinode'];
          const c = name ? stack.coordinators.get(`${namespace}/${name}`) : undefined;
          if (!c?.fake) continue;
          const want = (d.spec?.replicas ?? 0) > 0;
          const isUp = running.get(name!) ?? true; // addCoordinator started it
          if (want && !isUp) {
            await new Promise((r) => setTimeout(r, 1000)); // start-up time
            c.fake = new FakeCoordinator({ name: name! });
            await c.fake.start(8080, c.clusterIP);
            running.set(name!, true);
          } else if (!want && isUp) {
            await c.fake.stop();
            running.set(name!, false);
          }
          const ready = running.get(name!) ? 1 : 0;
          if ((d.status?.readyReplicas ?? 0) !== ready) {
            await apps.patchNamespacedDeploymentStatus(
              { name: d.metadata!.name!, namespace, body: { status: { replicas: ready, readyReplicas: ready, availableReplicas: ready } } },
              k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
            );
          }
        }
      };
      const loop = () => {
        if (stopped) return;
        void tick().catch(() => undefined).finally(() => setTimeout(loop, 200));
      };
      loop();
      return { stop: () => void (stopped = true) };
    },
  };
}
