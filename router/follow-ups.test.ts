/**
 * Follow-ups through the router: learned stickiness across replicas and restarts (the fallback),
 * and by coordinator prefix (the default), with npm presto-client polling by prefix.
 */
import { createRequire } from 'node:module';
import { FakeCoordinator } from '../conformance/fake-coordinator.ts';
import type { TrinoRouter } from './server.ts';
import { translate } from '../controller/translate/translate.ts';
import { DEFAULT_SETTINGS } from '../controller/translate/settings.ts';
import type { RouteTable } from '../routetable/schema.ts';

const require = createRequire(import.meta.url);
const Presto = require('presto-client') as { Client: new (o: Record<string, unknown>) => { execute(o: Record<string, unknown>): void } };
import { coordinators, table, urls, makeRouter, startReplicas, call, submit, runQuery, stickyCount, useFakeCluster, xt } from './router-fixture.ts';

useFakeCluster();

describe('query stickiness', () => {
  test('nextUri points back at the gateway hostname (X-Forwarded-Host/Proto/Port)', async () => {
    const r = await submit(urls[0]!, { host: 'alpha.example.com', 'x-forwarded-proto': 'https', 'x-forwarded-port': '443' });
    expect(String(r.json().nextUri)).toMatch(/^https:\/\/alpha\.example\.com\/v1\/statement\/queued\//);
  });

  test('polls alternate between two router replicas that share nothing and stay on the owner', async () => {
    for (let q = 0; q < 6; q++) {
      const first = await submit(urls[q % 2]!, { host: 'shared.example.com' });
      const owner = String(first.headers['x-fake-coordinator']);
      const { served, last } = await runQuery(first.json(), (i) => urls[(q + i + 1) % 2]!);
      expect(new Set(served)).toEqual(new Set([owner]));
      expect((last.stats as { state: string }).state).toBe('FINISHED');
    }
  });

  test('GET /v1/query/{id} and DELETE reach the owner; unknown ids get 404 / 204', async () => {
    const first = await submit(urls[0]!, { host: 'shared.example.com' });
    const id = String(first.json().id);
    const owner = String(first.headers['x-fake-coordinator']);
    const info = await call(urls[1]!, `/v1/query/${id}`, { host: 'shared.example.com' });
    expect(info.status).toBe(200);
    expect(info.json().coordinator).toBe(owner);
    const unknown = await call(urls[1]!, '/v1/query/20200101_000000_00000_zzzzz', { host: 'shared.example.com' });
    expect(unknown.status).toBe(404);
    expect(unknown.headers['x-xtrinode-error']).toBe('XTN_QUERY_NOT_FOUND');
    const del = await call(urls[1]!, '/v1/query/20200101_000000_00001_zzzzy', { host: 'gateway.example.com' }, 'DELETE');
    expect(del.status).toBe(204);
    const cancel = await call(urls[1]!, new URL(String(first.json().nextUri)).pathname, { host: 'shared.example.com' }, 'DELETE');
    expect(cancel.status).toBe(204);
    expect(coordinators[owner]!.queries.has(id)).toBe(false);
  });

  test('DELETE /v1/query/{id} with an unknown owner reaches every coordinator of its group and teaches nothing', async () => {
    const first = await submit(urls[0]!, { host: 'weighted.example.com' });
    const owner = String(first.headers['x-fake-coordinator']);
    const id = String(first.json().id);
    const fresh = makeRouter({ probeConcurrency: 1 }); // one coordinator at a time: the first 204 must not stop it
    fresh.setTable(table);
    const u = await fresh.listen({ port: 0, host: '127.0.0.1' });
    try {
      const del = await call(u, `/v1/query/${id}`, { host: 'weighted.example.com' }, 'DELETE');
      expect(del.status).toBe(204);
      expect(coordinators[owner]!.queries.has(id)).toBe(false); // the owner got it
      // The router did not learn an owner from a 204 that every coordinator gives: a query of each
      // coordinator of the group, polled through this router, reaches its own coordinator.
      const byOwner = new Map<string, Record<string, unknown>>();
      for (let i = 0; i < 8 && byOwner.size < 2; i++) {
        const q = await submit(urls[0]!, { host: 'weighted.example.com' });
        byOwner.set(String(q.headers['x-fake-coordinator']), q.json());
      }
      expect([...byOwner.keys()].sort()).toEqual(['w1', 'w2']);
      for (const [who, q] of byOwner) {
        const poll = await call(u, new URL(String(q.nextUri)).pathname, { host: 'weighted.example.com' });
        expect({ who, status: poll.status, servedBy: poll.headers['x-fake-coordinator'] }).toEqual({ who, status: 200, servedBy: who });
      }
    } finally {
      await fresh.drain();
    }
  });

  test('across a coordinator restart: a poll of an old query gets its failure in Trino\'s form on either replica; new ones route and stick', async () => {
    const port = coordinators.alpha!.port;
    const before = await submit(urls[0]!, { host: 'alpha.example.com' });
    const id = String(before.json().id);
    await coordinators.alpha!.stop();
    coordinators.alpha = new FakeCoordinator({ name: 'alpha' });
    await coordinators.alpha.start(port);
    // urls[0] learned the owner (its poll reaches the restarted coordinator, which answers 404);
    // urls[1] never did (it probes, and no coordinator knows the query).
    for (const base of [urls[0]!, urls[1]!]) {
      const stale = await call(base, new URL(String(before.json().nextUri)).pathname, { host: 'alpha.example.com' });
      expect({ status: stale.status, type: stale.headers['content-type'], error: stale.headers['x-xtrinode-error'] }).toEqual({ status: 200, type: expect.stringMatching(/^application\/json\b/), error: 'XTN_QUERY_NOT_FOUND' });
      const page = stale.json() as { id: string; nextUri?: string; stats: { state: string }; error: { errorName: string; message: string } };
      expect({ id: page.id, next: page.nextUri, state: page.stats.state, name: page.error.errorName }).toEqual({ id, next: undefined, state: 'FAILED', name: 'XTRINODE_QUERY_NOT_FOUND' });
      expect(page.error.message).toBe(`xtrinode-gateway: query ${id} is not known to any coordinator (it finished, was cancelled, or its coordinator restarted).`);
    }
    // Not a statement poll: Trino's own answer passes through (410 for /v1/query/{id}).
    expect((await call(urls[0]!, `/v1/query/${id}`, { host: 'alpha.example.com' })).status).toBe(410);
    const after = await submit(urls[0]!, { host: 'alpha.example.com' });
    expect(String(after.json().id).endsWith(coordinators.alpha.suffix)).toBe(true);
    const { served } = await runQuery(after.json(), (i) => urls[i % 2]!);
    expect(new Set(served)).toEqual(new Set(['alpha']));
  });
});

describe('follow-ups by prefix (the default)', () => {
  let prefixTable: RouteTable;
  const prefixUrls: string[] = [];
  const prefixRouters: TrinoRouter[] = [];

  beforeAll(async () => {
    prefixTable = translate({
      xtrinodes: [
        xt('alpha', { hostname: 'alpha.example.com', header: 'X-Trino-XTrinode=team/alpha' }),
        xt('w1', { routingGroup: 'weighted', hostname: 'weighted.example.com', header: 'X-Trino-XTrinode=weighted' }),
        xt('w2', { routingGroup: 'weighted', hostname: 'weighted.example.com' }),
        xt('dflt', { default: true }),
      ],
      settings: DEFAULT_SETTINGS,
    }).table;
    await startReplicas(prefixTable, prefixRouters, prefixUrls);
  });

  afterAll(async () => {
    await Promise.all(prefixRouters.map((r) => r.drain()));
  });

  test('a new statement gets its coordinator\'s prefix in nextUri; a client\'s own X-Forwarded-Prefix never reaches Trino', async () => {
    const r = await submit(prefixUrls[0]!, { host: 'weighted.example.com', 'x-forwarded-proto': 'https', 'x-forwarded-port': '443', 'x-forwarded-prefix': '/evil' });
    const owner = String(r.headers['x-fake-coordinator']);
    expect(['w1', 'w2']).toContain(owner);
    expect(String(r.json().nextUri)).toMatch(new RegExp(`^https://weighted\\.example\\.com/xtrinode/c/prod/${owner}/v1/statement/queued/`));
    const seen = coordinators[owner]!.seen.at(-1)!;
    expect(seen.headers['x-forwarded-prefix']).toBe(`/xtrinode/c/prod/${owner}`);
  });

  test('polls by prefix reach the owner through any replica, with the prefix stripped and no probing', async () => {
    const owners = new Set<string>();
    const missesBefore = await stickyCount(prefixRouters, 'miss');
    for (let q = 0; q < 6; q++) {
      const first = await submit(prefixUrls[q % 2]!, { host: 'gateway.example.com', 'x-trino-xtrinode': 'weighted' });
      const owner = String(first.headers['x-fake-coordinator']);
      owners.add(owner);
      const { served, last } = await runQuery(first.json(), (i) => prefixUrls[(i + q) % 2]!); // no selector on the polls
      expect(new Set(served)).toEqual(new Set([owner]));
      expect(last.data).toBeDefined();
      const paths = coordinators[owner]!.seen.slice(-served.length).map((x) => x.path);
      for (const p of paths) expect(p).toMatch(/^\/v1\/statement\/(queued|executing)\//);
    }
    expect([...owners].sort()).toEqual(['w1', 'w2']);
    expect(await stickyCount(prefixRouters, 'miss')).toBe(missesBefore);
  });

  test('a poll by prefix of a query its restarted coordinator does not know gets the query\'s failure in Trino\'s form', async () => {
    const first = await submit(prefixUrls[0]!, { host: 'alpha.example.com' });
    const id = String(first.json().id);
    const port = coordinators.alpha!.port;
    await coordinators.alpha!.stop();
    coordinators.alpha = new FakeCoordinator({ name: 'alpha' });
    await coordinators.alpha.start(port);
    const stale = await call(prefixUrls[1]!, new URL(String(first.json().nextUri)).pathname, { host: 'alpha.example.com' });
    const page = stale.json() as { id: string; stats: { state: string }; error: { errorName: string } };
    expect({ status: stale.status, id: page.id, state: page.stats.state, name: page.error.errorName }).toEqual({ status: 200, id, state: 'FAILED', name: 'XTRINODE_QUERY_NOT_FOUND' });
    // The restarted coordinator did get the poll (its 404 did not reach the client).
    expect(coordinators.alpha.seen.map((x) => x.path)).toEqual([expect.stringMatching(new RegExp(`^/v1/statement/queued/${id}/`))]);
  });

  test('DELETE of a prefixed nextUri cancels the query on its coordinator', async () => {
    const first = await submit(prefixUrls[0]!, { host: 'alpha.example.com' });
    const id = String(first.json().id);
    expect(coordinators.alpha!.queries.has(id)).toBe(true);
    const del = await call(prefixUrls[1]!, new URL(String(first.json().nextUri)).pathname, { host: 'alpha.example.com' }, 'DELETE');
    expect(del.status).toBe(204);
    expect(coordinators.alpha!.queries.has(id)).toBe(false);
  });

  test('an unknown coordinator prefix is a Trino-shaped 404; a malformed one a 400; neither reaches a coordinator', async () => {
    const before = Object.values(coordinators).reduce((n, c) => n + c.seen.length, 0);
    const unknown = await call(prefixUrls[0]!, '/xtrinode/c/prod/nobody/v1/statement/queued/20260101_000000_00001_abcde/y1/1', { host: 'alpha.example.com' });
    expect(unknown.status).toBe(404);
    expect(unknown.headers['x-xtrinode-error']).toBe('XTN_UNKNOWN_COORDINATOR');
    expect(unknown.headers['content-type']).toMatch(/^text\/plain/);
    expect(unknown.text).toContain('/xtrinode/c/prod/nobody');
    for (const p of ['/xtrinode/c/PROD/alpha/v1/info', '/xtrinode/c/prod', '/xtrinode/c/prod/alpha/../w1/v1/info']) {
      const bad = await call(prefixUrls[0]!, p, { host: 'alpha.example.com' });
      expect({ p, status: bad.status, code: bad.headers['x-xtrinode-error'] }).toEqual({ p, status: 400, code: 'XTN_MALFORMED_REQUEST' });
    }
    expect(Object.values(coordinators).reduce((n, c) => n + c.seen.length, 0)).toBe(before);
  });

  test('a follow-up that drops its selector header still reaches its coordinator: the URL names it', async () => {
    const first = await submit(prefixUrls[0]!, { host: 'gateway.example.com', 'x-trino-xtrinode': 'team/alpha' });
    expect(first.headers['x-fake-coordinator']).toBe('alpha');
    const { served } = await runQuery(first.json(), () => prefixUrls[1]!);
    expect(new Set(served)).toEqual(new Set(['alpha']));
  });

  test('presto-client (npm) runs a query by header selector, polling without it', async () => {
    const port = Number(new URL(prefixUrls[1]!).port);
    const data = await new Promise<unknown[]>((resolve, reject) => {
      const client = new Presto.Client({ host: '127.0.0.1', port, user: 'test', engine: 'trino', catalog: 'tpch', schema: 'tiny' });
      const rows: unknown[] = [];
      // presto-client sends these headers on the POST only: its polls arrive without the selector,
      // and find the coordinator by the prefix in nextUri.
      client.execute({ query: 'SELECT 1', headers: { 'X-Trino-XTrinode': 'team/alpha' }, data: (_e: unknown, d: unknown[]) => rows.push(...d), success: () => resolve(rows), error: (e: unknown) => reject(new Error(JSON.stringify(e))) });
    });
    expect(data).toEqual([[0, 'alpha']]);
  });

  test('ownership is learned only from answers that prove it: Trino\'s 410 for an unknown /v1/query id teaches nothing', async () => {
    const fresh = makeRouter({ probeConcurrency: 1 });
    fresh.setTable(prefixTable);
    const u = await fresh.listen({ port: 0, host: '127.0.0.1' });
    try {
      let first: Awaited<ReturnType<typeof submit>>;
      do first = await submit(prefixUrls[0]!, { host: 'weighted.example.com' }); while (first.headers['x-fake-coordinator'] !== 'w2');
      const id = String(first.json().id);
      // w1 is asked first and answers 410; the router must go on to w2, the owner.
      const info = await call(u, `/v1/query/${id}`, { host: 'weighted.example.com' });
      expect(info.status).toBe(200);
      expect(info.headers['x-fake-coordinator']).toBe('w2');
      expect(coordinators.w1!.seen.some((x) => x.path === `/v1/query/${id}`)).toBe(true);
    } finally {
      await fresh.drain();
    }
  });
});
