/**
 * Leader election against the real API server: a second replica takes over within the lease
 * duration when the leader dies without a word, and a leader cut off from the API server stops
 * leading before anyone else may start (never two leaders at once).
 */
import * as k8s from '@kubernetes/client-node';
import { startTestCluster, type TestCluster } from '../test/cluster.ts';
import { LeaderElector } from './leader-election.ts';
import { until } from '../test/until.ts';

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await startTestCluster(['xtrinode-system']);
}, 300_000);

afterAll(async () => {
  await cluster?.cp.stop();
});

/** An elector that records when it led; `cut()` makes every API call fail from then on. */
function elector(identity: string, lease: string) {
  const real = cluster.kc.makeApiClient(k8s.CoordinationV1Api);
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
