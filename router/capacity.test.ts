/**
 * Query limits and the gateway queue, inside a router in front of fake coordinators whose
 * QueryManager MBean counts the queries their clients have not finished polling (checked
 * against real Trino in conformance/local-conformance.ts). The live case with real Trino, the
 * Trino CLI and JDBC is GatewayQueueWithRealClients in conformance/suite.ts.
 */
import pino from 'pino';
import { Client } from 'undici';
import { Capacity, PENDING_START_MS } from './capacity.ts';
import { TrinoRouter } from './server.ts';
import { FakeCoordinator } from '../conformance/fake-coordinator.ts';
import { translate } from '../controller/translate/translate.ts';
import { DEFAULT_SETTINGS } from '../controller/translate/settings.ts';
import type { RouteBackend, RouteGroup } from '../routetable/schema.ts';
import type { XTrinode } from '../controller/api/xtrinode.ts';

const backend = (id: string, maxQueries?: number): RouteBackend => ({ id, service: { namespace: 'prod', name: `${id}-coordinator`, port: 8080 }, weight: 1, state: 'Ready', ...(maxQueries ? { maxQueries } : {}) });

describe('Capacity counts the coordinator and its own starts since the reading', () => {
  test('a member at its limit gets nothing until its coordinator reports room; one with an unknown count gets nothing', async () => {
    const counts: Record<string, number | undefined> = { a: 0, b: undefined };
    let reads = 0;
    const cap = new Capacity({ origin: (b) => b.id, readMs: 60_000, timeoutMs: 100, read: async (o) => { reads++; const n = counts[o]; return n === undefined ? undefined : { queued: 0, running: n, started: undefined }; } });
    const group: RouteGroup = { name: 'g', hostnames: [], headerValues: [], default: false, path: 'router', backends: [backend('a', 2), backend('b', 5)] };
    expect((await cap.admit(group))?.id).toBe('a');
    expect((await cap.admit(group))?.id).toBe('a'); // the reading says 0; one start counted
    expect(await cap.admit(group)).toBeUndefined(); // 0 + 2 starts: full; b does not report
    expect(reads).toBe(2); // one reading per coordinator, reused within readMs
  });

  test('a fresh reading replaces the starts it includes; starts just before it stay counted one more interval', async () => {
    let running = 0;
    let now = 1_000_000;
    {
      const cap = new Capacity({ origin: () => 'x', readMs: 1000, timeoutMs: 100, now: () => now, read: async () => ({ queued: 0, running, started: undefined }) });
      const group: RouteGroup = { name: 'g', hostnames: [], headerValues: [], default: false, path: 'router', backends: [backend('a', 2)] };
      expect((await cap.admit(group))?.id).toBe('a');
      running = 1; // the coordinator counts it now
      now += 500;
      expect(await cap.count(group.backends[0]!)).toBe(1); // old reading (0) + 1 start
      now += 500; // a new reading (1) is taken; the start, 1 s before it, is counted once more (conservative)
      expect(await cap.count(group.backends[0]!)).toBe(2);
      now += 1100; // the next reading no longer double-counts it
      expect(await cap.count(group.backends[0]!)).toBe(1);
    }
  });
});

describe('a start stays counted until its coordinator registers it', () => {
  test('readings that do not show it yet (the client has not polled) keep it counted; the growth of SubmittedQueries releases it', async () => {
    let now = 1_000_000;
    let submitted = 10;
    let alive = 0;
    const cap = new Capacity({ origin: () => 'x', readMs: 1000, timeoutMs: 100, now: () => now, read: async () => ({ queued: 0, running: alive, started: undefined, alive, submitted }) });
    const b = backend('a', 1);
    const group: RouteGroup = { name: 'g', hostnames: [], headerValues: [], default: false, path: 'router', backends: [b] };
    expect((await cap.admit(group))?.id).toBe('a');
    for (let i = 0; i < 4; i++) {
      now += 1100; // a new reading each time: the coordinator still shows nothing of it
      expect(await cap.count(b)).toBe(1);
    }
    expect(await cap.admit(group)).toBeUndefined();
    submitted = 11; // its first poll arrived: registered and alive
    alive = 1;
    now += 1100;
    expect(await cap.count(b)).toBe(1); // in the reading now, no longer among the starts
    alive = 0; // finished
    now += 1100;
    expect(await cap.count(b)).toBe(0);
  });

  test('a start its coordinator never registers is counted at most PENDING_START_MS', async () => {
    let now = 1_000_000;
    const cap = new Capacity({ origin: () => 'x', readMs: 1000, timeoutMs: 100, now: () => now, read: async () => ({ queued: 0, running: 0, started: undefined, alive: 0, submitted: 5 }) });
    const b = backend('a', 1);
    expect(await cap.count(b)).toBe(0); // a first reading
    cap.started('a');
    now += PENDING_START_MS - 1;
    expect(await cap.count(b)).toBe(1);
    now += 2;
    expect(await cap.count(b)).toBe(0);
  });
});

describe('the gateway queue of a group whose members are all at their limit', () => {
  const fakes: Record<string, FakeCoordinator> = {};
  const routers: TrinoRouter[] = [];
  let client: Client;
  let base: string;

  const xt = (name: string, maxQueries: number): XTrinode => ({ apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { namespace: 'prod', name }, spec: { routing: { routingGroup: 'pool', default: name === 'p1' }, capacity: { maxQueries } } });

  async function start(o: { queueLimit?: number; queueTimeoutMs?: number; queueing?: (g: RouteGroup, on: boolean, n: number) => void } = {}) {
    const r = new TrinoRouter({ logger: pino({ level: 'silent' }), healthIntervalMs: 0, capacityReadMs: 50, resolveService: (s) => `http://127.0.0.1:${fakes[s.name.replace(/-coordinator$/, '')]!.port}`, ...o });
    r.setTable(translate({ xtrinodes: [xt('p1', 1), xt('p2', 1)], settings: DEFAULT_SETTINGS }).table);
    routers.push(r);
    return r.listen({ port: 0, host: '127.0.0.1' });
  }

  beforeAll(async () => {
    for (const n of ['p1', 'p2']) {
      fakes[n] = new FakeCoordinator({ name: n });
      await fakes[n].start();
    }
    base = await start();
    client = new Client(base);
  });
  afterAll(async () => {
    await client.close();
    await Promise.all(routers.map((r) => r.drain()));
    await Promise.all(Object.values(fakes).map((f) => f.stop()));
  });

  const post = async (c: Client, sql: string) => {
    const res = await c.request({ path: '/v1/statement', method: 'POST', headers: { 'x-trino-user': 'u', host: 'gw.example.com' }, body: sql });
    return (await res.body.json()) as { id: string; nextUri?: string; stats: { state: string; queuedSplits: number }; error?: { errorName: string; message: string } };
  };
  const get = async (c: Client, uri: string, method: 'GET' | 'DELETE' = 'GET') => {
    const u = new URL(uri);
    const res = await c.request({ path: u.pathname, method, headers: { 'x-trino-user': 'u', host: u.host } });
    const text = await res.body.text();
    return { status: res.statusCode, served: res.headers['x-fake-coordinator'], page: (text ? JSON.parse(text) : {}) as { id: string; nextUri?: string; stats: { state: string; queuedSplits: number }; error?: { errorName: string; message: string } } };
  };
  /** Polls a query to its end; returns the coordinators that served its pages. */
  const finish = async (c: Client, first: { nextUri?: string }) => {
    const served: string[] = [];
    let page = first;
    while (page.nextUri) {
      const r = await get(c, page.nextUri);
      expect(r.status).toBe(200);
      if (r.served) served.push(String(r.served));
      page = r.page;
    }
    return served;
  };
  /** What the fake's QueryManager MBean reports as running. */
  const running = async (name: string) => fakes[name]!.running;

  test('two members with maxQueries 1: two run, the rest wait in order with their position, and drain as queries end; DELETE removes one', async () => {
    const a = await post(client, 'SELECT 1');
    const b = await post(client, 'SELECT 2');
    expect([a.nextUri?.includes('/xtrinode/wait/'), b.nextUri?.includes('/xtrinode/wait/')]).toEqual([false, false]);
    expect([await running('p1'), await running('p2')]).toEqual([1, 1]);
    const c = await post(client, 'SELECT 3');
    const d = await post(client, 'SELECT 4');
    const e = await post(client, 'SELECT 5');
    expect([c, d, e].map((x) => [x.stats.state, x.stats.queuedSplits, x.nextUri?.includes('/xtrinode/wait/')])).toEqual([['QUEUED', 1, true], ['QUEUED', 2, true], ['QUEUED', 3, true]]);

    // d is cancelled by its client: e moves up.
    expect((await get(client, d.nextUri!, 'DELETE')).status).toBe(204);
    const e1 = await get(client, e.nextUri!);
    expect([e1.page.stats.state, e1.page.stats.queuedSplits]).toEqual(['QUEUED', 2]);

    // a ends: c (the oldest) takes its slot, e waits on.
    await finish(client, a);
    let c1 = await get(client, c.nextUri!);
    while (c1.page.nextUri?.includes('/xtrinode/wait/')) c1 = await get(client, c1.page.nextUri);
    expect(c1.page.id).not.toBe(c.id); // the coordinator's own query id from here on
    const e2 = await get(client, e1.page.nextUri!);
    expect([e2.page.stats.state, e2.page.stats.queuedSplits]).toEqual(['QUEUED', 1]);
    expect([await running('p1'), await running('p2')]).toEqual([1, 1]);

    await finish(client, b);
    let e3 = e2;
    while (e3.page.nextUri?.includes('/xtrinode/wait/')) e3 = await get(client, e3.page.nextUri);
    expect(e3.page.stats.state).not.toBe('FAILED');
    await finish(client, c1.page);
    await finish(client, e3.page);
    expect([await running('p1'), await running('p2')]).toEqual([0, 0]);
    const metrics = await routers[0]!.metrics.metrics();
    expect(metrics).toMatch(/xtrinode_router_queue_wait_seconds_count\{group="pool"\} 2/);
  });

  test('over QUEUE_LIMIT a statement FAILS naming the group and the limit; past QUEUE_TIMEOUT a waiting one FAILS naming the group', async () => {
    const transitions: Array<[string, boolean, number]> = [];
    const small = await start({ queueLimit: 1, queueTimeoutMs: 300, queueing: (g, on, n) => transitions.push([g.name, on, n]) });
    const c = new Client(small);
    try {
      const x = await post(c, 'SELECT 1');
      const y = await post(c, 'SELECT 2');
      const waiting = await post(c, 'SELECT 3');
      const refused = await post(c, 'SELECT 4');
      expect(waiting.stats.state).toBe('QUEUED');
      expect([refused.stats.state, refused.error?.errorName, refused.nextUri]).toEqual(['FAILED', 'XTRINODE_QUEUE_FULL', undefined]);
      expect(refused.error?.message).toContain('routing group pool is full (1 statements waiting, QUEUE_LIMIT)');
      let w = await get(c, waiting.nextUri!);
      while (w.page.nextUri) w = await get(c, w.page.nextUri);
      expect([w.page.stats.state, w.page.error?.errorName]).toEqual(['FAILED', 'XTRINODE_QUEUE_TIMEOUT']);
      expect(w.page.error?.message).toContain('in the gateway queue of routing group pool');
      // The queue started (one waiting) and drained (its statement timed out): once each (queue-events.ts).
      expect(transitions).toEqual([['pool', true, 1], ['pool', false, 0]]);
      await finish(c, x);
      await finish(c, y);
    } finally {
      await c.close();
    }
  });
});
