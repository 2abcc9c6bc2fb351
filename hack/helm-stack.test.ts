/**
 * `helm install` of charts/xtrinode-gateway on the local stack, as a platform team installs it: the
 * chart's objects in the real kube-apiserver, the controller and the router run from the project's
 * image as its Deployments say (hack/pods.ts, with the Secret the chart generated), Traefik serving
 * the Gateway, and a real Trino coordinator behind an XTrinode. A Trino CLI query runs through the
 * Gateway and the routes the Helm-installed controller wrote.
 *
 * Needs the image (npm run image), podman with runc, Helm, Traefik, Trino and Java 25.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { request } from 'undici';
import { startStack, type Stack } from './stack.ts';
import { TRINO_JAVA_HOME } from './trino.ts';
import { REPO_ROOT } from '../test/components.ts';
import { until } from '../test/until.ts';

let stack: Stack;
const HOST = 'analytics--warehouse.trino.example.com';

beforeAll(async () => {
  stack = await startStack({ install: 'helm', run: 'image', gateway: 'traefik', examples: false, logsDir: join(REPO_ROOT, '.logs/helm-stack') });
  if (!stack.realTrino.ok) throw new Error(`hack/helm-stack.test.ts runs a real Trino coordinator: ${stack.realTrino.reason}`);
}, 300_000);

afterAll(async () => {
  await stack?.stop();
});

test('the router runs with the Secret the chart generated, not one the stack wrote, and becomes ready', async () => {
  const secret = await stack.kubeConfig.makeApiClient(k8s.CoreV1Api).readNamespacedSecret({ name: 'xtrinode-router', namespace: 'trino-gateway' });
  expect(secret.metadata!.labels).toEqual(expect.objectContaining({ 'app.kubernetes.io/managed-by': 'Helm' }));
  expect(Buffer.from(secret.data!['router-secret']!, 'base64').toString().length).toBeGreaterThanOrEqual(32);
  // Ready: it reached the API server as its ServiceAccount and read the route table.
  const status = await until('the router ready', async () => {
    const r = await request(`${stack.routerAdminUrl}/readyz`, { headersTimeout: 5000 }).catch(() => undefined);
    await r?.body.dump();
    return r?.statusCode === 200 ? r.statusCode : undefined;
  }, 60_000);
  expect(status).toBe(200);
});

test('a Trino CLI query runs through the Gateway to a real Trino, on the routes of the Helm-installed controller', async () => {
  const c = await stack.addCoordinator('analytics', 'warehouse', { kind: 'trino' });
  await stack.apply({ apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { name: 'warehouse', namespace: 'analytics' }, spec: { routing: { hostnameDomain: 'trino.example.com' } } });
  await c.started;
  await until(`${HOST} routed through Traefik`, async () => {
    const r = await request(`${stack.gatewayUrl}/v1/info`, { headers: { host: `${HOST}:${stack.gatewayPort}` }, headersTimeout: 5000 }).catch(() => undefined);
    await r?.body.dump();
    return r?.statusCode === 200;
  }, 120_000);
  const dir = mkdtempSync(join(tmpdir(), 'xtn-helm-cli-'));
  try {
    writeFileSync(join(dir, 'hosts'), `127.0.0.1 ${HOST} localhost\n`);
    const cli = () => new Promise<string>((resolve, reject) => {
      execFile(join(TRINO_JAVA_HOME, 'bin/java'), [`-Djdk.net.hosts.file=${join(dir, 'hosts')}`, `-Djava.io.tmpdir=${dir}`, '-XX:-UsePerfData', '-jar', stack.trinoCliJar, '--server', `http://${HOST}:${stack.gatewayPort}`, '--user', 'platform', '--execute', 'SELECT count(*) FROM tpch.tiny.nation'], { timeout: 120_000 }, (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}\n${stderr.slice(0, 800)}`)) : resolve(stdout));
    });
    // Trino 476 fails queries with NO_NODES_AVAILABLE (or "nodes is empty") for 4-9 s after its
    // /v1/info stops saying `starting`, for any client: submit again then, as a user would (seen
    // in CI on a slower machine). Any other failure, or 20 of these, fails the test.
    let out = '';
    for (let attempt = 1; !out; attempt++) {
      out = await cli().catch((e: Error) => {
        if (attempt < 20 && /No nodes available|nodes is empty/.test(e.message)) return new Promise<string>((r) => setTimeout(() => r(''), 1000));
        throw e;
      });
    }
    expect(out.trim()).toBe('"25"');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 300_000);
