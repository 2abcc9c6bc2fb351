/**
 * The router benchmark's load against the router as a cluster runs it: from the project image
 * (`npm run image`, built first when the sources are newer), with podman and runc, with what
 * manifests/router/deployment.yaml gives it (args, environment incl. WORKERS, NODE_OPTIONS and
 * STATEMENT_BUDGET, user, read-only root, memory limit) and its ServiceAccount token, reading its
 * route table ConfigMap from a real API server (hack/pods.ts). In the same run: nginx as the
 * Trino-shaped origin, haproxy, and the router as plain processes (bench/proxy-comparison.ts).
 *
 *   npm run bench:router:container     (about 3 minutes; root, podman, runc, buildah, nginx, haproxy, wrk)
 *
 * Prints the ratios, the container's memory peak (its cgroup, which is what the limit counts) and
 * its OOM kills; exits 1 when the container was OOM-killed or stopped answering.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { freePort, freePortRun } from '../hack/control-plane.ts';
import { installManifests, routerSettings } from '../hack/manifests.ts';
import { podmanAvailable, runDeployment, type PodRun } from '../hack/pods.ts';
import { buildImage, DEFAULT_IMAGE, imageIsCurrent } from '../hack/image.ts';
import { ROUTER_SECRET } from '../hack/stack.ts';
import { ROUTE_TABLE_KEY } from '../routetable/schema.ts';
import { startTestCluster, type TestCluster } from '../test/cluster.ts';
import { REPO_ROOT } from '../test/components.ts';
import { until } from '../test/until.ts';
import { compareWithNativeProxy, type BenchOrigin, type ExtraRouter } from './proxy-comparison.ts';

const can = podmanAvailable();
if (!can.ok) throw new Error(`bench:router:container runs the router from the image: ${can.reason}`);
if (!imageIsCurrent(DEFAULT_IMAGE)) buildImage({ log: (l) => process.stderr.write(`${l}\n`) });

const logsDir = join(REPO_ROOT, '.logs/bench-router-container');
rmSync(logsDir, { recursive: true, force: true });
mkdirSync(logsDir, { recursive: true });
const runDir = mkdtempSync(join(logsDir, 'run-'));
const deployed = routerSettings();
let cluster: TestCluster | undefined;
let pod: PodRun | undefined;

/** The router Deployment's one Pod, on the host network, forwarding to the bench origin. */
async function routerInContainer(o: BenchOrigin): Promise<ExtraRouter> {
  cluster = await startTestCluster([]);
  await installManifests(cluster.apply, DEFAULT_IMAGE, ROUTER_SECRET);
  const [tableNamespace, tableName] = (deployed.env.ROUTES_CONFIGMAP ?? 'trino-gateway/trino-gateway-routes').split('/');
  await cluster.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: tableNamespace, name: tableName }, data: { [ROUTE_TABLE_KEY]: o.routesJson } });
  const [port, admin, peer] = [await freePort(), await freePort(), await freePortRun(64)]; // PEER_PORT + worker index
  pod = await runDeployment({
    kubeConfig: cluster.kc, controlPlaneDir: cluster.cp.dir, apiServerPort: Number(new URL(cluster.cp.url).port),
    namespace: 'trino-gateway', name: 'xtrinode-router', image: DEFAULT_IMAGE, podIP: '127.0.0.1', runDir,
    // Only what the host network changes, and the origin's address in place of cluster DNS.
    hostEnv: { ROUTER_HOST: '127.0.0.1', ROUTER_PORT: String(port), ADMIN_PORT: String(admin), PEER_PORT: String(peer), BACKEND_URLS: `bench/bench-coordinator=${o.originUrl}`, LOG_LEVEL: 'warn' },
    logFile: join(logsDir, 'router.log'),
  });
  await until(`the router container ready (log: ${join(logsDir, 'router.log')})`, () => request(`http://127.0.0.1:${admin}/readyz`).then((r) => r.body.dump().then(() => r.statusCode === 200)), 60_000);
  const p = pod;
  return {
    label: `router in its container (limit ${deployed.memoryLimit})`,
    base: `http://127.0.0.1:${port}`,
    memoryMb: () => p.peakBytes() / 2 ** 20,
    stop: () => p.stop(5),
  };
}

let failed = false;
try {
  const rows = await compareWithNativeProxy(deployed.env, routerInContainer);
  const kills = pod!.oomKills();
  failed = kills > 0;
  const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`;
  process.stdout.write(`\nxtrinode router in its container (${new Date().toISOString()})\nmachine: ${machine}\nimage: ${DEFAULT_IMAGE}; podman --runtime runc, host network, the Deployment's settings (hack/pods.ts)\n\n`);
  for (const [k, v] of rows) process.stdout.write(`${k.padEnd(70)} ${v}\n`);
  process.stdout.write(`${'container memory (cgroup) peak / limit, OOM kills'.padEnd(70)} ${(pod!.peakBytes() / 2 ** 20).toFixed(0)} / ${(pod!.limitBytes / 2 ** 20).toFixed(0)} MiB, ${kills}\n`);
} catch (e) {
  failed = true;
  process.stderr.write(`bench:router:container failed: ${(e as Error).message}\n(router log: ${join(logsDir, 'router.log')})\n`);
} finally {
  await pod?.stop(5);
  await cluster?.cp.stop();
  rmSync(runDir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
