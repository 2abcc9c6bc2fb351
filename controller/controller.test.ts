/**
 * The controller against a real kube-apiserver (hack/control-plane.ts) with the real Gateway API
 * CRDs: their schemas and CEL rules judge every object we write.
 */
import * as k8s from '@kubernetes/client-node';
import pino from 'pino';
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import type { ControlPlane } from '../hack/control-plane.ts';
import { startTestCluster } from '../test/cluster.ts';
import { Controller } from './controller.ts';
import { DEFAULT_SETTINGS } from './translate/settings.ts';
import { REPO_ROOT } from '../test/components.ts';
import { join } from 'node:path';
import { until } from '../test/until.ts';
import { startApiProxy, type ProxiedRequest } from '../test/api-proxy.ts';
import { GatewayFeatures } from './gateway-features.ts';
import { FakeCoordinator } from '../conformance/fake-coordinator.ts';

let cp: ControlPlane;
let kc: k8s.KubeConfig;
let objects: k8s.KubernetesObjectApi;
let custom: k8s.CustomObjectsApi;
const controllers: Controller[] = [];
const silent = pino({ level: process.env.XTN_TEST_LOG ?? 'silent' });

const settings = DEFAULT_SETTINGS;

function newController(identity: string): Controller {
  const c = new Controller({ kubeConfig: kc, settings, identity, leaseNamespace: 'xtrinode-system', logger: silent, routeSettleMaxMs: 2000 });
  controllers.push(c);
  return c;
}

async function apply(obj: Record<string, unknown>) {
  return objects.patch(obj as k8s.KubernetesObject, undefined, undefined, 'test', true, k8s.PatchStrategy.ServerSideApply);
}


type Route = { spec: { hostnames?: string[]; rules: Array<{ matches: Array<{ path: { value: string } }>; backendRefs: Array<{ name: string; namespace: string }> }> }; metadata: { name: string } };

/** The Service that requests for `/` go to (routes also send `/xtrinode` to the router). */
function mainBackend(route: Route | undefined): string | undefined {
  return route?.spec.rules.find((r) => r.matches.some((m) => m.path.value === '/'))?.backendRefs[0]?.name;
}

async function getRoute(name: string) {
  try {
    return (await custom.getNamespacedCustomObject({ group: 'gateway.networking.k8s.io', version: 'v1', namespace: 'trino-gateway', plural: 'httproutes', name })) as Route;
  } catch {
    return undefined;
  }
}

async function getXt(ns: string, name: string) {
  return (await custom.getNamespacedCustomObject({ group: 'analytics.xtrinode.io', version: 'v1', namespace: ns, plural: 'xtrinodes', name })) as { status?: { conditions?: Array<{ type: string; status: string; reason: string; message: string; observedGeneration?: number }>; routingGroup?: string; hostname?: string; queries?: { running: number; queued: number } }; metadata: { generation: number } };
}

const cond = (x: Awaited<ReturnType<typeof getXt>>, t: string) => x.status?.conditions?.find((c) => c.type === t);

/** Passes the controller ran, whatever their result. */
async function passes(c: Controller): Promise<number> {
  return (await c.registry.getSingleMetric('xtrinode_controller_reconciles_total')!.get()).values.reduce((n, v) => n + v.value, 0);
}

/** Runs `f` over `items`, `n` at a time. */
async function inTurn<T>(items: T[], n: number, f: (x: T) => Promise<unknown>): Promise<void> {
  let i = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (i < items.length) await f(items[i++]!);
  }));
}

/** Resolves once `c` ran no pass for `ms` (at most 20 s). */
async function quiet(c: Controller, ms: number): Promise<void> {
  let last = await passes(c);
  let since = Date.now();
  await until(`no pass for ${ms} ms`, async () => {
    await c.idle();
    const now = await passes(c);
    if (now !== last) [last, since] = [now, Date.now()];
    return Date.now() - since >= ms;
  });
}

async function managedRoutes(): Promise<string[]> {
  const list = (await custom.listNamespacedCustomObject({ group: 'gateway.networking.k8s.io', version: 'v1', namespace: 'trino-gateway', plural: 'httproutes', labelSelector: 'app.kubernetes.io/managed-by=xtrinode-gateway' })) as { items: Array<{ metadata: { name: string } }> };
  return list.items.map((r) => r.metadata.name).sort();
}

function service(ns: string, name: string) {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec: { ports: [{ name: 'http', port: 8080 }] } };
}

beforeAll(async () => {
  ({ cp, kc, objects, custom } = await startTestCluster(['trino-gateway', 'xtrinode-system', 'production', 'team-b']));
}, 300_000);

afterAll(async () => {
  await Promise.all(controllers.map((c) => c.stop()));
  await cp?.stop();
});

describe('controller against a real API server', () => {
  let c1: Controller;

  test('the seed examples become routes the API server accepts, with status on each XTrinode', async () => {
    for (const n of ['runtime-a', 'runtime-shared-1', 'runtime-shared-2', 'analytics', 'default-runtime']) await apply(service('production', `${n}-coordinator`));
    const docs = parseAllDocuments(readFileSync(join(REPO_ROOT, 'examples/seed.yaml'), 'utf8'));
    for (const d of Array.isArray(docs) ? docs : []) await apply(d.toJS() as Record<string, unknown>);
    c1 = newController('replica-1');
    const t0 = Date.now();
    await c1.start();
    const route = await until('HTTPRoute xtrinode-production--runtime-a', () => getRoute('xtrinode-production--runtime-a'));
    process.stderr.write(`[controller.test] seed routes applied ${Date.now() - t0}ms after controller start\n`);
    expect(route.spec.hostnames).toEqual(['production--runtime-a.trino.example.com']);
    // The pass writes routes in parallel: the others may land a moment after the first.
    for (const name of ['xtrinode-production--runtime-a.any-host', 'xtrinode-shared', 'xtrinode.fallback']) await until(`route ${name}`, () => getRoute(name), 10_000);
    const grant = await custom.getNamespacedCustomObject({ group: 'gateway.networking.k8s.io', version: 'v1beta1', namespace: 'production', plural: 'referencegrants', name: 'xtrinode-gateway' });
    expect(grant).toBeDefined();
    const cm = await kc.makeApiClient(k8s.CoreV1Api).readNamespacedConfigMap({ namespace: 'trino-gateway', name: 'trino-gateway-routes' });
    expect(JSON.parse(cm.data!['routes.json']!).groups.map((g: { name: string }) => g.name)).toEqual(['production--analytics', 'production--default-runtime', 'production--runtime-a', 'shared']);
    const xt = await until('status on runtime-a', async () => {
      const x = await getXt('production', 'runtime-a');
      return cond(x, 'Accepted') ? x : undefined;
    });
    expect(cond(xt, 'Accepted')).toMatchObject({ status: 'True', observedGeneration: xt.metadata.generation });
    expect(cond(xt, 'ResolvedRefs')).toMatchObject({ status: 'True' });
    // No Gateway implementation runs here: the controller says so instead of claiming success.
    expect(cond(xt, 'Programmed')).toMatchObject({ status: 'Unknown', reason: 'Pending' });
    expect(xt.status?.routingGroup).toBe('production--runtime-a');
  });

  test('the Gateway implementation accepting a route shows up as Programmed (read from HTTPRoute.status.parents)', async () => {
    // Every route that carries runtime-a: hostname, header, its coordinator prefix, and the fallback.
    for (const rn of ['xtrinode-production--runtime-a', 'xtrinode-production--runtime-a.any-host', 'xtrinode.fallback']) {
      await custom.patchNamespacedCustomObjectStatus(
        { group: 'gateway.networking.k8s.io', version: 'v1', namespace: 'trino-gateway', plural: 'httproutes', name: rn, body: { status: { parents: [{ parentRef: { group: 'gateway.networking.k8s.io', kind: 'Gateway', namespace: 'trino-gateway', name: 'trino-gateway' }, controllerName: 'example.com/gateway', conditions: [{ type: 'Accepted', status: 'True', reason: 'Accepted', message: 'ok', lastTransitionTime: new Date().toISOString().replace(/\.\d+Z/, 'Z'), observedGeneration: 1 }, { type: 'ResolvedRefs', status: 'True', reason: 'ResolvedRefs', message: 'ok', lastTransitionTime: new Date().toISOString().replace(/\.\d+Z/, 'Z'), observedGeneration: 1 }] }] } } },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
    }
    await until('Programmed=True on runtime-a', async () => cond(await getXt('production', 'runtime-a'), 'Programmed')?.status === 'True');
    expect(cond(await getXt('production', 'runtime-a'), 'Ready')).toMatchObject({ status: 'True' });
  });

  test('updates converge', async () => {
    await apply({ apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { name: 'analytics', namespace: 'production' }, spec: { size: 'l', routing: { hostname: 'bi.example.com' } } });
    await until('hostname moved', async () => (await getRoute('xtrinode-production--analytics'))?.spec.hostnames?.[0] === 'bi.example.com');
    const xt = await until('status follows generation', async () => {
      const x = await getXt('production', 'analytics');
      return cond(x, 'Accepted')?.observedGeneration === x.metadata.generation && x.status?.hostname === 'bi.example.com' ? x : undefined;
    });
    expect(xt.status?.hostname).toBe('bi.example.com');
  });

  test('the API server refuses an invalid XTrinode (CRD schema and CEL rules)', async () => {
    await expect(apply({ apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { name: 'bad', namespace: 'production' }, spec: { routing: { header: 'X-Other=1' } } })).rejects.toThrow(/spec.routing.header: Invalid value.*must have the form X-Trino-XTrinode/);
    await expect(apply({ apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { name: 'bad', namespace: 'production' }, spec: { routing: { hostname: 'Upper.Example.com' } } })).rejects.toThrow(/spec.routing.hostname/);
    const rules = (r: unknown[]) => apply({ apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { name: 'bad', namespace: 'production' }, spec: { routing: { rules: r } } });
    await expect(rules([{ name: 'nothing' }])).rejects.toThrow(/a rule needs at least one of source, user, catalog, clientTags/);
    await expect(rules([{ clientTags: ['a', 'b', 'c', 'd', 'e'] }])).rejects.toThrow(/clientTags: Too many: 5: must have at most 4 items/);
    await expect(rules([{ clientTags: ['a,b'] }])).rejects.toThrow(/clientTags\[0\]: Invalid value/);
    await expect(rules([{ clientTags: ['x', 'x'] }])).rejects.toThrow(/clientTags: Invalid value.*must not list a tag twice/);
    await expect(rules([{ name: 'r', source: 'a' }, { name: 'r', source: 'b' }])).rejects.toThrow(/rule names must be unique/);
    await expect(rules([{ source: ' padded' }])).rejects.toThrow(/rules\[0\].source: Invalid value/);
    await expect(rules(Array.from({ length: 17 }, (_, i) => ({ source: `s${i}` })))).rejects.toThrow(/rules: Too many: 17: must have at most 16 items/);
  });

  test('conflicts are reported on the loser without touching valid routes; cross-namespace deletes clean up', async () => {
    await apply(service('team-b', 'late-coordinator'));
    await apply({ apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { name: 'late', namespace: 'team-b' }, spec: { routing: { hostname: 'production--runtime-a.trino.example.com', header: 'X-Trino-XTrinode=team-b/late' } } });
    const late = await until('conflict on team-b/late', async () => {
      const x = await getXt('team-b', 'late');
      return cond(x, 'Accepted')?.reason === 'HostnameConflict' ? x : undefined;
    });
    expect(cond(late, 'Accepted')?.message).toContain('older XTrinode production/runtime-a');
    expect((await getRoute('xtrinode-production--runtime-a'))?.spec.hostnames).toEqual(['production--runtime-a.trino.example.com']);
    await until('grant in team-b', async () => custom.getNamespacedCustomObject({ group: 'gateway.networking.k8s.io', version: 'v1beta1', namespace: 'team-b', plural: 'referencegrants', name: 'xtrinode-gateway' }));
    // its header keeps routing (only the hostname lost): the route whose removal is awaited below exists
    await until('header route of team-b/late', () => getRoute('xtrinode-team-b--late.any-host'));
    const events = await kc.makeApiClient(k8s.CoreV1Api).listNamespacedEvent({ namespace: 'team-b' });
    expect(events.items.some((e) => e.reason === 'HostnameConflict')).toBe(true);

    await custom.deleteNamespacedCustomObject({ group: 'analytics.xtrinode.io', version: 'v1', namespace: 'team-b', plural: 'xtrinodes', name: 'late' });
    await until('grant in team-b removed', async () => {
      try {
        await custom.getNamespacedCustomObject({ group: 'gateway.networking.k8s.io', version: 'v1beta1', namespace: 'team-b', plural: 'referencegrants', name: 'xtrinode-gateway' });
        return false;
      } catch (e) {
        return (e as { code?: number }).code === 404;
      }
    });
    await until('header route removed', async () => !(await getRoute('xtrinode-team-b--late.any-host')));
  });

  test("a tenant naming another namespace's group is refused (GroupOwnedElsewhere) and receives none of its traffic; the owner's acceptMembersFrom lets it in", async () => {
    await apply(service('team-b', 'intruder-coordinator'));
    await apply({ apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { name: 'intruder', namespace: 'team-b' }, spec: { routing: { routingGroup: 'production--runtime-a', weight: 1000 } } });
    const refused = await until('team-b/intruder refused', async () => {
      const x = await getXt('team-b', 'intruder');
      return cond(x, 'Accepted')?.reason === 'GroupOwnedElsewhere' ? x : undefined;
    });
    expect(cond(refused, 'Accepted')).toMatchObject({ status: 'False', message: expect.stringContaining('belongs to namespace production') });
    const backends = (r: Route | undefined) => (r?.spec.rules ?? []).flatMap((rule) => rule.backendRefs.map((b) => `${b.namespace}/${b.name}`));
    expect(backends(await getRoute('xtrinode-production--runtime-a'))).not.toContain('team-b/intruder-coordinator');

    await custom.deleteNamespacedCustomObject({ group: 'analytics.xtrinode.io', version: 'v1', namespace: 'team-b', plural: 'xtrinodes', name: 'intruder' });

    // A named group: production owns it (its oldest member; a tie in creation second goes to the
    // smaller namespace/name) and lets team-b in.
    await apply({ apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { name: 'pool-owner', namespace: 'production' }, spec: { routing: { routingGroup: 'shared-pool', hostname: 'pool.example.com', acceptMembersFrom: ['team-b'] } } });
    await until('pool route', () => getRoute('xtrinode-shared-pool'));
    await apply(service('team-b', 'guest-coordinator'));
    await apply({ apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { name: 'guest', namespace: 'team-b' }, spec: { routing: { routingGroup: 'shared-pool' } } });
    await until('team-b/guest accepted into shared-pool', async () => cond(await getXt('team-b', 'guest'), 'Accepted')?.status === 'True');
    await until('its Service in the group route', async () => backends(await getRoute('xtrinode-shared-pool')).includes('team-b/guest-coordinator'));
    for (const [ns, name] of [['team-b', 'guest'], ['production', 'pool-owner']] as const) await custom.deleteNamespacedCustomObject({ group: 'analytics.xtrinode.io', version: 'v1', namespace: ns, plural: 'xtrinodes', name });
  });

  test('routing rules: an identical younger rule of another group gets RuleConflict and an Event; rules of a namespace without consent get RuleNotPermitted; the rules route goes to the router', async () => {
    // production holds the default route (default-runtime), so its own rules are in force.
    for (const [ns, n] of [['production', 'rules-old'], ['production', 'rules-young'], ['team-b', 'rules-guest']] as const) await apply(service(ns, `${n}-coordinator`));
    await apply({ apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { name: 'rules-old', namespace: 'production' }, spec: { routing: { rules: [{ name: 'airflow', source: 'airflow' }] } } });
    await until('rules route of rules-old', () => getRoute('xtrinode-production--rules-old.rules'));
    await apply({ apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { name: 'rules-young', namespace: 'production' }, spec: { routing: { rules: [{ name: 'mine-too', source: 'airflow' }] } } });
    await apply({ apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { name: 'rules-guest', namespace: 'team-b' }, spec: { routing: { rules: [{ name: 'dbt', source: 'dbt' }] } } });
    const young = await until('RuleConflict on rules-young', async () => {
      const x = await getXt('production', 'rules-young');
      return cond(x, 'Accepted')?.reason === 'RuleConflict' ? x : undefined;
    });
    expect(cond(young, 'Accepted')?.message).toContain('already routed to group production--rules-old by rule airflow of the older XTrinode production/rules-old');
    const guest = await until('RuleNotPermitted on team-b/rules-guest', async () => {
      const x = await getXt('team-b', 'rules-guest');
      return cond(x, 'Accepted')?.reason === 'RuleNotPermitted' ? x : undefined;
    });
    expect(cond(guest, 'Accepted')?.message).toContain('production/default-runtime, which holds the default route, does not list namespace team-b');
    expect(await getRoute('xtrinode-team-b--rules-guest.rules')).toBeUndefined();
    const route = (await getRoute('xtrinode-production--rules-old.rules'))!;
    expect(route.spec.rules.map((r) => r.backendRefs.map((b) => `${b.namespace}/${b.name}`))).toEqual([['trino-gateway/xtrinode-router']]);
    const events = await until('RuleConflict event', async () => {
      const list = await kc.makeApiClient(k8s.CoreV1Api).listNamespacedEvent({ namespace: 'production' });
      return list.items.some((e) => e.reason === 'RuleConflict' && e.involvedObject.name === 'rules-young') ? list : undefined;
    });
    expect(events.items.length).toBeGreaterThan(0);

    // Consent by the default route's owner: team-b's rule comes into force.
    await apply({ apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { name: 'default-runtime', namespace: 'production' }, spec: { size: 's', routing: { default: true, acceptRulesFrom: ['team-b'] } } });
    await until('team-b/rules-guest accepted', async () => cond(await getXt('team-b', 'rules-guest'), 'Accepted')?.status === 'True');
    await until('its rules route', () => getRoute('xtrinode-team-b--rules-guest.rules'));
    await apply({ apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { name: 'default-runtime', namespace: 'production' }, spec: { size: 's', routing: { default: true } } });
    for (const [ns, name] of [['production', 'rules-old'], ['production', 'rules-young'], ['team-b', 'rules-guest']] as const) await custom.deleteNamespacedCustomObject({ group: 'analytics.xtrinode.io', version: 'v1', namespace: ns, plural: 'xtrinodes', name });
    await until('rules routes removed', async () => !(await getRoute('xtrinode-production--rules-old.rules')));
  });

  test('one runtime whose workloads cannot be scaled blocks nobody: others are suspended, routed and get status', async () => {
    // The API server itself refuses any change to one Deployment, its /scale included (a ValidatingAdmissionPolicy).
    await apply({ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicy', metadata: { name: 'frozen-deployment' }, spec: { failurePolicy: 'Fail', matchConstraints: { resourceRules: [{ apiGroups: ['apps'], apiVersions: ['v1'], operations: ['UPDATE'], resources: ['deployments', 'deployments/scale'] }] }, validations: [{ expression: "object.metadata.name != 'frozen-coordinator'", message: 'frozen by this test' }] } });
    await apply({ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicyBinding', metadata: { name: 'frozen-deployment' }, spec: { policyName: 'frozen-deployment', validationActions: ['Deny'] } });
    const deployment = (name: string) => ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: `${name}-coordinator`, namespace: 'team-b', labels: { 'analytics.xtrinode.io/xtrinode': name, 'analytics.xtrinode.io/role': 'coordinator' } }, spec: { replicas: 1, selector: { matchLabels: { a: name } }, template: { metadata: { labels: { a: name } }, spec: { containers: [{ name: 'c', image: 'x' }] } } } });
    for (const name of ['frozen', 'thawed']) {
      await apply(service('team-b', `${name}-coordinator`));
      await apply(deployment(name));
    }
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    await until('the policy is in force', async () => {
      try {
        await apps.patchNamespacedDeployment({ name: 'frozen-coordinator', namespace: 'team-b', body: { metadata: { annotations: { probe: String(Date.now()) } } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
        return false;
      } catch (e) {
        return String((e as { body?: unknown }).body ?? e).includes('frozen by this test');
      }
    });
    for (const name of ['frozen', 'thawed']) await apply({ apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { name, namespace: 'team-b' }, spec: { suspend: true, routing: { hostname: `${name}.example.com` } } });
    await until('thawed scaled to zero', async () => (await apps.readNamespacedDeployment({ name: 'thawed-coordinator', namespace: 'team-b' })).spec?.replicas === 0);
    await until('thawed has its status', async () => (await getXt('team-b', 'thawed')).status?.hostname === 'thawed.example.com');
    // A runtime added after the failure is still routed while the frozen one keeps failing.
    await apply({ apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { name: 'late-comer', namespace: 'team-b' }, spec: { routing: { hostname: 'late-comer.example.com' } } });
    await until('late-comer routed', () => getRoute('xtrinode-team-b--late-comer'));
    expect((await apps.readNamespacedDeployment({ name: 'frozen-coordinator', namespace: 'team-b' })).spec?.replicas).toBe(1);
    expect((await getXt('team-b', 'frozen')).status?.hostname).toBe('frozen.example.com'); // its status is written all the same
    const objectErrors = (await controllers[0]!.registry.getSingleMetric('xtrinode_controller_reconciles_total')!.get()).values.find((v) => v.labels.result === 'object-error')?.value ?? 0;
    expect(objectErrors).toBeGreaterThan(0);
    for (const name of ['frozen', 'thawed', 'late-comer']) await custom.deleteNamespacedCustomObject({ group: 'analytics.xtrinode.io', version: 'v1', namespace: 'team-b', plural: 'xtrinodes', name });
    await until('late-comer route removed', async () => (await getRoute('xtrinode-team-b--late-comer')) === undefined);
    // With the failing XTrinode gone its backoff ends: the controller goes quiet (it once reran
    // a full pass about 8 times a second, for ever, retrying a key that no longer existed).
    // Settled first: the stale routes go once the bound for a Gateway that never reports passed,
    // grants narrow after the grace; each write's watch event may start one more pass.
    await controllers[0]!.idle();
    await quiet(controllers[0]!, 1000);
    const before = await passes(controllers[0]!);
    await new Promise((r) => setTimeout(r, 3000));
    expect({ passesIn3s: (await passes(controllers[0]!)) - before }).toEqual({ passesIn3s: 0 });
    await kc.makeApiClient(k8s.AdmissionregistrationV1Api).deleteValidatingAdmissionPolicyBinding({ name: 'frozen-deployment' });
  });

  test('an update of only the last-activity annotation or the status of an XTrinode starts no pass; a spec change does', async () => {
    await apply({ apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { name: 'quiet', namespace: 'team-b' }, spec: { routing: { hostname: 'quiet.example.com' } } });
    await until('HTTPRoute of quiet', () => getRoute('xtrinode-team-b--quiet'));
    await c1.idle();
    const before = await passes(c1);
    const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
    for (let i = 0; i < 3; i++) {
      await custom.patchNamespacedCustomObject({ group: 'analytics.xtrinode.io', version: 'v1', namespace: 'team-b', plural: 'xtrinodes', name: 'quiet', body: { metadata: { annotations: { 'analytics.xtrinode.io/last-activity': new Date(Date.now() + i).toISOString() } } } }, merge);
      await custom.patchNamespacedCustomObjectStatus({ group: 'analytics.xtrinode.io', version: 'v1', namespace: 'team-b', plural: 'xtrinodes', name: 'quiet', body: { status: { queries: { running: i, queued: 0 } } } }, merge);
    }
    await new Promise((r) => setTimeout(r, 1500)); // several coalescing windows
    await c1.idle();
    const afterNoise = await passes(c1);
    await apply({ apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { name: 'quiet', namespace: 'team-b' }, spec: { routing: { hostname: 'quieter.example.com' } } });
    await until('hostname changed', async () => (await getRoute('xtrinode-team-b--quiet'))?.spec.hostnames?.[0] === 'quieter.example.com');
    await c1.idle(); // a pass is counted when it ends, after the route write
    expect({ passesForNoise: afterNoise - before, passedForSpec: (await passes(c1)) > afterNoise }).toEqual({ passesForNoise: 0, passedForSpec: true });
    await custom.deleteNamespacedCustomObject({ group: 'analytics.xtrinode.io', version: 'v1', namespace: 'team-b', plural: 'xtrinodes', name: 'quiet' });
  }, 60_000);

  test('Services are watched only in namespaces that have XTrinodes', async () => {
    const c = controllers[0]!;
    const xtNamespaces = async () => [...new Set(((await custom.listClusterCustomObject({ group: 'analytics.xtrinode.io', version: 'v1', plural: 'xtrinodes' })) as { items: Array<{ metadata: { namespace: string } }> }).items.map((x) => x.metadata.namespace))].sort();
    await until('watched namespaces follow the XTrinodes', async () => JSON.stringify(c.serviceNamespaces) === JSON.stringify(await xtNamespaces()));
    expect(c.serviceNamespaces).not.toContain('trino-gateway'); // the router's Service, for one, is never cached
    expect(c.serviceNamespaces).not.toContain('default');
  });

  test('a missing coordinator Service is reported and routes go through the router', async () => {
    await apply({ apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { name: 'orphan', namespace: 'production' }, spec: { routing: { hostname: 'orphan.example.com' } } });
    const x = await until('ResolvedRefs=False', async () => {
      const v = await getXt('production', 'orphan');
      return cond(v, 'ResolvedRefs')?.status === 'False' ? v : undefined;
    });
    expect(cond(x, 'ResolvedRefs')?.reason).toBe('ServiceNotFound');
    const route = await until('orphan route', () => getRoute('xtrinode-production--orphan'));
    expect(mainBackend(route)).toBe('xtrinode-router');
    await apply(service('production', 'orphan-coordinator'));
    await until('Service appears -> straight to coordinator', async () => mainBackend(await getRoute('xtrinode-production--orphan')) === 'orphan-coordinator');
  });

  test('a second replica does not write while the first leads; a restart with nothing changed writes nothing', async () => {
    await c1.idle();
    const c2 = newController('replica-2');
    await c2.start();
    await new Promise((r) => setTimeout(r, 3000));
    expect(c1.isLeader).toBe(true);
    expect(c2.isLeader).toBe(false);
    const writesOf = async (c: Controller) => (await c.writes.get()).values.reduce((n, v) => n + v.value, 0);
    expect(await writesOf(c2)).toBe(0);
    // c1 stops and releases the Lease: c2 takes over, resyncs, and finds nothing to change.
    await c1.stop();
    await until('replica-2 leads', async () => c2.isLeader, 10_000);
    await new Promise((r) => setTimeout(r, 500));
    await c2.idle();
    expect((await c2.writes.get()).values.filter((v) => v.value > 0).map((v) => v.labels)).toEqual([]);
    c1 = c2;
  });

  test.each([500, 429])('a new leader whose first LIST of XTrinodes gets %i writes nothing until a list succeeds, and deletes no route', async (status) => {
    await c1.idle();
    const routesBefore = await managedRoutes();
    expect(routesBefore.length).toBeGreaterThan(3);
    const proxy = await startApiProxy(cp);
    const isXtList = (r: ProxiedRequest) => r.method === 'GET' && !r.watch && r.path.startsWith('/apis/analytics.xtrinode.io/v1/xtrinodes');
    proxy.fault(isXtList, { status });
    await c1.stop(); // releases the Lease: the next replica leads at once
    const c = new Controller({ kubeConfig: proxy.kubeConfig(), settings, identity: `replica-after-${status}`, leaseNamespace: 'xtrinode-system', logger: silent, routeSettleMaxMs: 2000 });
    controllers.push(c);
    const started = c.start();
    await until('the first list was refused three times', async () => proxy.count(isXtList) >= 3, 20_000);
    const writesOf = async () => (await c.writes.get()).values.reduce((n, v) => n + v.value, 0);
    expect({ writes: await writesOf(), routes: await managedRoutes() }).toEqual({ writes: 0, routes: routesBefore });
    proxy.clearFaults();
    await started;
    await until(`replica-after-${status} leads`, async () => c.isLeader, 20_000);
    await new Promise((r) => setTimeout(r, 500));
    await c.idle();
    const deletes = (await c.writes.get()).values.filter((v) => v.labels.verb === 'delete').reduce((n, v) => n + v.value, 0);
    expect({ deletes, routes: await managedRoutes() }).toEqual({ deletes: 0, routes: routesBefore });
    await c.stop();
    await proxy.stop();
    c1 = newController(`replica-back-${status}`);
    await c1.start();
    await until('the test controller leads again', async () => c1.isLeader, 20_000);
  }, 90_000);

  /**
   * Runs `body` with the test controller replaced by one that reaches the coordinator Service
   * `<name>-coordinator` at a fake coordinator on loopback; the test controller leads again after.
   */
  async function withCoordinator(name: string, extra: Partial<ConstructorParameters<typeof Controller>[0]>, body: (o: { c: Controller; fake: FakeCoordinator; origin: string }) => Promise<void>): Promise<void> {
    const fake = new FakeCoordinator({ name });
    const port = await fake.start(0, '127.0.0.1');
    const origin = `http://127.0.0.1:${port}`;
    await c1.idle();
    await c1.stop();
    const c = new Controller({ kubeConfig: kc, settings, identity: `replica-${name}`, leaseNamespace: 'xtrinode-system', logger: silent, routeSettleMaxMs: 2000, coordinatorOrigin: (svc) => (svc.name === `${name}-coordinator` ? origin : undefined), ...extra });
    controllers.push(c);
    try {
      await body({ c, fake, origin });
    } finally {
      await c.stop();
      await fake.stop().catch(() => undefined);
      c1 = newController(`replica-after-${name}`);
      await c1.start();
      await until('the test controller leads again', async () => c1.isLeader, 20_000);
    }
  }

  test('an idle suspension whose coordinator has queries by the time of the scale-down is cancelled; without queries it scales to 0', () => withCoordinator('busy', {}, async ({ c, fake, origin }) => {
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    const replicas = async () => (await apps.readNamespacedDeployment({ name: 'busy-coordinator', namespace: 'team-b' })).spec!.replicas;
    const idleSuspended = (at: string) => ({ apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { name: 'busy', namespace: 'team-b', annotations: { 'analytics.xtrinode.io/idle-suspended-at': at } }, spec: { suspend: true, idleTimeout: '1h', routing: { hostname: 'busy.example.com' } } });
    try {
      await apply(service('team-b', 'busy-coordinator'));
      await apply({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'busy-coordinator', namespace: 'team-b', labels: { 'analytics.xtrinode.io/xtrinode': 'busy', 'analytics.xtrinode.io/role': 'coordinator' } }, spec: { replicas: 1, selector: { matchLabels: { a: 'busy' } }, template: { metadata: { labels: { a: 'busy' } }, spec: { containers: [{ name: 'c', image: 'x' }] } } } });
      // A query started after the idle decision (the coordinator counts it as running).
      const q = await fetch(`${origin}/v1/statement`, { method: 'POST', headers: { 'x-trino-user': 'me' }, body: 'SELECT 1' });
      expect(q.status).toBe(200);
      await apply(idleSuspended('2026-12-06T00:00:00Z'));
      await c.start();
      await until('idle suspension cancelled', async () => {
        const x = (await getXt('team-b', 'busy')) as unknown as { spec: { suspend?: boolean }; metadata: { annotations?: Record<string, string> } };
        return x.spec.suspend === false && x.metadata.annotations?.['analytics.xtrinode.io/idle-suspended-at'] === undefined;
      }, 30_000);
      await c.idle();
      expect(await replicas()).toBe(1);
      // The same, with the coordinator quiet: the suspension goes through.
      await fake.stop();
      const quiet = new FakeCoordinator({ name: 'busy' });
      await quiet.start(Number(new URL(origin).port), '127.0.0.1');
      try {
        await apply(idleSuspended('2026-12-06T00:00:01Z'));
        await until('scaled to 0', async () => (await replicas()) === 0, 30_000);
      } finally {
        await quiet.stop();
      }
    } finally {
      await custom.deleteNamespacedCustomObject({ group: 'analytics.xtrinode.io', version: 'v1', namespace: 'team-b', plural: 'xtrinodes', name: 'busy' }).catch(() => undefined);
    }
  }), 90_000);

  test('coordinators that hang (accept, never answer) do not hold up a route change: their idle checks run beside the pass', async () => {
    // 300 idle runtimes whose coordinators all hang: inside the pass (16 at a time, 3 s each)
    // they held every route change for about a minute (48 of them: 10 s).
    await c1.idle();
    await c1.stop();
    const { createServer } = await import('node:net');
    const open = new Set<import('node:net').Socket>();
    let accepted = 0;
    const hung = createServer((s) => {
      accepted++;
      open.add(s);
      s.on('error', () => undefined);
      s.once('close', () => open.delete(s));
    });
    await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r));
    const origin = `http://127.0.0.1:${(hung.address() as { port: number }).port}`;
    const names = Array.from({ length: 300 }, (_, i) => `hung-${i}`);
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    const c = new Controller({ kubeConfig: kc, settings, identity: 'replica-hung', leaseNamespace: 'xtrinode-system', logger: silent, routeSettleMaxMs: 2000, coordinatorOrigin: (svc) => (svc.name.startsWith('hung-') ? origin : undefined) });
    controllers.push(c);
    try {
      await inTurn(names, 16, async (n) => {
        await apply(service('team-b', `${n}-coordinator`));
        await apply({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: `${n}-coordinator`, namespace: 'team-b', labels: { 'analytics.xtrinode.io/xtrinode': n, 'analytics.xtrinode.io/role': 'coordinator' } }, spec: { replicas: 1, selector: { matchLabels: { a: n } }, template: { metadata: { labels: { a: n } }, spec: { containers: [{ name: 'c', image: 'x' }] } } } });
        await apps.patchNamespacedDeploymentStatus({ name: `${n}-coordinator`, namespace: 'team-b', body: { status: { replicas: 1, readyReplicas: 1, availableReplicas: 1 } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
        await apply({ apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { name: n, namespace: 'team-b' }, spec: { idleTimeout: '1s', routing: { hostname: `${n}.example.com` } } });
      });
      await c.start();
      // Every runtime's idle time is up: the controller is asking the hung coordinators.
      await until('16 coordinator reads begun', async () => accepted >= 16, 60_000);
      // The first pass's own writes (300 routes, finalizers, statuses) are done: what is measured
      // is a route change while the hung reads are under way.
      await c.idle();
      const askedBefore = accepted;
      const t0 = Date.now();
      await apply({ apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { name: 'quick', namespace: 'team-b' }, spec: { routing: { hostname: 'quick.example.com' } } });
      await until('HTTPRoute of the new XTrinode', () => getRoute('xtrinode-team-b--quick'), 30_000);
      const took = Date.now() - t0;
      const askedWhenRouted = accepted;
      console.log(`[controller.test] route change with ${names.length} hung coordinators: HTTPRoute in ${took} ms; ${askedBefore} coordinator reads begun before the change, ${askedWhenRouted} when routed (16 at a time, each gives up after 3 s)`);
      // Ordered, not timed: the route was written before the controller had even asked every hung
      // coordinator once, so no pass waited for their answers (a pass that reads them in turn
      // must have begun all 300 reads before it ends).
      expect(askedWhenRouted).toBeLessThan(names.length);
      // Nothing was suspended: a coordinator that does not answer is never called idle.
      const suspended = await Promise.all(names.slice(0, 4).map(async (n) => ((await getXt('team-b', n)) as unknown as { spec: { suspend?: boolean } }).spec.suspend === true));
      expect(suspended).toEqual([false, false, false, false]);
    } finally {
      await c.stop();
      for (const s of open) s.destroy();
      await new Promise((r) => hung.close(r));
      await inTurn([...names, 'quick'], 16, (n) => custom.deleteNamespacedCustomObject({ group: 'analytics.xtrinode.io', version: 'v1', namespace: 'team-b', plural: 'xtrinodes', name: n }).catch(() => undefined));
      await inTurn(names, 16, (n) => apps.deleteNamespacedDeployment({ name: `${n}-coordinator`, namespace: 'team-b' }).catch(() => undefined));
      await inTurn(names, 16, (n) => kc.makeApiClient(k8s.CoreV1Api).deleteNamespacedService({ name: `${n}-coordinator`, namespace: 'team-b' }).catch(() => undefined));
      c1 = newController('replica-after-hung');
      await c1.start();
      await until('the test controller leads again', async () => c1.isLeader, 20_000);
    }
  }, 240_000);

  test('a deleted XTrinode drains: weight 0 and the router take its new statements, its prefix route stays while its coordinator has queries alive, then it goes with its routes', () => withCoordinator('drainee', {}, async ({ c, origin }) => {
    type Table = { groups: Array<{ path: string; backends: Array<{ id: string; weight: number; draining?: boolean }> }> };
    const table = async () => JSON.parse((await kc.makeApiClient(k8s.CoreV1Api).readNamespacedConfigMap({ namespace: 'trino-gateway', name: 'trino-gateway-routes' })).data?.['routes.json'] ?? '{"groups":[]}') as Table;
    const drainee = async () => (await custom.getNamespacedCustomObject({ group: 'analytics.xtrinode.io', version: 'v1', namespace: 'team-b', plural: 'xtrinodes', name: 'drainee' }).catch((e: { code?: number }) => (e.code === 404 ? undefined : Promise.reject(e)))) as { metadata: { finalizers?: string[]; deletionTimestamp?: string } } | undefined;
    await apply(service('team-b', 'drainee-coordinator'));
    await apply({ apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { name: 'drainee', namespace: 'team-b' }, spec: { routing: { hostname: 'drainee.example.com' } } });
    await c.start();
    await until('the drain finalizer on the routed XTrinode', async () => (await drainee())?.metadata.finalizers?.includes('analytics.xtrinode.io/drain'), 30_000);
    expect(mainBackend(await getRoute('xtrinode-team-b--drainee'))).toBe('drainee-coordinator');
    // A query alive on its coordinator (its client has not polled it to the end).
    const q = (await (await fetch(`${origin}/v1/statement`, { method: 'POST', headers: { 'x-trino-user': 'me' }, body: 'SELECT 1' })).json()) as { nextUri?: string };
    await custom.deleteNamespacedCustomObject({ group: 'analytics.xtrinode.io', version: 'v1', namespace: 'team-b', plural: 'xtrinodes', name: 'drainee' });
    await until('its new statements go to the router', async () => mainBackend(await getRoute('xtrinode-team-b--drainee')) === 'xtrinode-router', 30_000);
    // The route table is written right after the routes.
    const group = await until('the route table marks it draining', async () => (await table()).groups.find((g) => g.backends.some((b) => b.id === 'team-b/drainee' && b.draining)), 30_000);
    expect({ path: group?.path, backends: group?.backends.map((b) => ({ id: b.id, weight: b.weight, draining: b.draining })) }).toEqual({ path: 'router', backends: [{ id: 'team-b/drainee', weight: 0, draining: true }] });
    // Well past the quiet time and the routes' settling, the query keeps it and its prefix route.
    await new Promise((r) => setTimeout(r, 6000));
    const held = await drainee();
    expect({ deleting: held?.metadata.deletionTimestamp !== undefined, finalizers: held?.metadata.finalizers }).toEqual({ deleting: true, finalizers: ['analytics.xtrinode.io/drain'] });
    const prefixRoute = await getRoute('xtrinode-team-b--drainee');
    expect(prefixRoute?.spec.rules.some((r) => r.matches.some((m) => m.path.value === '/xtrinode/c/team-b/drainee') && r.backendRefs[0]?.name === 'drainee-coordinator')).toBe(true);
    const events = await kc.makeApiClient(k8s.CoreV1Api).listNamespacedEvent({ namespace: 'team-b' });
    expect(events.items.filter((e) => e.involvedObject.name === 'drainee' && e.reason === 'Draining').length).toBe(1);
    // The client polls its query to the end: the XTrinode and its routes go.
    let next = q.nextUri;
    while (next) next = ((await (await fetch(next, { headers: { 'x-trino-user': 'me' } })).json()) as { nextUri?: string }).nextUri;
    await until('the drained XTrinode is gone', async () => (await drainee()) === undefined, 30_000);
    await until('its routes are gone', async () => (await getRoute('xtrinode-team-b--drainee')) === undefined, 30_000);
    const after = await kc.makeApiClient(k8s.CoreV1Api).listNamespacedEvent({ namespace: 'team-b' });
    expect(after.items.find((e) => e.involvedObject.name === 'drainee' && e.reason === 'Drained')?.message).toContain('no query alive on its coordinator');
  }), 90_000);

  test('kubectl get xtrinode shows running, queued and the limit of a runtime with maxQueries, from its coordinator', () => withCoordinator('counted', { queryCountsMs: 200 }, async ({ c, fake, origin }) => {
    // The API server's own table (what kubectl get prints): the CRD's printer columns. No Gateway
    // implementation answers here, so Programmed is Unknown.
    const table = async () => {
      const t = (await custom.getNamespacedCustomObject({ group: 'analytics.xtrinode.io', version: 'v1', namespace: 'team-b', plural: 'xtrinodes', name: 'counted' }, k8s.setHeaderOptions('Accept', 'application/json;as=Table;g=meta.k8s.io;v=v1'))) as { columnDefinitions: Array<{ name: string }>; rows: Array<{ cells: unknown[] }> };
      const at = (name: string) => t.columnDefinitions.findIndex((d) => d.name === name);
      return { programmed: t.rows[0]?.cells[at('Programmed')], running: t.rows[0]?.cells[at('Running')], queued: t.rows[0]?.cells[at('Queued')], limit: t.rows[0]?.cells[at('Limit')] };
    };
    try {
      await apply(service('team-b', 'counted-coordinator'));
      await apply({ apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { name: 'counted', namespace: 'team-b' }, spec: { capacity: { maxQueries: 3 }, routing: { hostname: 'counted.example.com' } } });
      await c.start();
      for (let i = 0; i < 2; i++) expect((await fetch(`${origin}/v1/statement`, { method: 'POST', headers: { 'x-trino-user': 'me' }, body: 'SELECT 1' })).status).toBe(200);
      expect(await until('two running in the table', async () => { const r = await table(); return r.running === 2 ? r : undefined; }, 30_000)).toEqual({ programmed: 'Unknown', running: 2, queued: 0, limit: 3 });
      // Figures that do not change are not written again.
      const writes = async () => (await c.writes.get()).values.filter((v) => v.labels.verb === 'status-queries').reduce((n, v) => n + v.value, 0);
      const before = await writes();
      await new Promise((r) => setTimeout(r, 1500));
      expect(await writes()).toBe(before);
      // A coordinator that stops answering: the columns go blank rather than stay stale.
      await fake.stop();
      await until('status.queries removed once the coordinator is gone', async () => (await getXt('team-b', 'counted')).status?.queries === undefined, 30_000);
      expect(await table()).toEqual({ programmed: 'Unknown', running: null, queued: null, limit: 3 });
    } finally {
      await custom.deleteNamespacedCustomObject({ group: 'analytics.xtrinode.io', version: 'v1', namespace: 'team-b', plural: 'xtrinodes', name: 'counted' }).catch(() => undefined);
      await c.idle();
      await until('counted gone', async () => custom.getNamespacedCustomObject({ group: 'analytics.xtrinode.io', version: 'v1', namespace: 'team-b', plural: 'xtrinodes', name: 'counted' }).then(() => false, () => true), 30_000);
    }
  }), 90_000);

  test('SHARED_GROUPS=auto on an Envoy Gateway class (no status.supportedFeatures) balances by gateway weights, and a failed read keeps the last answer', async () => {
    await apply({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: 'features-envoy' }, spec: { controllerName: 'gateway.envoyproxy.io/gatewayclass-controller' } });
    await apply({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'features-gw', namespace: 'team-b' }, spec: { gatewayClassName: 'features-envoy', listeners: [{ name: 'http', protocol: 'HTTP', port: 80 }] } });
    const proxy = await startApiProxy(cp);
    try {
      const api = proxy.kubeConfig().makeApiClient(k8s.CustomObjectsApi);
      const features = new GatewayFeatures(api, { namespace: 'team-b', name: 'features-gw' }, 0);
      const first = await features.sharedGroupPath();
      expect(first.path).toBe('gateway-weighted');
      expect(first.reason).toContain('Envoy Gateway v1.9 conformance report');
      const isClassGet = (r: ProxiedRequest) => r.method === 'GET' && r.path.includes('/gatewayclasses/');
      proxy.fault(isClassGet, { status: 500 });
      const kept = await features.sharedGroupPath();
      expect({ path: kept.path, reason: kept.reason, stale: kept.stale?.startsWith('could not read the Gateway or its GatewayClass') }).toEqual({ path: 'gateway-weighted', reason: first.reason, stale: true });
      expect(proxy.count(isClassGet)).toBe(2);
      // With nothing read yet, a failed read means the router.
      const fresh = await new GatewayFeatures(api, { namespace: 'team-b', name: 'features-gw' }, 0).sharedGroupPath();
      expect(fresh.path).toBe('router');
    } finally {
      await proxy.stop();
    }
  });

  test('a missing Gateway is reported the same way at every read (no request ids or dates), so statuses that carry the reason are not rewritten', async () => {
    const features = new GatewayFeatures(custom, { namespace: 'team-b', name: 'no-such-gateway' }, 0);
    const reasons = [(await features.sharedGroupPath()).reason, (await features.sharedGroupPath()).reason];
    expect(reasons[0]).toBe(reasons[1]);
    expect(reasons[0]).toBe('could not read the Gateway or its GatewayClass (404 NotFound: gateways.gateway.networking.k8s.io "no-such-gateway" not found); shared groups go through the router');
  });

  test('an API server restart is survived', async () => {
    await cp.stopApiServer();
    await new Promise((r) => setTimeout(r, 1500));
    await cp.startApiServer();
    await apply({ apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { name: 'after-restart', namespace: 'production' }, spec: { routing: { hostname: 'after.example.com' } } });
    await until('route created after restart', () => getRoute('xtrinode-production--after-restart'), 30_000);
  }, 60_000);
});
