/**
 * The RBAC in manifests/ is enough, and no more: the controller and a resuming router run against
 * a real API server as their ServiceAccounts (tokens from the TokenRequest API), bound only by
 * manifests/controller/rbac.yaml and manifests/router/rbac.yaml.
 */
import * as k8s from '@kubernetes/client-node';
import pino from 'pino';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import type { ControlPlane } from '../hack/control-plane.ts';
import { startTestCluster } from '../test/cluster.ts';
import { REPO_ROOT } from '../test/components.ts';
import { until } from '../test/until.ts';
import { Controller } from './controller.ts';
import { BACKEND_HEADER_FEATURE, GatewayFeatures } from './gateway-features.ts';
import { DEFAULT_SETTINGS } from './translate/settings.ts';
import { Resumer } from '../router/resume.ts';
import { AnnotationActivity } from '../router/activity.ts';
import { QueueEvents } from '../router/queue-events.ts';
import { watchTableConfigMap } from '../router/table-source.ts';
import type { RouteTable } from '../routetable/schema.ts';
import { ApiServer, credentialsFromKubeconfig } from '../router/api-server.ts';

/** The router's own API client, with the credentials of a client-node KubeConfig. */
const apiServerOf = (kc: { exportConfig(): string }) => new ApiServer(credentialsFromKubeconfig(kc.exportConfig(), 'kubeconfig'));

const log = pino({ level: process.env.XTN_TEST_LOG ?? 'silent' });
let cp: ControlPlane;
let admin: k8s.KubeConfig;
let controller: Controller | undefined;

const apply = (kc: k8s.KubeConfig, o: Record<string, unknown>) =>
  k8s.KubernetesObjectApi.makeApiClient(kc).patch(o as k8s.KubernetesObject, undefined, undefined, 'test', true, k8s.PatchStrategy.ServerSideApply);

async function applyManifest(file: string): Promise<void> {
  const docs = parseAllDocuments(readFileSync(join(REPO_ROOT, file), 'utf8'));
  for (const d of Array.isArray(docs) ? docs : []) {
    const o = d.toJS() as Record<string, unknown> | null;
    if (o) await apply(admin, o);
  }
}

/** A kubeconfig that authenticates as the ServiceAccount. */
async function asServiceAccount(namespace: string, name: string): Promise<k8s.KubeConfig> {
  const core = admin.makeApiClient(k8s.CoreV1Api);
  const tr = await core.createNamespacedServiceAccountToken({ namespace, name, body: { spec: { audiences: ['https://kubernetes.default.svc'], expirationSeconds: 3600 } } });
  const cluster = admin.getCurrentCluster()!;
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'test', server: cluster.server, caData: cluster.caData }],
    users: [{ name, token: tr.status!.token }],
    contexts: [{ name: 'sa', cluster: 'test', user: name }],
    currentContext: 'sa',
  });
  return kc;
}


beforeAll(async () => {
  ({ cp, kc: admin } = await startTestCluster([]));
  await applyManifest('manifests/namespace.yaml');
  await applyManifest('manifests/controller/rbac.yaml');
  await applyManifest('manifests/router/rbac.yaml');
  await apply(admin, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a' } });
}, 300_000);

afterAll(async () => {
  await controller?.stop();
  await cp?.stop();
});

describe('least-privilege RBAC from manifests/', () => {
  test('the controller reconciles, scales and writes status as its ServiceAccount', async () => {
    const kc = await asServiceAccount('xtrinode-system', 'xtrinode-controller');
    controller = new Controller({ kubeConfig: kc, settings: DEFAULT_SETTINGS, identity: 'rbac-test', leaseNamespace: 'xtrinode-system', logger: log, routeSettleMaxMs: 2000 });
    await controller.start();
    await apply(admin, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'rt-coordinator', namespace: 'team-a' }, spec: { ports: [{ port: 8080 }] } });
    await apply(admin, { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'rt-coordinator', namespace: 'team-a', labels: { 'analytics.xtrinode.io/xtrinode': 'rt', 'analytics.xtrinode.io/role': 'coordinator' } }, spec: { replicas: 2, selector: { matchLabels: { a: 'rt' } }, template: { metadata: { labels: { a: 'rt' } }, spec: { containers: [{ name: 'c', image: 'x' }] } } } });
    await apply(admin, { apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { name: 'rt', namespace: 'team-a' }, spec: { suspend: true, routing: { hostname: 'rt.example.com', header: 'X-Trino-XTrinode=team-a/rt' } } });
    const custom = admin.makeApiClient(k8s.CustomObjectsApi);
    await until('route, grant, table and status written', async () => {
      await custom.getNamespacedCustomObject({ group: 'gateway.networking.k8s.io', version: 'v1', namespace: 'trino-gateway', plural: 'httproutes', name: 'xtrinode-team-a--rt' });
      const x = (await custom.getNamespacedCustomObject({ group: 'analytics.xtrinode.io', version: 'v1', namespace: 'team-a', plural: 'xtrinodes', name: 'rt' })) as { status?: { conditions?: unknown[] } };
      return (x.status?.conditions?.length ?? 0) > 0;
    });
    // Suspended: scaled down under the controller's RBAC, once the routes lead to the router (no
    // Gateway implementation reports here: the controller waits its bound, 2 s in this test).
    const d = await until('scaled down', async () => {
      const x = await admin.makeApiClient(k8s.AppsV1Api).readNamespacedDeployment({ name: 'rt-coordinator', namespace: 'team-a' });
      return x.spec?.replicas === 0 ? x : undefined;
    });
    expect(d.spec?.replicas).toBe(0);
    // Scaled through /scale: the Deployment itself is not rewritten, and the count to come back
    // to is on the XTrinode.
    expect(d.metadata?.annotations?.['analytics.xtrinode.io/replicas-before-suspend']).toBeUndefined();
    const suspended = (await custom.getNamespacedCustomObject({ group: 'analytics.xtrinode.io', version: 'v1', namespace: 'team-a', plural: 'xtrinodes', name: 'rt' })) as { metadata: { annotations?: Record<string, string> } };
    expect(suspended.metadata.annotations?.['analytics.xtrinode.io/replicas-before-suspend']).toBe('{"Deployment/rt-coordinator":2}');
    // Resumed: back to 2 replicas, the record removed.
    await custom.patchNamespacedCustomObject(
      { group: 'analytics.xtrinode.io', version: 'v1', namespace: 'team-a', plural: 'xtrinodes', name: 'rt', body: { spec: { suspend: false } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await until('scaled back to 2, the record removed', async () => {
      const x = await admin.makeApiClient(k8s.AppsV1Api).readNamespacedDeployment({ name: 'rt-coordinator', namespace: 'team-a' });
      const xt = (await custom.getNamespacedCustomObject({ group: 'analytics.xtrinode.io', version: 'v1', namespace: 'team-a', plural: 'xtrinodes', name: 'rt' })) as { metadata: { annotations?: Record<string, string> } };
      return x.spec?.replicas === 2 && xt.metadata.annotations?.['analytics.xtrinode.io/replicas-before-suspend'] === undefined ? x : undefined;
    });
    // Suspended again for the router's test below.
    await custom.patchNamespacedCustomObject(
      { group: 'analytics.xtrinode.io', version: 'v1', namespace: 'team-a', plural: 'xtrinodes', name: 'rt', body: { spec: { suspend: true } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await until('scaled down again', async () => ((await admin.makeApiClient(k8s.AppsV1Api).readNamespacedDeployment({ name: 'rt-coordinator', namespace: 'team-a' })).spec?.replicas === 0 ? true : undefined));
    const errors = (await controller.registry.getSingleMetric('xtrinode_controller_reconciles_total')!.get()).values.filter((v) => v.labels.result === 'error' && v.value > 0);
    expect(errors).toEqual([]);
  });

  test('SHARED_GROUPS=auto: the controller reads the Gateway and its GatewayClass\'s supported features as its ServiceAccount', async () => {
    await apply(admin, { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: 'rbac-class' }, spec: { controllerName: 'example.com/gateway' } });
    await apply(admin, { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'trino-gateway', namespace: 'trino-gateway' }, spec: { gatewayClassName: 'rbac-class', listeners: [{ name: 'http', protocol: 'HTTP', port: 80 }] } });
    await admin.makeApiClient(k8s.CustomObjectsApi).patchClusterCustomObjectStatus(
      { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'gatewayclasses', name: 'rbac-class', body: { status: { supportedFeatures: [{ name: BACKEND_HEADER_FEATURE }] } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    const kc = await asServiceAccount('xtrinode-system', 'xtrinode-controller');
    const features = new GatewayFeatures(kc.makeApiClient(k8s.CustomObjectsApi), { namespace: 'trino-gateway', name: 'trino-gateway' });
    expect(await features.sharedGroupPath()).toEqual({ path: 'gateway-weighted', reason: `GatewayClass rbac-class supports ${BACKEND_HEADER_FEATURE} (status.supportedFeatures)` });
  });

  test('the router reads the route table, takes a resume Lease and resumes, as its ServiceAccount', async () => {
    const kc = await asServiceAccount('trino-gateway', 'xtrinode-router');
    // the router's own ConfigMap watch (list + watch restricted to one resourceName)
    let watched: RouteTable | undefined;
    const refused: string[] = [];
    const stop = await watchTableConfigMap({ setTable: (t) => (watched = t), refuseTable: (r) => refused.push(r) }, 'trino-gateway', 'trino-gateway-routes', apiServerOf(kc));
    stop();
    expect(refused).toEqual([]);
    expect(watched?.groups.map((g) => g.name)).toContain('team-a--rt');
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const cm = await core.readNamespacedConfigMap({ namespace: 'trino-gateway', name: 'trino-gateway-routes' });
    const table = JSON.parse(cm.data!['routes.json']!) as { groups: Array<{ name: string; backends: Array<{ state: string }> }> };
    const group = table.groups.find((g) => g.name === 'team-a--rt')!;
    expect(group.backends[0]!.state).toBe('Suspended');
    const resumer = new Resumer({ api: apiServerOf(kc), namespace: 'trino-gateway', identity: 'router-sa', logger: log });
    await resumer.resume(group as never);
    const custom = admin.makeApiClient(k8s.CustomObjectsApi);
    const x = (await custom.getNamespacedCustomObject({ group: 'analytics.xtrinode.io', version: 'v1', namespace: 'team-a', plural: 'xtrinodes', name: 'rt' })) as { spec: { suspend?: boolean } };
    expect(x.spec.suspend).toBe(false);
    const activity = new AnnotationActivity(apiServerOf(kc), log);
    activity.note('team-a/rt');
    await activity.flush();
    const y = (await custom.getNamespacedCustomObject({ group: 'analytics.xtrinode.io', version: 'v1', namespace: 'team-a', plural: 'xtrinodes', name: 'rt' })) as { metadata: { annotations?: Record<string, string> } };
    expect(y.metadata.annotations?.['analytics.xtrinode.io/last-activity']).toBeDefined();
    // A group that starts queueing: the Event, posted as the router.
    const failures: string[] = [];
    const events = new QueueEvents({ post: (ns, body) => apiServerOf(kc).call('POST', `/api/v1/namespaces/${ns}/events`, body).then(() => undefined), identity: 'router-sa', log: { warn: (o: object) => void failures.push(JSON.stringify(o)) } as never });
    events.changed(group as never, true, 1);
    const posted = await until('the QueueStarted Event', async () => (await admin.makeApiClient(k8s.CoreV1Api).listNamespacedEvent({ namespace: 'team-a' })).items.find((e) => e.reason === 'QueueStarted' && e.involvedObject.name === 'rt'), 10_000);
    expect({ message: posted.message, failures }).toEqual({ message: 'routing group team-a--rt: every member is at its capacity.maxQueries; new statements wait in the gateway queue of router router-sa (1 waiting).', failures: [] });
  });

  test('and nothing more: what neither needs is forbidden', async () => {
    const router = await asServiceAccount('trino-gateway', 'xtrinode-router');
    const ctrl = await asServiceAccount('xtrinode-system', 'xtrinode-controller');
    const forbidden = async (p: Promise<unknown>) => {
      try {
        await p;
        return 'allowed';
      } catch (e) {
        return (e as { code?: number }).code === 403 ? 'forbidden' : `error ${(e as { code?: number }).code}`;
      }
    };
    expect(await forbidden(router.makeApiClient(k8s.CoreV1Api).listSecretForAllNamespaces())).toBe('forbidden');
    expect(await forbidden(router.makeApiClient(k8s.CoreV1Api).listNamespacedEvent({ namespace: 'team-a' }))).toBe('forbidden');
    expect(await forbidden(router.makeApiClient(k8s.CoreV1Api).readNamespacedConfigMap({ namespace: 'trino-gateway', name: 'other' }))).toBe('forbidden');
    expect(await forbidden(router.makeApiClient(k8s.CustomObjectsApi).listClusterCustomObject({ group: 'analytics.xtrinode.io', version: 'v1', plural: 'xtrinodes' }))).toBe('forbidden');
    expect(await forbidden(ctrl.makeApiClient(k8s.CoreV1Api).listSecretForAllNamespaces())).toBe('forbidden');
    expect(await forbidden(ctrl.makeApiClient(k8s.CoreV1Api).createNamespacedConfigMap({ namespace: 'team-a', body: { metadata: { name: 'x' } } }))).toBe('forbidden');
    expect(await forbidden(ctrl.makeApiClient(k8s.CustomObjectsApi).createNamespacedCustomObject({ group: 'gateway.networking.k8s.io', version: 'v1', namespace: 'team-a', plural: 'httproutes', body: { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'x' }, spec: {} } }))).toBe('forbidden');
    expect(await forbidden(ctrl.makeApiClient(k8s.AppsV1Api).deleteNamespacedDeployment({ namespace: 'team-a', name: 'rt-coordinator' }))).toBe('forbidden');
    // It may change how many replicas a workload runs, not what they run.
    const newImage = { spec: { template: { spec: { containers: [{ name: 'c', image: 'attacker/image' }] } } } };
    expect(await forbidden(ctrl.makeApiClient(k8s.AppsV1Api).patchNamespacedDeployment({ namespace: 'team-a', name: 'rt-coordinator', body: newImage }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch)))).toBe('forbidden');
    expect(await forbidden(ctrl.makeApiClient(k8s.AppsV1Api).patchNamespacedDeploymentScale({ namespace: 'team-a', name: 'rt-coordinator', body: { spec: { replicas: 2 } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch)))).toBe('allowed');
  });
});

test('the router may resume an XTrinode and write its activity, and change nothing else of it (ValidatingAdmissionPolicy xtrinode-router-writes)', async () => {
  const router = (await asServiceAccount('trino-gateway', 'xtrinode-router')).makeApiClient(k8s.CustomObjectsApi);
  const custom = admin.makeApiClient(k8s.CustomObjectsApi);
  const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
  const target = { group: 'analytics.xtrinode.io', version: 'v1', namespace: 'team-a', plural: 'xtrinodes', name: 'policy-target' };
  await apply(admin, { apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { name: 'policy-target', namespace: 'team-a', labels: { team: 'a' }, annotations: { owner: 'team-a' } }, spec: { suspend: true, idleTimeout: '30m', routing: { hostname: 'policy-target.example.com' } } });
  const asRouter = async (body: unknown): Promise<string> => {
    try {
      await router.patchNamespacedCustomObject({ ...target, body }, merge);
      return 'allowed';
    } catch (e) {
      const err = e as { code?: number; body?: unknown };
      const message = (JSON.parse(String(err.body)) as { message?: string }).message ?? '';
      return `${err.code}: ${message.replace(/^.*denied request: /, '')}`;
    }
  };
  await until('the policy is in force', async () => (await asRouter({ spec: { routing: { hostname: 'stolen.example.com' } } })) !== 'allowed');
  expect(await asRouter({ spec: { routing: { hostname: 'stolen.example.com' } } })).toBe('403: the router may change only spec.suspend of an XTrinode (to resume it), not spec.routing');
  expect(await asRouter({ spec: { idleTimeout: '1m' } })).toBe('403: the router may change only spec.suspend of an XTrinode (to resume it), not spec.idleTimeout');
  expect(await asRouter({ spec: { capacity: { maxQueries: 1 } } })).toBe('403: the router may change only spec.suspend of an XTrinode (to resume it), not spec.capacity');
  expect(await asRouter({ metadata: { annotations: { owner: 'someone-else' } } })).toBe('403: the router may change only the analytics.xtrinode.io/last-activity annotation of an XTrinode');
  expect(await asRouter({ metadata: { annotations: { 'analytics.xtrinode.io/replicas-before-suspend': '{"Deployment/x":100}' } } })).toBe('403: the router may change only the analytics.xtrinode.io/last-activity annotation of an XTrinode');
  expect(await asRouter({ metadata: { labels: { team: 'b' } } })).toBe('403: the router may not change the labels, finalizers or owner references of an XTrinode');
  expect(await asRouter({ metadata: { finalizers: ['example.com/hold'] } })).toBe('403: the router may not change the labels, finalizers or owner references of an XTrinode');
  // What it does: activity, and resume.
  expect(await asRouter({ metadata: { annotations: { 'analytics.xtrinode.io/last-activity': new Date().toISOString() } } })).toBe('allowed');
  expect(await asRouter({ spec: { suspend: false } })).toBe('allowed');
  expect(await asRouter({ spec: { suspend: true } })).toBe('403: the router may resume an XTrinode (spec.suspend: false), never suspend one');
  const after = (await custom.getNamespacedCustomObject(target)) as { metadata: { labels?: Record<string, string>; annotations?: Record<string, string>; finalizers?: string[] }; spec: Record<string, unknown> };
  expect({ spec: after.spec, labels: after.metadata.labels, owner: after.metadata.annotations?.owner, hold: after.metadata.finalizers?.includes('example.com/hold') ?? false })
    .toEqual({ spec: { suspend: false, idleTimeout: '30m', routing: { hostname: 'policy-target.example.com' } }, labels: { team: 'a' }, owner: 'team-a', hold: false });
  // Anyone else (here the cluster admin) is not held by it.
  await custom.patchNamespacedCustomObject({ ...target, body: { spec: { suspend: true, routing: { hostname: 'moved.example.com' } } } }, merge);
  // The policy names every top-level field of the XTrinode spec but suspend: a field added to the
  // CRD without it would be open to the router.
  const crd = parse(readFileSync(join(REPO_ROOT, 'manifests/crd/xtrinode.yaml'), 'utf8')) as { spec: { versions: Array<{ schema: { openAPIV3Schema: { properties: { spec: { properties: Record<string, unknown> } } } } }> } };
  const fields = crd.spec.versions.flatMap((v) => Object.keys(v.schema.openAPIV3Schema.properties.spec.properties)).filter((f) => f !== 'suspend');
  const rbac = parseAllDocuments(readFileSync(join(REPO_ROOT, 'manifests/router/rbac.yaml'), 'utf8')).map((d) => d.toJS() as { kind: string; spec?: { validations?: Array<{ expression: string }> } });
  const expressions = rbac.find((o) => o.kind === 'ValidatingAdmissionPolicy')!.spec!.validations!.map((v) => v.expression);
  expect(fields.filter((f) => !expressions.includes(`object.?spec.?${f} == oldObject.?spec.?${f}`))).toEqual([]);
  expect(fields.length).toBeGreaterThanOrEqual(5);
});

/**
 * What each ServiceAccount may do, as the API server itself judges it (SelfSubjectRulesReview, as
 * that ServiceAccount), against an allowlist written out here by hand: a verb added to the
 * manifests (or the chart they are rendered from) without adding it here fails, and so does one
 * taken away. What every authenticated user may do (discovery, self reviews) is read from a
 * ServiceAccount with no binding and left out of both.
 */
describe('effective RBAC of each ServiceAccount equals its allowlist', () => {
  const expand = (rules: k8s.V1ResourceRule[]): Set<string> =>
    new Set(rules.flatMap((r) => (r.apiGroups ?? ['']).flatMap((g) => (r.resources ?? []).flatMap((res) => (r.resourceNames?.length ? r.resourceNames : ['']).flatMap((n) => r.verbs.map((v) => `${g || 'core'}/${res}${n ? `#${n}` : ''}:${v}`))))));
  const rulesOf = async (kc: k8s.KubeConfig, namespace: string) =>
    expand((await kc.makeApiClient(k8s.AuthorizationV1Api).createSelfSubjectRulesReview({ body: { spec: { namespace } } })).status!.resourceRules);
  const grants = (rules: Record<string, string[]>): string[] => Object.entries(rules).flatMap(([res, verbs]) => verbs.map((v) => `${res}:${v}`));

  const CONTROLLER_EVERYWHERE = grants({
    'analytics.xtrinode.io/xtrinodes': ['get', 'list', 'watch', 'patch'],
    'analytics.xtrinode.io/xtrinodes/status': ['patch'],
    'core/services': ['list', 'watch'],
    'gateway.networking.k8s.io/referencegrants': ['list', 'watch', 'get', 'create', 'patch', 'delete'],
    'core/events': ['create'],
    'gateway.networking.k8s.io/gatewayclasses': ['get'],
    'apps/deployments': ['list', 'watch'],
    'apps/statefulsets': ['list', 'watch'],
    'apps/deployments/scale': ['patch'],
    'apps/statefulsets/scale': ['patch'],
  });
  const ROUTER_EVERYWHERE = grants({ 'analytics.xtrinode.io/xtrinodes': ['get', 'patch'], 'core/events': ['create'] });
  const allowlist: Record<string, Record<string, string[]>> = {
    'xtrinode-system/xtrinode-controller': {
      'team-a': CONTROLLER_EVERYWHERE,
      'trino-gateway': [...CONTROLLER_EVERYWHERE, ...grants({ 'gateway.networking.k8s.io/httproutes': ['list', 'watch', 'get', 'create', 'patch', 'delete'], 'gateway.networking.k8s.io/gateways': ['get'], 'core/configmaps': ['list', 'watch', 'get', 'create', 'patch', 'delete'] })],
      'xtrinode-system': [...CONTROLLER_EVERYWHERE, ...grants({ 'coordination.k8s.io/leases': ['get', 'create', 'update'] })],
    } as unknown as Record<string, string[]>,
    'trino-gateway/xtrinode-router': {
      'team-a': ROUTER_EVERYWHERE,
      'trino-gateway': [...ROUTER_EVERYWHERE, ...grants({ 'core/configmaps#trino-gateway-routes': ['get', 'list', 'watch'], 'coordination.k8s.io/leases': ['get', 'create', 'update', 'delete'] })],
      'xtrinode-system': ROUTER_EVERYWHERE,
    } as unknown as Record<string, string[]>,
  };

  test.each(Object.keys(allowlist))('%s: exactly its allowlist in a tenant namespace, the Gateway\'s and the controller\'s', async (sa) => {
    await apply(admin, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'nobody', namespace: 'team-a' } });
    const nobody = await asServiceAccount('team-a', 'nobody');
    const [namespace, name] = sa.split('/') as [string, string];
    const kc = await asServiceAccount(namespace, name);
    const got: Record<string, string[]> = {};
    for (const ns of Object.keys(allowlist[sa]!)) {
      const everyone = await rulesOf(nobody, ns);
      got[ns] = [...(await rulesOf(kc, ns))].filter((r) => !everyone.has(r)).sort();
    }
    expect(got).toEqual(Object.fromEntries(Object.entries(allowlist[sa]!).map(([ns, rules]) => [ns, [...new Set(rules as unknown as string[])].sort()])));
  });
});
