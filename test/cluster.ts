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
import { reuseConnections } from '../controller/api-connections.ts';

export interface TestCluster {
  cp: ControlPlane;
  kc: k8s.KubeConfig;
  objects: k8s.KubernetesObjectApi;
  custom: k8s.CustomObjectsApi;
  /** Server-side apply as the field manager `test`. */
  apply(o: Record<string, unknown>): Promise<k8s.KubernetesObject>;
}

/**
 * Services get ClusterIPs from a /16 of loopback (suites create hundreds); the admin clients share
 * one connection pool (controller/api-connections.ts), as the controller's do.
 */
export async function startTestCluster(namespaces: string[]): Promise<TestCluster> {
  const cp = await startControlPlane({ serviceCidr: '127.64.0.0/16' });
  const loaded = new k8s.KubeConfig();
  loaded.loadFromFile(cp.kubeconfig);
  const kc = reuseConnections(loaded);
  const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
  const apply = (o: Record<string, unknown>) => objects.patch(o as k8s.KubernetesObject, undefined, undefined, 'test', true, k8s.PatchStrategy.ServerSideApply);
  for (const name of namespaces) await apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  return { cp, kc, objects, custom: kc.makeApiClient(k8s.CustomObjectsApi), apply };
}
