/**
 * Activity for idle suspension is written once per router pod (activity.ts): with WORKERS=2 both
 * workers serve a runtime, and the pod patches its XTrinode once, not once per worker. Against a
 * real kube-apiserver, through a counting proxy (test/api-proxy.ts), with router/main.ts as
 * deployed (two workers) and a fake coordinator behind it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { Agent, request } from 'undici';
import { freePort, freePortRun } from '../hack/control-plane.ts';
import { startTestCluster, type TestCluster } from '../test/cluster.ts';
import { startApiProxy, type ApiProxy } from '../test/api-proxy.ts';
import { until } from '../test/until.ts';
import { FakeCoordinator } from '../conformance/fake-coordinator.ts';
import { translate } from '../controller/translate/translate.ts';
import { DEFAULT_SETTINGS } from '../controller/translate/settings.ts';
import { serializeRouteTable } from '../routetable/schema.ts';
import { AnnotationActivity, ForwardedActivity, isActivityMessage, type ActivityMessage } from './activity.ts';
import type { ApiServer } from './api-server.ts';

const HOST = 'served.example.com';
const silent = pino({ level: 'silent' });

/** The process's children (its workers), from /proc. */
function childrenOf(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).flatMap((t) => readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
}

/** Which of these processes hold an established TCP connection to 127.0.0.1:`port` (from /proc). */
function connectedTo(pids: number[], port: number): number[] {
  const inodes = new Set<string>();
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // rem_address 0100007F:PORT, state 01 (ESTABLISHED), inode in column 10
    if (f[2] === `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}` && f[3] === '01') inodes.add(f[9]!);
  }
  return pids.filter((pid) => readdirSync(`/proc/${pid}/fd`).some((fd) => {
    try {
      return inodes.has(/^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1] ?? '');
    } catch {
      return false; // closed meanwhile
    }
  }));
}

describe('activity annotations', () => {
  test('a worker hands over what it served, without asking the API server; ids are checked', async () => {
    const sent: ActivityMessage[] = [];
    const f = new ForwardedActivity(async (m) => void sent.push(m), silent);
    await f.flush();
    expect(sent).toEqual([]); // nothing served: nothing sent
    f.note('team/a');
    f.note('team/a');
    f.note('team/b');
    await f.flush();
    await f.flush();
    expect(sent).toEqual([{ xtnActivity: ['team/a', 'team/b'] }]);
    expect(isActivityMessage({ xtnActivity: ['team/a'] })).toBe(true);
    for (const bad of [undefined, null, { xtnReadyz: 1 }, { xtnActivity: 'team/a' }, { xtnActivity: [1] }, { xtnActivity: Array(100_001).fill('a/b') }]) expect(isActivityMessage(bad)).toBe(false);
    // The primary patches only XTrinode-shaped ids: nothing else reaches a URL.
    const calls: string[] = [];
    const a = new AnnotationActivity({ call: async (method: string, path: string) => void calls.push(`${method} ${path}`) } as unknown as ApiServer, silent);
    for (const id of ['team/ok', '../x', 'team/a/b', 'Team/x', 'team/', '/x', `team/${'x'.repeat(254)}`]) a.note(id);
    await a.flush();
    expect(calls).toEqual(['PATCH /apis/analytics.xtrinode.io/v1/namespaces/team/xtrinodes/ok']);
  });

  describe('a router pod with two workers (router/main.ts)', () => {
    let cluster: TestCluster;
    let proxy: ApiProxy;
    let coordinator: FakeCoordinator;
    let child: ChildProcess;
    let dir: string;
    let port: number;
    let adminPort: number;

    beforeAll(async () => {
      cluster = await startTestCluster(['team', 'trino-gateway']);
      proxy = await startApiProxy(cluster.cp);
      await cluster.apply({ apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { namespace: 'team', name: 'served' }, spec: { routing: { hostname: HOST } } });
      coordinator = new FakeCoordinator({ name: 'served' });
      await coordinator.start();
      dir = mkdtempSync(join(tmpdir(), 'xtn-activity-'));
      const { table } = translate({ xtrinodes: [{ apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { namespace: 'team', name: 'served' }, spec: { routing: { hostname: HOST } } }], settings: DEFAULT_SETTINGS });
      writeFileSync(join(dir, 'routes.json'), serializeRouteTable(table));
      writeFileSync(join(dir, 'kubeconfig'), `apiVersion: v1\nkind: Config\nclusters: [{name: proxy, cluster: {server: "${proxy.url}"}}]\nusers: [{name: proxy, user: {token: unused}}]\ncontexts: [{name: proxy, context: {cluster: proxy, user: proxy}}]\ncurrent-context: proxy\n`);
      [port, adminPort] = [await freePort(), await freePort()];
      child = spawn(process.execPath, [fileURLToPath(new URL('./main.ts', import.meta.url))], {
        stdio: ['ignore', 'ignore', 'inherit'],
        env: {
          PATH: process.env.PATH, WORKERS: '2', PEER_PORT: String(await freePortRun(2)), ROUTES_FILE: join(dir, 'routes.json'), RESUME: 'on', KUBECONFIG: join(dir, 'kubeconfig'),
          // No flush by the clock during the test: the one at shutdown is the one counted.
          ACTIVITY_INTERVAL: '1h', BACKEND_URLS: `team/served-coordinator=http://127.0.0.1:${coordinator.port}`,
          ROUTER_SECRET: 'activity-test-secret-0123456789abcdef', POD_IP: '127.0.0.1', ROUTER_HOST: '127.0.0.1', ROUTER_PORT: String(port), ADMIN_PORT: String(adminPort), DRAIN_TIMEOUT: '2s', LOG_LEVEL: 'error',
        },
      });
      await until('the router primary reports both workers ready', async () => (await request(`http://127.0.0.1:${adminPort}/readyz`).then((r) => r.body.text().then(() => r.statusCode), () => 0)) === 200);
    }, 60_000);
    afterAll(async () => {
      if (child?.exitCode === null) child.kill('SIGKILL');
      await coordinator?.stop();
      await proxy?.stop();
      await cluster?.cp.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    test('both workers serve the runtime; at shutdown the pod patches its XTrinode once', async () => {
      const patches = () => proxy.count((r) => r.method === 'PATCH' && r.path.startsWith('/apis/analytics.xtrinode.io/v1/namespaces/team/xtrinodes/served'));
      const workers = childrenOf(child.pid!);
      expect(workers).toHaveLength(2);
      // New connections until both workers have forwarded a statement (each keeps its coordinator connection open).
      const statuses: number[] = [];
      await until('both workers connected to the coordinator', async () => {
        const agent = new Agent({ pipelining: 0 });
        const r = await request(`http://127.0.0.1:${port}/v1/statement`, { method: 'POST', headers: { host: HOST, 'x-trino-user': 'alice' }, body: 'SELECT 1', dispatcher: agent, reset: true });
        statuses.push(r.statusCode);
        await r.body.text();
        await agent.close();
        return connectedTo(workers, coordinator.port).length === 2;
      });
      expect(statuses).toEqual(Array(statuses.length).fill(200));
      expect(coordinator.seen.filter((s) => s.method === 'POST' && s.path === '/v1/statement')).toHaveLength(statuses.length);
      expect(patches()).toBe(0); // nothing written before the flush
      child.kill('SIGTERM');
      expect(await new Promise((r) => (child.exitCode !== null ? r(child.exitCode) : child.once('exit', r)))).toBe(0);
      // Each worker used to patch what it served: two PATCHes for one runtime.
      expect(patches()).toBe(1);
      const x = (await cluster.custom.getNamespacedCustomObject({ group: 'analytics.xtrinode.io', version: 'v1', namespace: 'team', plural: 'xtrinodes', name: 'served' })) as { metadata: { annotations?: Record<string, string> } };
      expect(Date.parse(x.metadata.annotations?.['analytics.xtrinode.io/last-activity'] ?? '')).toBeGreaterThan(Date.now() - 60_000);
    }, 60_000);
  });
});
