/**
 * Backend provider for a real cluster: each coordinator is a pod running the fake coordinator
 * from the project image (`conformance/fake-coordinator-main.ts`), behind a selector Service.
 * The cluster's kubelet starts and readies them, including on resume. Not exercised by this
 * project's CI (no kubelet there); hack/kind/conformance.sh runs it on kind.
 */
import * as k8s from '@kubernetes/client-node';
import type { BackendProvider } from './suite.ts';
import { coordinatorDeployment } from './workloads.ts';

export function clusterBackends(kubeConfig: k8s.KubeConfig, image: string): BackendProvider {
  const objects = k8s.KubernetesObjectApi.makeApiClient(kubeConfig);
  const apps = kubeConfig.makeApiClient(k8s.AppsV1Api);
  const apply = (o: Record<string, unknown>) => objects.patch(o as k8s.KubernetesObject, undefined, undefined, 'xtrinode-conformance', true, k8s.PatchStrategy.ServerSideApply);
  return {
    name: `cluster (${image})`,
    oauth2: true,
    async coordinator(namespace, name, opts = {}) {
      await apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
      await apply(coordinatorDeployment(namespace, name, { image, suspended: opts.suspended === true, oauth2: opts.oauth2 === true }));
      await apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: `${name}-coordinator`, namespace }, spec: { selector: { app: `${name}-coordinator` }, ports: [{ name: 'http', port: 8080, targetPort: 'http' }] } });
      if (!opts.suspended) {
        const deadline = Date.now() + 180_000;
        while (((await apps.readNamespacedDeployment({ name: `${name}-coordinator`, namespace })).status?.readyReplicas ?? 0) < 1) {
          if (Date.now() > deadline) throw new Error(`coordinator ${namespace}/${name} not ready within 180s (image ${image})`);
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
      return { identity: name };
    },
  };
}
