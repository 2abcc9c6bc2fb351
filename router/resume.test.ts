/**
 * Suspend and resume end to end against a real kube-apiserver: the real controller scales
 * workloads and publishes the route table; two router replicas (sharing only the API server and a
 * secret) hold new queries, resume the runtime through one Lease, and submit each query once.
 * No kubelet runs here: conformance/kubelet-stand-in.ts starts a fake coordinator when its
 * Deployment is scaled up and reports readiness on the Deployment status, as a kubelet would.
 */
import * as k8s from '@kubernetes/client-node';
import pino from 'pino';
import { Client, request } from 'undici';
import { Trino } from 'trino-client';
import { freePort, type ControlPlane } from '../hack/control-plane.ts';
import { startTestCluster } from '../test/cluster.ts';
import { until } from '../test/until.ts';
import { MicroTime } from '../lib/micro-time.ts';
import { Controller } from '../controller/controller.ts';
import { DEFAULT_SETTINGS } from '../controller/translate/settings.ts';
import { FakeCoordinator } from '../conformance/fake-coordinator.ts';
import { startKubeletStandIn, type StandInCoordinator } from '../conformance/kubelet-stand-in.ts';
import { TrinoRouter } from './server.ts';
import { Resumer } from './resume.ts';
import { watchTableConfigMap } from './table-source.ts';
import { ApiServer, credentialsFromKubeconfig } from './api-server.ts';

/** The router's own API client, with the credentials of a client-node KubeConfig. */
const apiServerOf = (kc: { exportConfig(): string }) => new ApiServer(credentialsFromKubeconfig(kc.exportConfig(), 'kubeconfig'));

const log = pino({ level: process.env.XTN_TEST_LOG ?? 'silent' });
const SECRET = 'resume-test-secret-0123456789';
let cp: ControlPlane;
let kc: k8s.KubeConfig;
let objects: k8s.KubernetesObjectApi;
let custom: k8s.CustomObjectsApi;
let apps: k8s.AppsV1Api;
let controller: Controller;
const routers: Array<{ router: TrinoRouter; url: string; stop: () => void }> = [];
const fakes = new Map<string, StandInCoordinator & { fake: FakeCoordinator; port: number }>();
let kubelet: { stop(): Promise<void> };


const apply = (obj: Record<string, unknown>) => objects.patch(obj as k8s.KubernetesObject, undefined, undefined, 'test', true, k8s.PatchStrategy.ServerSideApply);


/** An XTrinode with a labelled coordinator Deployment and Service, and a fake coordinator ready to start. */
async function runtime(name: string, spec: Record<string, unknown>, opts: { ignore?: boolean } = {}) {
  const port = await freePort();
  const f: StandInCoordinator & { fake: FakeCoordinator; port: number } = {
    fake: new FakeCoordinator({ name }), port, running: false, ...(opts.ignore ? { ignore: true } : {}),
    start: async () => void (await f.fake.start(port)),
    stop: async () => {
      await f.fake.stop();
      f.fake = new FakeCoordinator({ name });
    },
  };
  fakes.set(name, f);
  await apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: `${name}-coordinator`, namespace: 'dev' }, spec: { ports: [{ port: 8080 }] } });
  // A suspended runtime starts as one the controller suspended earlier: scaled to 0, replicas remembered.
  const suspended = spec.suspend === true;
  await apply({
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name: `${name}-coordinator`, namespace: 'dev', labels: { 'analytics.xtrinode.io/xtrinode': name, 'analytics.xtrinode.io/role': 'coordinator' } },
    spec: { replicas: suspended ? 0 : 1, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'trino', image: 'trino' }] } } },
  });
  await apply({ apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { name, namespace: 'dev', ...(suspended ? { annotations: { 'analytics.xtrinode.io/replicas-before-suspend': JSON.stringify({ [`Deployment/${name}-coordinator`]: 1 }) } } : {}) }, spec: { routing: { hostname: `${name}.example.com`, header: `X-Trino-XTrinode=dev/${name}` }, ...spec } });
}

/** API calls the routers' resumers made (Leases, XTrinode reads and patches), counted on the real API server client. */
let resumeApiCalls = 0;
function countedApi(): ApiServer {
  const api = apiServerOf(kc);
  const call = api.call.bind(api);
  api.call = ((...args: Parameters<ApiServer['call']>) => {
    resumeApiCalls++;
    return call(...args);
  }) as ApiServer['call'];
  return api;
}

async function startRouter(identity: string, extra: Partial<ConstructorParameters<typeof TrinoRouter>[0]> = {}) {
  const port = await freePort();
  const router = new TrinoRouter({
    logger: log,
    healthIntervalMs: 0,
    activityIntervalMs: 0,
    resolveService: (s) => `http://127.0.0.1:${fakes.get(s.name.replace(/-coordinator$/, ''))?.port ?? 1}`,
    resumer: new Resumer({ api: countedApi(), namespace: 'trino-gateway', identity, logger: log, leaseDurationSec: 3 }),
    peer: { selfAddress: `127.0.0.1:${port}`, secret: SECRET },
    ...extra,
  });
  const stop = await watchTableConfigMap(router, 'trino-gateway', 'trino-gateway-routes', apiServerOf(kc));
  const url = await router.listen({ port, host: '127.0.0.1' });
  const r = { router, url, stop };
  routers.push(r);
  return r;
}

async function resumesIssued(r: TrinoRouter): Promise<number> {
  const m = (await r.metrics.getSingleMetric('xtrinode_router_resumes_total')!.get()).values;
  return m.filter((v) => v.labels.result === 'issued').reduce((n, v) => n + v.value, 0);
}

/** A client following nextUri to the end, alternating between the given routers. */
async function runQuery(bases: string[], host: string, i: number): Promise<{ state: string; error?: string; ids: Set<string> }> {
  const clients = bases.map((b) => new Client(b));
  try {
    let res = await clients[i % clients.length]!.request({ path: '/v1/statement', method: 'POST', headers: { host, 'x-trino-user': 'test' }, body: `SELECT ${i}` });
    let page = (await res.body.json()) as { id: string; nextUri?: string; stats: { state: string }; error?: { message: string } };
    const ids = new Set([page.id]);
    let n = i + 1;
    while (page.nextUri) {
      const u = new URL(page.nextUri);
      res = await clients[n++ % clients.length]!.request({ path: u.pathname, method: 'GET', headers: { host: u.host } });
      if (res.statusCode !== 200) throw new Error(`poll ${u.pathname} -> ${res.statusCode} ${await res.body.text()}`);
      page = (await res.body.json()) as typeof page;
      ids.add(page.id);
    }
    return { state: page.stats.state, ...(page.error ? { error: page.error.message } : {}), ids };
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
}

beforeAll(async () => {
  ({ cp, kc, objects, custom } = await startTestCluster(['trino-gateway', 'xtrinode-system', 'dev']));
  apps = kc.makeApiClient(k8s.AppsV1Api);
  controller = new Controller({
    kubeConfig: kc, settings: DEFAULT_SETTINGS, identity: 'controller', leaseNamespace: 'xtrinode-system', logger: log, routeSettleMaxMs: 2000,
    // The fakes listen on loopback ports, not on their Services' ClusterIPs.
    coordinatorOrigin: (svc) => `http://127.0.0.1:${fakes.get(svc.name.replace(/-coordinator$/, ''))?.port ?? 1}`,
  });
  await controller.start();
  kubelet = startKubeletStandIn(apps, () => ['dev'], (_ns, name) => fakes.get(name));
}, 300_000);

afterAll(async () => {
  await kubelet.stop();
  for (const r of routers) {
    r.stop();
    await r.router.drain();
  }
  await controller?.stop();
  await Promise.all([...fakes.values()].filter((f) => f.running).map((f) => f.fake.stop()));
  await cp?.stop();
});

const xtSpec = async (name: string) => ((await custom.getNamespacedCustomObject({ group: 'analytics.xtrinode.io', version: 'v1', namespace: 'dev', plural: 'xtrinodes', name })) as { spec: { suspend?: boolean }; status?: { phase?: string } });

describe('suspend and resume', () => {
  test('100 concurrent clients through two routers wake a suspended runtime with exactly one resume; every query runs once', async () => {
    await runtime('sleepy', { suspend: true });
    await until('sleepy suspended', async () => (await xtSpec('sleepy')).status?.phase === 'Suspended');
    expect(fakes.get('sleepy')!.running).toBe(false);
    const [r1, r2] = [await startRouter('router-1'), await startRouter('router-2')];
    await until('routers see sleepy as suspended', async () => routers.every((r) => r.router.table?.groups.find((g) => g.name === 'dev--sleepy')?.backends[0]?.state === 'Suspended'));

    const t0 = Date.now();
    const callsBefore = resumeApiCalls;
    const results = await Promise.all([
      ...Array.from({ length: 95 }, (_, i) => runQuery([r1.url, r2.url], 'sleepy.example.com', i)),
      // and real clients: trino-client (npm) for five of them
      ...Array.from({ length: 5 }, async () => {
        const trino = Trino.create({ server: r1.url, extraHeaders: { 'X-Trino-XTrinode': 'dev/sleepy', 'X-Trino-User': 'test' } });
        let state = '';
        for await (const page of await trino.query('SELECT 1')) state = page.stats?.state ?? state;
        return { state, ids: new Set<string>() };
      }),
    ]);
    const secs = (Date.now() - t0) / 1000;
    process.stderr.write(`[resume.test] 100 queries on a suspended runtime finished ${secs.toFixed(1)}s after the first request (the stand-in coordinator takes 1s to start)\n`);
    expect(results.map((r) => r.state)).toEqual(Array(100).fill('FINISHED'));
    expect((await resumesIssued(r1.router)) + (await resumesIssued(r2.router))).toBe(1);
    // No resume storm: one attempt per router per lease period (3 s here), each at most six calls
    // (create or read and take over the Lease, read and patch the XTrinode, read and delete the
    // Lease), whatever the 100 held queries asked (each asks at hold time and every 2 s).
    const periods = 1 + Math.floor(secs / 3);
    process.stderr.write(`[resume.test] the two routers' resumers made ${resumeApiCalls - callsBefore} API calls for those 100 held queries\n`);
    expect(resumeApiCalls - callsBefore).toBeLessThanOrEqual(2 * 6 * periods);
    const posts = fakes.get('sleepy')!.fake.seen.filter((s) => s.method === 'POST').length;
    expect(posts).toBe(100); // nothing submitted twice
    expect((await xtSpec('sleepy')).spec.suspend).toBe(false);
    await until('sleepy Running', async () => (await xtSpec('sleepy')).status?.phase === 'Running');
  }, 120_000);

  test('a new query while the coordinator is unreachable is held, not failed, and runs once it is back', async () => {
    await runtime('flaky', {});
    await until('flaky running', async () => (await xtSpec('flaky')).status?.phase === 'Running');
    const r = routers[0]!;
    await until('router sees flaky ready', async () => r.router.table?.groups.find((g) => g.name === 'dev--flaky')?.backends[0]?.state === 'Ready');
    const f = fakes.get('flaky')!;
    f.ignore = true; // the "kubelet" must not restart it: the pod is there, the process is not answering
    await f.fake.stop();
    f.fake = new FakeCoordinator({ name: 'flaky' });
    setTimeout(() => void f.fake.start(f.port), 1500);
    const res = await runQuery([r.url], 'flaky.example.com', 0);
    expect(res.state).toBe('FINISHED');
    expect(f.fake.seen.filter((s) => s.method === 'POST').length).toBe(1);
  }, 60_000);

  test('an idle runtime is suspended after its idleTimeout', async () => {
    await runtime('idler', { idleTimeout: '3s' });
    await until('idler running', async () => (await xtSpec('idler')).status?.phase === 'Running');
    const x = await until('idler suspended by the controller', async () => {
      const v = await xtSpec('idler');
      return v.spec.suspend === true ? v : undefined;
    }, 20_000);
    expect(x.spec.suspend).toBe(true);
    await until('idler scaled to zero', async () => (await apps.readNamespacedDeployment({ name: 'idler-coordinator', namespace: 'dev' })).spec?.replicas === 0);
  }, 60_000);

  test('a runtime whose coordinator runs a query is not suspended when its idle time is up, however quiet the router is; once the query ended it is', async () => {
    await runtime('busy', { idleTimeout: '3s' });
    await until('busy running', async () => (await xtSpec('busy')).status?.phase === 'Running');
    // A query straight to the coordinator (as Gateway -> coordinator traffic is): the router never sees it.
    const f = fakes.get('busy')!;
    const post = await request(`http://127.0.0.1:${f.port}/v1/statement`, { method: 'POST', headers: { 'x-trino-user': 'alice' }, body: 'SELECT 1' });
    const first = (await post.body.json()) as { nextUri: string };
    await new Promise((r) => setTimeout(r, 9000)); // three idle timeouts
    expect((await xtSpec('busy')).spec.suspend).not.toBe(true);
    // The query ends (the client reads it to the end); the next look finds the coordinator idle.
    let next: string | undefined = first.nextUri;
    while (next) {
      const page: { nextUri?: string } = (await (await request(`http://127.0.0.1:${f.port}${new URL(next).pathname}`, { headers: { 'x-trino-user': 'alice' } })).body.json()) as { nextUri?: string };
      next = page.nextUri;
    }
    await until('busy suspended after its query', async () => (await xtSpec('busy')).spec.suspend === true, 20_000);
  }, 60_000);

  test('a resume that never becomes ready fails the held query cleanly after its bound', async () => {
    await runtime('never', { suspend: true }, { ignore: true });
    await until('never suspended', async () => (await xtSpec('never')).status?.phase === 'Suspended');
    const r = await startRouter('router-3', { resumeTimeoutMs: 3000 });
    await until('router-3 sees never', async () => r.router.table?.groups.find((g) => g.name === 'dev--never')?.backends[0]?.state === 'Suspended');
    const res = await runQuery([r.url], 'never.example.com', 0);
    expect(res.state).toBe('FAILED');
    expect(res.error).toMatch(/did not become ready within 3s/);
    expect(fakes.get('never')!.fake.seen.length).toBe(0);
    expect((await xtSpec('never')).spec.suspend).toBe(false); // the resume itself was issued
  }, 60_000);

  test('a Lease left by a router that died mid-resume expires and another router resumes', async () => {
    await runtime('orphaned', { suspend: true });
    await until('orphaned suspended', async () => (await xtSpec('orphaned')).status?.phase === 'Suspended');
    const coordination = kc.makeApiClient(k8s.CoordinationV1Api);
    await coordination.createNamespacedLease({ namespace: 'trino-gateway', body: { metadata: { name: 'xtrinode-resume-dev--orphaned' }, spec: { holderIdentity: 'router-that-died', leaseDurationSeconds: 3, renewTime: new MicroTime(), acquireTime: new MicroTime() } } });
    const r = routers[0]!;
    await until('router sees orphaned', async () => r.router.table?.groups.find((g) => g.name === 'dev--orphaned')?.backends[0]?.state === 'Suspended');
    const before = await resumesIssued(r.router);
    const t0 = Date.now();
    const res = await runQuery([r.url], 'orphaned.example.com', 0);
    expect(res.state).toBe('FINISHED');
    expect(Date.now() - t0).toBeGreaterThan(2000); // it waited for the dead holder's Lease to expire
    expect((await resumesIssued(r.router)) - before).toBe(1);
  }, 60_000);
});
