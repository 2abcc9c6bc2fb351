/**
 * Connection reuse to a real kube-apiserver (api-connections.ts): sockets this process holds open
 * after many sequential requests, with client-node as it is and with one shared pool.
 */
import * as k8s from '@kubernetes/client-node';
import { readdirSync, readlinkSync } from 'node:fs';
import { startControlPlane, type ControlPlane } from '../hack/control-plane.ts';
import { reuseConnections } from './api-connections.ts';

let cp: ControlPlane;
let kc: k8s.KubeConfig;

beforeAll(async () => {
  cp = await startControlPlane({ installCrds: false });
  kc = new k8s.KubeConfig();
  kc.loadFromFile(cp.kubeconfig);
}, 120_000);

afterAll(async () => {
  await cp?.stop();
});

/** Sockets this process has open. */
function sockets(): number {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:');
    } catch {
      return false; // closed meanwhile
    }
  }).length;
}

async function socketsAfter(config: k8s.KubeConfig, requests: number): Promise<number> {
  const core = config.makeApiClient(k8s.CoreV1Api);
  const before = sockets();
  for (let i = 0; i < requests; i++) await core.readNamespace({ name: 'default' });
  // Writes too, through KubernetesObjectApi, as the controller makes them.
  const objects = k8s.KubernetesObjectApi.makeApiClient(config);
  for (let i = 0; i < 20; i++) await objects.patch({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'reuse', namespace: 'default' }, data: { i: String(i) } } as k8s.KubernetesObject, undefined, undefined, 'test', true, k8s.PatchStrategy.ServerSideApply);
  return sockets() - before;
}

test('client-node as it is opens a connection per request and leaves it open (why api-connections.ts exists)', async () => {
  expect(await socketsAfter(kc, 100)).toBeGreaterThan(50);
});

test('with one shared pool, 120 sequential requests leave at most 2 more sockets open', async () => {
  expect(await socketsAfter(reuseConnections(kc), 100)).toBeLessThanOrEqual(2);
});

test('concurrent requests through the shared pool all succeed', async () => {
  const core = reuseConnections(kc).makeApiClient(k8s.CoreV1Api);
  const names = await Promise.all(Array.from({ length: 32 }, () => core.readNamespace({ name: 'default' }).then((n) => n.metadata?.name)));
  expect(names).toEqual(Array.from({ length: 32 }, () => 'default'));
});
