/**
 * A real control plane for a test suite, with admin clients and namespaces ready.
 *
 * @example
 * const c = await startTestCluster(['trino-gateway', 'xtrinode-system']);
 * await c.apply({ apiVersion: 'v1', kind: 'Service', ... });
 * await c.cp.stop();
 */
import * as k8s from '@kubernetes/client-node';
import { startControlPlane, type ControlPlane } from '../hack/control-plane.ts';

export interface TestCluster {
  cp: ControlPlane;
  kc: k8s.KubeConfig;
  objects: k8s.KubernetesObjectApi;
  custom: k8s.CustomObjectsApi;
  /** Server-side apply as the field manager `test`. */
  apply(o: Record<string, unknown>): Promise<k8s.KubernetesObject>;
}

export async function startTestCluster(namespaces: string[]): Promise<TestCluster> {
  const cp = await startControlPlane();
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(cp.kubeconfig);
  const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
  const apply = (o: Record<string, unknown>) => objects.patch(o as k8s.KubernetesObject, undefined, undefined, 'test', true, k8s.PatchStrategy.ServerSideApply);
  for (const name of namespaces) await apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  return { cp, kc, objects, custom: kc.makeApiClient(k8s.CustomObjectsApi), apply };
}
