/**
 * `kubectl apply -k manifests/`, as the README tells a platform team, against a real API server:
 * it applies cleanly, creates every object, and kustomize builds exactly the objects that the
 * local stack and the tests apply and run from the image (hack/manifests.ts reads the same
 * kustomization; only the image differs, set to the one just built).
 *
 * Needs kubectl (hack/get-components.sh kubectl builds it from the Go module proxy).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { kustomizedObjects } from './manifests.ts';
import { startControlPlane, type ControlPlane } from './control-plane.ts';
import { REPO_ROOT, componentDir } from '../test/components.ts';

const kubectl = join(componentDir('kubectl'), 'kubectl');
let cp: ControlPlane;
const kc = new k8s.KubeConfig();

beforeAll(async () => {
  // A cluster as a platform team has it: no XTrinode CRD yet (manifests/ brings it).
  cp = await startControlPlane({ installCrds: false });
  kc.loadFromFile(cp.kubeconfig);
}, 120_000);

afterAll(async () => {
  await cp?.stop();
});

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } };
const key = (o: Obj) => `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`;

test('kubectl apply -k manifests/ applies cleanly and creates every object', () => {
  const r = spawnSync(kubectl, ['--kubeconfig', cp.kubeconfig, 'apply', '-k', 'manifests/'], { cwd: REPO_ROOT, encoding: 'utf8' });
  expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
  const created = r.stdout.trim().split('\n').sort();
  const objects = kustomizedObjects() as unknown as Obj[];
  // kubectl names each object it created: `<resource>.<group>/<name> created`.
  expect(created.length).toBe(objects.length);
  expect(created.every((l) => l.endsWith(' created'))).toBe(true);
}, 60_000);

test('the objects it creates are the ones the local stack applies and runs from the image', async () => {
  const built = parseAllDocuments(execFileSync(kubectl, ['kustomize', 'manifests/'], { cwd: REPO_ROOT, encoding: 'utf8' })).map((d) => d.toJS() as Obj);
  const ours = kustomizedObjects() as unknown as Obj[];
  const byKey = (xs: Obj[]) => Object.fromEntries(xs.map((o) => [key(o), o]));
  expect(byKey(ours)).toEqual(byKey(built));
  // And what the API server holds is what kustomize built: the Deployments' containers as the image runs them.
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  for (const d of built.filter((o) => o.kind === 'Deployment') as Array<Obj & { spec: { template: { spec: { serviceAccountName: string; containers: Array<{ image: string; args: string[]; env: unknown[]; resources: unknown }> } } } }>) {
    const live = await apps.readNamespacedDeployment({ name: d.metadata.name, namespace: d.metadata.namespace! });
    const want = d.spec.template.spec;
    const got = live.spec!.template.spec!;
    expect({ sa: got.serviceAccountName, image: got.containers[0]!.image, args: got.containers[0]!.args, env: got.containers[0]!.env?.length })
      .toEqual({ sa: want.serviceAccountName, image: want.containers[0]!.image, args: want.containers[0]!.args, env: want.containers[0]!.env.length });
  }
}, 60_000);
