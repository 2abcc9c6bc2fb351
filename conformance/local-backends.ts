/**
 * Backend provider for the local stack (hack/stack.ts): coordinators are processes on loopback
 * ClusterIPs, started and stopped with their Deployments by the kubelet stand-in.
 */
import * as k8s from '@kubernetes/client-node';
import { FakeCoordinator } from './fake-coordinator.ts';
import type { Stack } from '../hack/stack.ts';
import type { BackendProvider } from './suite.ts';
import { coordinatorDeployment } from './workloads.ts';
import { startKubeletStandIn } from './kubelet-stand-in.ts';

export function localBackends(stack: Stack): BackendProvider {
  const apps = stack.kubeConfig.makeApiClient(k8s.AppsV1Api);
  const objects = k8s.KubernetesObjectApi.makeApiClient(stack.kubeConfig);
  const running = new Map<string, boolean>(); // ns/name -> a coordinator process is up
  const namespaces = new Set<string>();
  const standIn = startKubeletStandIn(apps, () => namespaces, (namespace, name) => {
    const key = `${namespace}/${name}`;
    const c = stack.coordinators.get(key);
    if (!c?.fake) return undefined;
    return {
      get running() {
        return running.get(key) ?? false;
      },
      set running(v: boolean) {
        running.set(key, v);
      },
      start: async () => {
        c.fake = new FakeCoordinator({ name });
        await c.fake.start(8080, c.clusterIP);
      },
      stop: () => c.fake!.stop(),
    };
  });

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
    stop: () => standIn.stop(),
  };
}
