/**
 * Leader election against the real API server: a second replica takes over within the lease
 * duration when the leader dies without a word, and a leader cut off from the API server stops
 * leading before anyone else may start (never two leaders at once).
 */
import * as k8s from '@kubernetes/client-node';
import { startTestCluster, type TestCluster } from '../test/cluster.ts';
import { startApiProxy } from '../test/api-proxy.ts';
import { LeaderElector } from './leader-election.ts';
import { leaderOnlyWrites, NotLeaderError } from './leader-writes.ts';
import { MicroTime } from '../lib/micro-time.ts';
import { until } from '../test/until.ts';

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await startTestCluster(['xtrinode-system']);
}, 300_000);

afterAll(async () => {
  await cluster?.cp.stop();
});

/** An elector that records when it led; `cut()` makes every API call fail from then on. */
function elector(identity: string, lease: string, kc: k8s.KubeConfig = cluster.kc) {
  const real = kc.makeApiClient(k8s.CoordinationV1Api);
  let cut = false;
  const api = new Proxy(real, {
    get: (target, prop, receiver) => {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => (cut ? Promise.reject(new Error('connect ECONNREFUSED (cut off in this test)')) : (v as (...a: unknown[]) => unknown).apply(target, args));
    },
  });
  const spans: Array<{ from: number; to?: number }> = [];
  const e = new LeaderElector({
    api, namespace: 'xtrinode-system', name: lease, identity, leaseDurationSec: 3, renewDeadlineSec: 2, renewMs: 250,
    onStartedLeading: () => spans.push({ from: Date.now() }),
    onStoppedLeading: () => (spans.at(-1)!.to = Date.now()),
  });
  return { e, spans, cut: () => (cut = true) };
}

test('a renew deadline at or past the lease duration is refused', () => {
  expect(() => new LeaderElector({ api: {} as never, namespace: 'x', name: 'y', identity: 'z', leaseDurationSec: 15, renewDeadlineSec: 15, onStartedLeading: () => undefined, onStoppedLeading: () => undefined })).toThrow(/renewDeadlineSec \(15\) must be under leaseDurationSec \(15\)/);
});

test('a leader that dies without releasing its Lease is replaced within the lease duration', async () => {
  const a = elector('a', 'crash');
  a.e.start();
  await until('a leads', async () => a.e.isLeader);
  const b = elector('b', 'crash');
  b.e.start();
  await new Promise((r) => setTimeout(r, 1000));
  expect(b.e.isLeader).toBe(false); // a still renews
  const died = Date.now();
  await a.e.stop({ release: false });
  await until('b leads', async () => b.e.isLeader, 10_000);
  const took = b.spans[0]!.from - died;
  expect({ withinLease: took <= 3000 + 2 * 250 + 500 }).toEqual({ withinLease: true });
  await b.e.stop();
});

test('a leader cut off from the API server stops leading before another replica starts', async () => {
  const a = elector('a', 'partition');
  a.e.start();
  await until('a leads', async () => a.e.isLeader);
  const b = elector('b', 'partition');
  b.e.start();
  a.cut();
  await until('b leads', async () => b.e.isLeader, 10_000);
  expect({ aStopped: a.spans[0]!.to !== undefined, beforeB: (a.spans[0]!.to ?? Infinity) < b.spans[0]!.from }).toEqual({ aStopped: true, beforeB: true });
  await a.e.stop();
  await b.e.stop();
});

test('a leader whose API calls hang (accepted, never answered) stops leading within the renew deadline, before another replica starts', async () => {
  const proxy = await startApiProxy(cluster.cp);
  try {
    const a = elector('a', 'hung', proxy.kubeConfig());
    a.e.start();
    await until('a leads', async () => a.e.isLeader);
    const b = elector('b', 'hung');
    b.e.start();
    proxy.fault((r) => r.path.includes('/leases/hung') || r.path.endsWith('/leases'), 'hang');
    const hungAt = Date.now();
    await until('b leads', async () => b.e.isLeader, 15_000);
    const stoppedAfter = (a.spans[0]!.to ?? Infinity) - hungAt;
    // renewDeadlineSec 2: its last renew was at most 250 ms before the hang, the watchdog looks every 250 ms.
    expect({ aStoppedWithinDeadline: stoppedAfter <= 2000 + 250 + 500, beforeB: (a.spans[0]!.to ?? Infinity) < b.spans[0]!.from }).toEqual({ aStoppedWithinDeadline: true, beforeB: true });
    expect(a.e.isLeader).toBe(false);
    await a.e.stop();
    await b.e.stop();
  } finally {
    await proxy.stop();
  }
}, 60_000);

test('a holder whose clock runs an hour behind keeps its Lease while it renews: expiry is judged by locally observed time', async () => {
  const api = cluster.kc.makeApiClient(k8s.CoordinationV1Api);
  const behind = () => new MicroTime(Date.now() - 3_600_000);
  await api.createNamespacedLease({ namespace: 'xtrinode-system', body: { metadata: { name: 'skewed' }, spec: { holderIdentity: 'slow-clock', leaseDurationSeconds: 3, renewTime: behind(), acquireTime: behind() } } });
  let renewing = true;
  const renewals = (async () => {
    while (renewing) {
      const l = await api.readNamespacedLease({ name: 'skewed', namespace: 'xtrinode-system' });
      l.spec!.renewTime = behind();
      await api.replaceNamespacedLease({ name: 'skewed', namespace: 'xtrinode-system', body: l });
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  const b = elector('b', 'skewed');
  b.e.start();
  await new Promise((r) => setTimeout(r, 5000)); // longer than the lease duration
  const whileRenewed = b.spans.length;
  renewing = false;
  await renewals;
  const stoppedRenewing = Date.now();
  await until('b leads once the holder stopped renewing', async () => b.e.isLeader, 15_000);
  expect({ whileRenewed, tookOverWithin: b.spans[0]!.from - stoppedRenewing <= 3000 + 2 * 250 + 500 }).toEqual({ whileRenewed: 0, tookOverWithin: true });
  await b.e.stop();
}, 60_000);

test('a client made from leaderOnlyWrites sends no write while not leading, and reads on', async () => {
  let leading = false;
  const core = leaderOnlyWrites(cluster.kc, () => leading).makeApiClient(k8s.CoreV1Api);
  const objects = k8s.KubernetesObjectApi.makeApiClient(leaderOnlyWrites(cluster.kc, () => leading));
  const plain = cluster.kc.makeApiClient(k8s.CoreV1Api);
  const body = { metadata: { name: 'written-by-leader', namespace: 'xtrinode-system' }, data: { a: '1' } };
  await expect(core.createNamespacedConfigMap({ namespace: 'xtrinode-system', body })).rejects.toThrow(NotLeaderError);
  await expect(objects.create({ apiVersion: 'v1', kind: 'ConfigMap', ...body })).rejects.toThrow(/POST \/api\/v1\/namespaces\/xtrinode-system\/configmaps not sent: this controller replica is not the leader/);
  await expect(plain.readNamespacedConfigMap({ name: 'written-by-leader', namespace: 'xtrinode-system' })).rejects.toMatchObject({ code: 404 });
  expect((await core.listNamespacedConfigMap({ namespace: 'xtrinode-system' })).items.map((c) => c.metadata!.name)).not.toContain('written-by-leader');
  leading = true;
  await core.createNamespacedConfigMap({ namespace: 'xtrinode-system', body });
  expect((await plain.readNamespacedConfigMap({ name: 'written-by-leader', namespace: 'xtrinode-system' })).data).toEqual({ a: '1' });
});
