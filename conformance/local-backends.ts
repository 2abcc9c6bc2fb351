/**
 * Backend provider for the local stack (hack/stack.ts): coordinators are processes on loopback
 * ClusterIPs. There is no kubelet, so a stand-in watches the coordinator Deployments: scaled up,
 * it starts the coordinator (after a 1 s start-up) and reports readiness on the Deployment status;
 * scaled to zero, it stops it.
 */
import * as k8s from '@kubernetes/client-node';
import { FakeCoordinator } from './fake-coordinator.ts';
import type { Stack } from '../hack/stack.ts';
import type { BackendProvider } from './suite.ts';
import { coordinatorDeployment } from './workloads.ts';

export function localBackends(stack: Stack): BackendProvider {
  const apps = stack.kubeConfig.makeApiClient(k8s.AppsV1Api);
  const objects = k8s.KubernetesObjectApi.makeApiClient(stack.kubeConfig);
  const running = new Map<string, boolean>(); // ns/name -> a coordinator process is up
  const namespaces = new Set<string>();
  let stopped = false;

  const tick = async () => {
    for (const namespace of namespaces) {
      for (const d of (await apps.listNamespacedDeployment({ namespace })).items) {
        const name = d.metadata?.labels?.['analytics.xtrinode.io/xtrinode'];
        const key = `${namespace}/${name}`;
        const c = name ? stack.coordinators.get(key) : undefined;
        if (!c?.fake) continue;
        const want = (d.spec?.replicas ?? 0) > 0;
        if (want && !running.get(key)) {
          await new Promise((r) => setTimeout(r, 1000)); // start-up time
          c.fake = new FakeCoordinator({ name: name! });
          await c.fake.start(8080, c.clusterIP);
          running.set(key, true);
        } else if (!want && running.get(key)) {
          await c.fake.stop();
          running.set(key, false);
        }
        const ready = running.get(key) ? 1 : 0;
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
    if (stopped) return;
    void tick().catch(() => undefined).finally(() => setTimeout(loop, 200));
  };
  loop();

  return {
    name: 'local-stack',
    oauth2: true,
    async coordinator(namespace, name, opts = {}) {
      const c = await stack.addCoordinator(namespace, name, { kind: 'fake', ...(opts.oauth2 ? { oauth2: true } : {}) });
      if (opts.suspended) {
        await c.fake!.stop();
        running.set(`${namespace}/${name}`, false);
      } else running.set(`${namespace}/${name}`, true);
      namespaces.add(namespace);
      // The Deployment only tells the stand-in what to run; its pod template is never used here.
      await objects.patch(coordinatorDeployment(namespace, name, { image: 'unused', suspended: opts.suspended === true }) as k8s.KubernetesObject, undefined, undefined, 'xtrinode-conformance', true, k8s.PatchStrategy.ServerSideApply);
      return { identity: name };
    },
    stop: () => void (stopped = true),
  };
}
