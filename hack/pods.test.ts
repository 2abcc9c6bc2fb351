/**
 * The image as manifests/ runs it, against a real API server: the controller and the router run
 * from the project's image (hack/pods.ts: the Deployments' args, env, user, read-only root,
 * memory limit, and ServiceAccount tokens bound only by the manifests' RBAC). With the manifests
 * as they are, both serve and the router gets its route table, and neither logs a 403; with one
 * verb taken out of the router's Role, the API server's 403 is in the router's log, naming it.
 *
 * Needs the image (`npm run image`; `npm test` builds it first) and podman with runc.
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { freePort, freePortRun } from './control-plane.ts';
import { installManifests, kustomizedObjects } from './manifests.ts';
import { podmanAvailable, runDeployment, type PodRun } from './pods.ts';
import { DEFAULT_IMAGE, imageIsCurrent } from './image.ts';
import { ROUTER_SECRET } from './stack.ts';
import { startTestCluster, type TestCluster } from '../test/cluster.ts';
import { REPO_ROOT } from '../test/components.ts';
import { until } from '../test/until.ts';

const can = podmanAvailable();
if (!can.ok) throw new Error(`hack/pods.test.ts runs the controller and the router from the image: ${can.reason}`);
if (!imageIsCurrent(DEFAULT_IMAGE)) throw new Error(`the image ${DEFAULT_IMAGE} is missing or older than the sources: run npm run image (npm test does)`);

const logsDir = join(REPO_ROOT, '.logs/pods-test');
let c: TestCluster;
const pods: PodRun[] = [];

async function run(namespace: string, name: string, hostEnv: Record<string, string>, log: string): Promise<PodRun> {
  const p = await runDeployment({ kubeConfig: c.kc, controlPlaneDir: c.cp.dir, apiServerPort: Number(new URL(c.cp.url).port), namespace, name, image: DEFAULT_IMAGE, podIP: '127.0.0.1', hostEnv, runDir: c.cp.dir, logFile: join(logsDir, log) });
  pods.push(p);
  return p;
}

async function answers(url: string): Promise<number> {
  const r = await request(url, { headersTimeout: 2000 }).catch(() => undefined);
  await r?.body.dump();
  return r?.statusCode ?? 0;
}

/** Starts the router from the image on free ports; returns its admin URL and log file. */
async function startRouter(log: string): Promise<{ pod: PodRun; admin: string; logFile: string }> {
  const [port, admin] = [await freePort(), await freePort()];
  // WORKERS from the manifests listen on PEER_PORT + index: a run of free ports (64: the most WORKERS allows).
  const peer = await freePortRun(64);
  const pod = await run('trino-gateway', 'xtrinode-router', { ROUTER_HOST: '127.0.0.1', ROUTER_PORT: String(port), ADMIN_PORT: String(admin), PEER_PORT: String(peer) }, log);
  return { pod, admin: `http://127.0.0.1:${admin}`, logFile: join(logsDir, log) };
}

beforeAll(async () => {
  rmSync(logsDir, { recursive: true, force: true });
  mkdirSync(logsDir, { recursive: true });
  c = await startTestCluster([]);
  await installManifests(c.apply, DEFAULT_IMAGE, ROUTER_SECRET);
}, 120_000);

afterAll(async () => {
  await Promise.all(pods.map((p) => p.stop(5)));
  await c?.cp.stop();
});

test('the controller and the router from the image serve with the manifests\' RBAC: the route table is written and read, no 403; both export process metrics', async () => {
  const metrics = await freePort();
  await run('xtrinode-system', 'xtrinode-controller', { METRICS_HOST: '127.0.0.1', METRICS_PORT: String(metrics) }, 'controller.log');
  const router = await startRouter('router.log');
  await until('the controller serving /healthz', async () => (await answers(`http://127.0.0.1:${metrics}/healthz`)) === 200, 60_000);
  await until('the router ready (its route table read as its ServiceAccount)', async () => (await answers(`${router.admin}/readyz`)) === 200, 60_000);
  const refused = ['controller.log', 'router.log'].flatMap((f) => readFileSync(join(logsDir, f), 'utf8').split('\n').filter((l) => /\b403\b|forbidden/i.test(l)));
  expect(refused).toEqual([]);
  // Process metrics beside their own (the router's summed over its WORKERS by the primary).
  const text = async (url: string) => { const r = await request(url, { headersTimeout: 5000 }); return r.body.text(); };
  const all = ['process_resident_memory_bytes', 'process_cpu_seconds_total', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_seconds'];
  const processMetrics = (m: string) => all.filter((n) => new RegExp(`^${n} [0-9.e+]+$`, 'm').test(m));
  expect(processMetrics(await text(`http://127.0.0.1:${metrics}/metrics`))).toEqual(all);
  const routerMetrics = await text(`${router.admin}/metrics`);
  expect(processMetrics(routerMetrics)).toEqual(all);
  expect(Number(/^process_resident_memory_bytes (\S+)$/m.exec(routerMetrics)![1])).toBeGreaterThan(2 ** 20);
  await router.pod.stop(5);
}, 120_000);

test('without "watch" on its route table ConfigMap, the router from the image logs the API server\'s 403 naming it', async () => {
  const role = kustomizedObjects(DEFAULT_IMAGE).find((o) => o.kind === 'Role' && (o.metadata as { name: string }).name === 'xtrinode-router') as { rules: Array<{ resources: string[]; verbs: string[] }> };
  const rule = role.rules.find((r) => r.resources.includes('configmaps'))!;
  rule.verbs = rule.verbs.filter((v) => v !== 'watch');
  await c.apply(role as unknown as Record<string, unknown>);
  const router = await startRouter('router-without-watch.log');
  const line = await until('a 403 in the router\'s log', async () => readFileSync(router.logFile, 'utf8').split('\n').find((l) => /\b403\b/.test(l)), 60_000);
  // It still lists the table every 2 s, so it keeps routing; the warning names what is missing.
  const warning = JSON.parse(line) as { msg: string; err: string };
  expect(warning).toEqual({ ...warning, msg: expect.stringMatching(/^route table ConfigMap trino-gateway\/trino-gateway-routes: watch failed/), err: expect.stringMatching(/ 403 .*cannot watch resource "configmaps"/) });
}, 120_000);
