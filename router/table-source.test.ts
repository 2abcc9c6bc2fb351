/**
 * The router reads the route table ConfigMap as the controller writes it, plain or gzipped, from a
 * real kube-apiserver: the objects are translate()'s own, applied by server-side apply as the
 * controller does (so a switch between plain and gzip leaves one key, not both).
 */
import * as k8s from '@kubernetes/client-node';
import { startTestCluster, type TestCluster } from '../test/cluster.ts';
import { until } from '../test/until.ts';
import { translate } from '../controller/translate/translate.ts';
import { DEFAULT_SETTINGS } from '../controller/translate/settings.ts';
import type { XTrinode } from '../controller/api/xtrinode.ts';
import type { RouteTable } from '../routetable/schema.ts';
import { ApiServer, credentialsFromKubeconfig } from './api-server.ts';
import { watchTableConfigMap } from './table-source.ts';

const runtimes = (n: number): XTrinode[] => Array.from({ length: n }, (_, i) => ({
  apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { namespace: `team-${i % 50}`, name: `rt-${i}` },
  spec: { routing: { hostnameDomain: 'trino.example.com' } },
}));
const tableObject = (n: number) => translate({ xtrinodes: runtimes(n), settings: DEFAULT_SETTINGS }).objects.find((o) => o.kind === 'ConfigMap')!;

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await startTestCluster(['trino-gateway']);
});
afterAll(async () => {
  await cluster?.cp.stop();
});

test('a gzipped table of 3,000 runtimes, then a plain one of 10, then a ConfigMap with both keys (refused, the last good table kept)', async () => {
  const applyAs = (manager: string, o: object) => cluster.objects.patch(o as k8s.KubernetesObject, undefined, undefined, manager, true, k8s.PatchStrategy.ServerSideApply);
  const big = tableObject(3000) as { binaryData?: Record<string, string> };
  expect(Object.keys(big.binaryData ?? {})).toEqual(['routes.json.gz']);
  await applyAs('xtrinode-controller', big);
  let table: RouteTable | undefined;
  const refused: string[] = [];
  const backends = () => table?.groups.reduce((n, g) => n + g.backends.length, 0);
  const stop = await watchTableConfigMap({ setTable: (t) => (table = t), refuseTable: (r) => refused.push(r) }, 'trino-gateway', 'trino-gateway-routes', new ApiServer(credentialsFromKubeconfig(cluster.kc.exportConfig(), 'kubeconfig')));
  try {
    await until('the router has the gzipped table', async () => backends() === 3000);
    await applyAs('xtrinode-controller', tableObject(10));
    await until('the router has the plain table', async () => backends() === 10);
    const cm = await cluster.kc.makeApiClient(k8s.CoreV1Api).readNamespacedConfigMap({ namespace: 'trino-gateway', name: 'trino-gateway-routes' });
    expect({ data: Object.keys(cm.data ?? {}), binaryData: Object.keys(cm.binaryData ?? {}) }).toEqual({ data: ['routes.json'], binaryData: [] });
    expect(refused).toEqual([]);
    // Someone else adds the gzip key beside the controller's plain one: which is stale is unknown.
    await applyAs('someone-else', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'trino-gateway-routes', namespace: 'trino-gateway' }, binaryData: big.binaryData });
    await until('the router refuses the ConfigMap', async () => refused.length > 0);
    expect(refused[0]).toMatch(/^ConfigMap trino-gateway\/trino-gateway-routes: has both routes\.json and routes\.json\.gz/);
    expect(backends()).toBe(10);
  } finally {
    stop();
  }
});
