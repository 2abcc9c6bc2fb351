/**
 * The Helm chart (charts/xtrinode-gateway) with Helm v4 and a real kube-apiserver: `helm lint`
 * passes, manifests/ is exactly what the chart renders (hack/chart.ts), values.schema.json refuses
 * bad values by name, values reach the objects they name, and `helm install` / `helm upgrade` /
 * `helm uninstall` on an API server without the XTrinode CRD create every object (PDBs and
 * NetworkPolicies included), keep the generated router Secret across an upgrade, and keep the CRD
 * (and so every XTrinode) after an uninstall.
 *
 * Needs Helm (hack/get-components.sh helm builds it from the Go module proxy).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { CHART_DIR, helmBinary, helmInstall, helmTemplate, renderedManifests, staleManifests } from './chart.ts';
import { startControlPlane, type ControlPlane } from './control-plane.ts';
import { REPO_ROOT } from '../test/components.ts';

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; annotations?: Record<string, string> }; spec?: any; data?: Record<string, string>; rules?: unknown[]; subjects?: Array<{ namespace: string }> };
const objects = (yaml: string): Obj[] => parseAllDocuments(yaml).map((d) => d.toJS() as Obj).filter((o) => o?.kind);
const key = (o: Obj) => `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`;
const find = (xs: Obj[], kind: string, name: string) => xs.find((o) => o.kind === kind && o.metadata.name === name);
const env = (d: Obj | undefined) => Object.fromEntries((d!.spec.template.spec.containers[0].env as Array<{ name: string; value?: string; valueFrom?: unknown }>).map((e) => [e.name, e.value ?? e.valueFrom]));

/** helm template with `--set` pairs; the exit status and stderr when it refuses. */
function template(sets: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(helmBinary(), ['template', 'xtrinode-gateway', CHART_DIR, '--namespace', 'xtrinode-system', ...sets.flatMap((s) => ['--set', s])], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('the chart, rendered', () => {
  test('helm lint --strict passes', () => {
    const r = spawnSync(helmBinary(), ['lint', '--strict', CHART_DIR], { encoding: 'utf8' });
    expect({ status: r.status, failed: /(\d+) chart\(s\) failed/.exec(r.stdout)?.[1], errors: r.stdout.split('\n').filter((l) => /\[(ERROR|WARNING)\]/.test(l)) }).toEqual({ status: 0, failed: '0', errors: [] });
  });

  test('manifests/ is what the chart renders with ci/kustomize-values.yaml (run npm run manifests after a chart change)', () => {
    expect(staleManifests()).toEqual([]);
  });

  test('kustomization.yaml lists every rendered file, and namespace.yaml, and nothing else', () => {
    const k = parseAllDocuments(readFileSync(join(REPO_ROOT, 'manifests/kustomization.yaml'), 'utf8'))[0]!.toJS() as { resources: string[] };
    expect([...k.resources].sort()).toEqual([...renderedManifests().keys(), 'namespace.yaml'].sort());
  });

  test.each([
    ['controller.sharedGroups=weighted', /controller.*sharedGroups/],
    ['controller.followUps=dns', /controller.*followUps/],
    ['router.workers=0', /router.*workers/],
    ['router.replicas=two', /router.*replicas/],
    ['router.drainTimeout=soon', /router.*drainTimeout/],
    ['gateway.name=Trino_Gateway', /gateway.*name/],
    ['networkPolicy.apiServer.cidrs={10.0.0.1}', /networkPolicy.*apiServer.*cidrs/],
    ['routerReplicas=3', /routerReplicas/],
  ])('values.schema.json refuses %s, naming it', (set, names) => {
    const r = template([set]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(names);
    expect(r.stdout).toBe('');
  });

  test('the defaults: a generated router Secret, PDBs and NetworkPolicies, Helm\'s labels, the chart\'s image', () => {
    const xs = objects(helmTemplate());
    const secret = find(xs, 'Secret', 'xtrinode-router')!;
    expect(Buffer.from(secret.data!['router-secret']!, 'base64').toString().length).toBeGreaterThanOrEqual(32);
    expect(xs.filter((o) => o.kind === 'PodDisruptionBudget').map(key).sort()).toEqual(['PodDisruptionBudget trino-gateway/xtrinode-router', 'PodDisruptionBudget xtrinode-system/xtrinode-controller']);
    expect(xs.filter((o) => o.kind === 'NetworkPolicy').map(key).sort()).toEqual(['NetworkPolicy trino-gateway/xtrinode-router', 'NetworkPolicy xtrinode-system/xtrinode-controller']);
    const router = find(xs, 'Deployment', 'xtrinode-router')!;
    expect(router.spec.template.spec.containers[0].image).toBe('ghcr.io/xtrinode/xtrinode-gateway:0.1.0');
    expect((router.metadata as { labels?: Record<string, string> }).labels).toEqual(expect.objectContaining({ 'app.kubernetes.io/managed-by': 'Helm', 'app.kubernetes.io/instance': 'xtrinode-gateway' }));
    // Two renders, two secrets: nothing fixed is shipped in the chart.
    expect(find(objects(helmTemplate()), 'Secret', 'xtrinode-router')!.data!['router-secret']).not.toBe(secret.data!['router-secret']);
  });

  test('values reach the objects they name', () => {
    const r = template([
      'gateway.namespace=edge', 'gateway.name=public', 'gateway.sectionName=https', 'controller.namespace=ops', 'controller.replicas=3', 'router.replicas=4', 'router.workers=3',
      'controller.sharedGroups=router', 'controller.acceptRulesFrom=team-a\\,team-b', 'router.queueLimit=50', 'router.queueTimeout=2m', 'router.secret.create=false', 'router.secret.name=my-router',
      'router.resources.limits.memory=1Gi', 'router.extraEnv.LOG_LEVEL=debug', 'image.repository=registry.local/xtn', 'image.tag=9.9.9', 'podDisruptionBudget.enabled=false', 'networkPolicy.enabled=false',
      'router.nodeSelector.pool=gateway',
    ]);
    expect(r.stderr).toBe('');
    const xs = objects(r.stdout);
    const controller = find(xs, 'Deployment', 'xtrinode-controller')!;
    const router = find(xs, 'Deployment', 'xtrinode-router')!;
    expect({ ns: controller.metadata.namespace, replicas: controller.spec.replicas, env: env(controller) }).toEqual({
      ns: 'ops', replicas: 3, env: expect.objectContaining({ GATEWAY: 'edge/public/https', ROUTER_SERVICE: 'edge/xtrinode-router:8080', SHARED_GROUPS: 'router', ACCEPT_RULES_FROM: 'team-a,team-b' }),
    });
    expect({ ns: router.metadata.namespace, replicas: router.spec.replicas, image: router.spec.template.spec.containers[0].image, memory: router.spec.template.spec.containers[0].resources.limits.memory, nodeSelector: router.spec.template.spec.nodeSelector, env: env(router) }).toEqual({
      ns: 'edge', replicas: 4, image: 'registry.local/xtn:9.9.9', memory: '1Gi', nodeSelector: { pool: 'gateway' },
      env: expect.objectContaining({ ROUTES_CONFIGMAP: 'edge/trino-gateway-routes', WORKERS: '3', QUEUE_LIMIT: '50', QUEUE_TIMEOUT: '2m', LOG_LEVEL: 'debug', ROUTER_SECRET: { secretKeyRef: { name: 'my-router', key: 'router-secret' } } }),
    });
    // The controller's Role and the router's Role are in the Gateway's namespace; bindings name the ServiceAccounts where they are.
    expect(find(xs, 'RoleBinding', 'xtrinode-controller')!.metadata.namespace).toBe('edge');
    expect(find(xs, 'RoleBinding', 'xtrinode-controller')!.subjects).toEqual([expect.objectContaining({ namespace: 'ops' })]);
    expect(find(xs, 'Role', 'xtrinode-controller-leader')!.metadata.namespace).toBe('ops');
    expect(xs.filter((o) => ['Secret', 'PodDisruptionBudget', 'NetworkPolicy'].includes(o.kind)).map(key)).toEqual([]);
  });

  test('the router NetworkPolicy opens its peer ports for exactly its workers', () => {
    const np = find(objects(template(['router.workers=4']).stdout), 'NetworkPolicy', 'xtrinode-router')!;
    expect(np.spec.ingress[1].ports).toEqual([{ port: 8090, endPort: 8093, protocol: 'TCP' }]);
  });
});

describe('helm install on a real API server', () => {
  let cp: ControlPlane;
  const kc = new k8s.KubeConfig();

  beforeAll(async () => {
    // A cluster as a platform team has it: the Gateway's namespace, no XTrinode CRD.
    cp = await startControlPlane({ installCrds: false });
    kc.loadFromFile(cp.kubeconfig);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    for (const name of ['trino-gateway', 'xtrinode-system']) await core.createNamespace({ body: { metadata: { name } } });
  }, 120_000);

  afterAll(async () => {
    await cp?.stop();
  });

  const secretValue = async () => (await kc.makeApiClient(k8s.CoreV1Api).readNamespacedSecret({ name: 'xtrinode-router', namespace: 'trino-gateway' })).data!['router-secret']!;

  test('installs every object the chart renders, the CRD established; upgrade keeps the router Secret; uninstall keeps the CRD', async () => {
    const out = await helmInstall(cp.kubeconfig);
    expect(out).toMatch(/STATUS: deployed/);
    const api = k8s.KubernetesObjectApi.makeApiClient(kc);
    const want = objects(helmTemplate());
    for (const o of want) {
      const live = await api.read({ apiVersion: o.apiVersion, kind: o.kind, metadata: { name: o.metadata.name, ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}) } });
      expect(key(live as Obj)).toBe(key(o));
    }
    const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
    const crd = await ext.readCustomResourceDefinition({ name: 'xtrinodes.analytics.xtrinode.io' });
    expect(crd.status?.conditions?.find((c) => c.type === 'Established')?.status).toBe('True');

    const first = await secretValue();
    expect(Buffer.from(first, 'base64').toString().length).toBeGreaterThanOrEqual(32);
    expect(await helmInstall(cp.kubeconfig, ['--set', 'router.replicas=3'], 'upgrade')).toMatch(/STATUS: deployed/);
    expect((await kc.makeApiClient(k8s.AppsV1Api).readNamespacedDeployment({ name: 'xtrinode-router', namespace: 'trino-gateway' })).spec!.replicas).toBe(3);
    expect(await secretValue()).toBe(first);

    const un = spawnSync(helmBinary(), ['uninstall', 'xtrinode-gateway', '--kubeconfig', cp.kubeconfig, '--namespace', 'xtrinode-system', '--wait', '--timeout', '1m'], { encoding: 'utf8' });
    expect({ status: un.status, stderr: un.stderr }).toEqual({ status: 0, stderr: '' });
    await expect(kc.makeApiClient(k8s.AppsV1Api).readNamespacedDeployment({ name: 'xtrinode-router', namespace: 'trino-gateway' })).rejects.toThrow(/404|not found/i);
    expect((await ext.readCustomResourceDefinition({ name: 'xtrinodes.analytics.xtrinode.io' })).metadata!.name).toBe('xtrinodes.analytics.xtrinode.io');
  }, 240_000);
});
