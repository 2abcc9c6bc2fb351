/**
 * Whether the Gateway took the routes, judged from route status (route-settling.ts): across
 * leaders, with the grace and the bound for a Gateway that never reports.
 */
import { RouteSettling, type RouteView } from './route-settling.ts';

const gateway = { namespace: 'trino-gateway', name: 'trino-gateway' };
const opts = { gateway, routeNamespace: 'trino-gateway', graceMs: 3000, maxWaitMs: 10_000 };

/** A route at `generation`, Accepted by the Gateway at `accepted` (none: no status yet). */
function route(generation: number, accepted?: number): RouteView {
  return { metadata: { generation }, status: accepted === undefined ? {} : { parents: [{ parentRef: gateway, conditions: [{ type: 'Accepted', status: 'True', observedGeneration: accepted }] }] } };
}

test('a new leader waits for routes the old leader wrote that the Gateway has not accepted at their generation yet', () => {
  const s = new RouteSettling(opts, 0);
  const routes: Record<string, RouteView> = { a: route(2, 1), b: route(1, 1) };
  expect(s.pending((n) => routes[n], ['a', 'b'], 5000)).toMatchObject({ waitingFor: ['a'], accepted: false, settled: false });
  routes.a = route(2, 2);
  expect(s.pending((n) => routes[n], ['a', 'b'], 5000)).toMatchObject({ waitingFor: [], accepted: true, settled: true });
});

test('a new leader is not settled before the grace from its start, even with every route accepted', () => {
  const s = new RouteSettling(opts, 1000);
  const routes = { a: route(1, 1) };
  expect(s.pending((n) => routes[n as 'a'], ['a'], 2000)).toMatchObject({ accepted: true, settled: false, retryInMs: 2000 });
  expect(s.pending((n) => routes[n as 'a'], ['a'], 4000)).toMatchObject({ accepted: true, settled: true });
});

test('a written route counts at the generation the API server answered, even while the cache still shows the older one', () => {
  const s = new RouteSettling(opts, 0);
  const routes = { a: route(1, 1) };
  s.wrote('a', 2, 5000);
  expect(s.pending((n) => routes[n as 'a'], ['a'], 9000)).toMatchObject({ waitingFor: ['a'], accepted: false });
  routes.a = route(2, 2);
  expect(s.pending((n) => routes[n as 'a'], ['a'], 9000)).toMatchObject({ waitingFor: [], accepted: true, settled: true });
});

test('a route missing from the cache is waited for; a Gateway that never reports is waited for at most the bound after the last write', () => {
  const s = new RouteSettling(opts, 0);
  s.wrote('new', 1, 1000);
  const p = s.pending(() => undefined, ['new'], 2000);
  expect(p).toMatchObject({ waitingFor: ['new'], accepted: false, settled: false });
  // Route status updates start passes themselves: the timer covers the bound, not a 250 ms poll.
  expect(p.retryInMs).toBe(9000);
  expect(s.pending(() => undefined, ['new'], 11_000)).toMatchObject({ waitingFor: [], accepted: true, settled: true });
});

test('a route accepted by another Gateway only does not count', () => {
  const s = new RouteSettling(opts, 0);
  const other: RouteView = { metadata: { generation: 1 }, status: { parents: [{ parentRef: { name: 'other', namespace: 'trino-gateway' }, conditions: [{ type: 'Accepted', status: 'True', observedGeneration: 1 }] }] } };
  expect(s.pending(() => other, ['a'], 5000)).toMatchObject({ waitingFor: ['a'], accepted: false });
});

test('regaining leadership restarts the grace and forgets the generations written before', () => {
  const s = new RouteSettling(opts, 0);
  s.wrote('a', 5, 100);
  s.restart(20_000);
  const routes = { a: route(3, 3) };
  expect(s.pending((n) => routes[n as 'a'], ['a'], 21_000)).toMatchObject({ accepted: true, settled: false });
  expect(s.pending((n) => routes[n as 'a'], ['a'], 23_000)).toMatchObject({ accepted: true, settled: true });
});
