/**
 * Held queries' wait URIs are capabilities: 128 random bits of the one query, checked on every
 * poll and cancel (the API server and resume path are covered in resume.test.ts).
 */
import { HeldQueries, WAIT_PATH_PREFIX } from './held-queries.ts';
import type { RouteGroup } from '../routetable/schema.ts';
import pino from 'pino';
import { Client } from 'undici';
import { TrinoRouter } from './server.ts';
import type { Resumer } from './resume.ts';
import { FakeCoordinator } from '../conformance/fake-coordinator.ts';

const group: RouteGroup = { name: 'g', hostnames: [], headerValues: [], default: true, path: 'router', backends: [{ id: 'ns/a', service: { namespace: 'ns', name: 'a-coordinator', port: 8080 }, weight: 1, state: 'Suspended' }] };

function held(): HeldQueries {
  // A runtime that never wakes: the query stays held for the whole test.
  return new HeldQueries({ group: () => group, readyBackend: async () => undefined, submit: async () => { throw new Error('not submitted'); }, resume: () => undefined }, { timeoutMs: 60_000, pollWaitMs: 10 });
}

function waitUri(body: string): { id: string; slug: string } {
  const u = new URL((JSON.parse(body) as { nextUri: string }).nextUri);
  const [id, slug] = u.pathname.slice(WAIT_PATH_PREFIX.length).split('/') as [string, string];
  return { id, slug };
}

describe('held query wait URIs', () => {
  test('carry 128 random bits of their own query; polls and cancels without them find nothing', async () => {
    const h = held();
    const a = waitUri(h.hold(group, {}, Buffer.from('SELECT 1'), 'http://gw.example.com'));
    const b = waitUri(h.hold(group, {}, Buffer.from('SELECT 2'), 'http://gw.example.com'));
    const secret = (slug: string) => slug.slice('xtnw.'.length).split('.')[0]!;
    expect(Buffer.from(secret(a.slug), 'base64url').length).toBe(16);
    expect(secret(a.slug)).not.toBe(secret(b.slug));
    expect(h.holderOf(a.slug)).toBe('self');

    expect((await h.poll(a.id, a.slug))?.status).toBe(200);
    // another query's slug, a tampered one, a missing one
    const tampered = `xtnw.${secret(a.slug).slice(0, -1)}${secret(a.slug).endsWith('A') ? 'B' : 'A'}.local`;
    for (const slug of [b.slug, tampered, 'xtnw.local', 'xtnw..local']) {
      expect({ slug, poll: await h.poll(a.id, slug) }).toEqual({ slug, poll: undefined });
      expect({ slug, cancel: h.cancel(a.id, slug) }).toEqual({ slug, cancel: false });
    }
    expect(h.has(a.id)).toBe(true);
    expect(h.cancel(a.id, a.slug)).toBe(true);
    expect(h.has(a.id)).toBe(false);
    h.cancel(b.id, b.slug);
  });
});

/**
 * Held queries inside a router: the statement budget, abandoned queries, and one /v1/info check
 * per coordinator for every held query. Resuming itself runs against a real API server in
 * resume.test.ts; here a runtime that never finishes starting keeps queries held.
 */
describe('held queries in the router', () => {
  const silent = pino({ level: 'silent' });
  /** Stands in for the API-server resumer: these tests never need a runtime to wake. */
  const noResume = { resume: async () => undefined, counter: undefined } as unknown as Resumer;
  const fakes: FakeCoordinator[] = [];
  const routers: TrinoRouter[] = [];
  const clients: Client[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await Promise.all(routers.splice(0).map((r) => r.drain()));
    await Promise.all(fakes.splice(0).map((f) => f.stop()));
  });

  /** A router whose one group has two coordinators that stay `starting`: every statement is held. */
  async function startingGroup(extra: Partial<ConstructorParameters<typeof TrinoRouter>[0]>) {
    for (const name of ['a', 'b']) {
      const f = new FakeCoordinator({ name, starting: true });
      await f.start();
      fakes.push(f);
    }
    const r = new TrinoRouter({ logger: silent, healthIntervalMs: 0, activityIntervalMs: 0, resumer: noResume, resolveService: (s) => `http://127.0.0.1:${fakes.find((f) => `${f.name}-coordinator` === s.name)!.port}`, ...extra });
    r.setTable({ version: 1, groups: [{ name: 'g', hostnames: ['g.example.com'], headerValues: [], default: false, path: 'router', backends: ['a', 'b'].map((n) => ({ id: `ns/${n}`, service: { namespace: 'ns', name: `${n}-coordinator`, port: 8080 }, weight: 1, state: 'Ready' as const })) }] });
    await r.checkHealth(); // both starting: none takes new queries
    routers.push(r);
    const c = new Client(await r.listen({ port: 0, host: '127.0.0.1' }));
    clients.push(c);
    const post = async (sql: string) => {
      const res = await c.request({ method: 'POST', path: '/v1/statement', headers: { host: 'g.example.com', 'x-trino-user': 'me' }, body: sql });
      return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
    };
    const get = async (uri: string, method: 'GET' | 'DELETE' = 'GET') => {
      const u = new URL(uri);
      const res = await c.request({ method, path: u.pathname, headers: { host: u.host } });
      return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
    };
    return { router: r, post, get };
  }

  const statement = (mib: number) => `SELECT '${'x'.repeat(mib * 1024 * 1024 - 10)}'`;

  test('statements beyond the memory budget get a Trino-shaped 503 with Retry-After; a cancel gives the memory back', async () => {
    const { router, post, get } = await startingGroup({ statementBudgetBytes: 3 * 1024 * 1024 });
    const first = await post(statement(1));
    const second = await post(statement(1));
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(router.statements.usedBytes).toBeGreaterThan(2 * 1024 * 1024 - 100);
    const over = await post(statement(1.5));
    expect(over.status).toBe(503);
    expect(over.headers['retry-after']).toBe('5');
    expect(over.headers['x-xtrinode-error']).toBe('XTN_OVERLOADED');
    expect(over.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(over.text).toMatch(/^xtrinode-gateway: .*memory budget.*; the statement was not accepted\. Retry in a few seconds\.\n$/s);
    expect(fakes.flatMap((f) => f.seen).filter((s) => s.path === '/v1/statement')).toEqual([]);
    // The refused statement left nothing taken; cancelling a held one frees its share.
    expect(router.statements.usedBytes).toBeLessThan(2 * 1024 * 1024 + 100);
    expect((await get(JSON.parse(first.text).nextUri as string, 'DELETE')).status).toBe(204);
    expect(router.statements.usedBytes).toBeLessThan(1024 * 1024 + 100);
    expect((await post(statement(1.5))).status).toBe(200);
  });

  test('a held query its client stopped polling is dropped and its memory given back; one that is polled stays', async () => {
    const { router, post, get } = await startingGroup({ heldAbandonAfterMs: 400 });
    const abandoned = JSON.parse((await post('SELECT 1')).text) as { nextUri: string };
    let polled = JSON.parse((await post('SELECT 2')).text) as { nextUri: string };
    const until = Date.now() + 1200;
    while (Date.now() < until) {
      const r = await get(polled.nextUri);
      expect(r.status).toBe(200);
      polled = JSON.parse(r.text) as { nextUri: string };
    }
    const late = await get(abandoned.nextUri);
    expect(late.status).toBe(404);
    expect(late.headers['x-xtrinode-error']).toBe('XTN_QUERY_NOT_FOUND');
    expect((await get(polled.nextUri)).status).toBe(200);
    expect(router.statements.usedBytes).toBe('SELECT 2'.length);
  });

  test('every held query shares one /v1/info check per coordinator', async () => {
    const { post } = await startingGroup({});
    const t0 = Date.now();
    const held = await Promise.all(Array.from({ length: 50 }, (_, i) => post(`SELECT ${i}`)));
    expect(held.map((h) => h.status)).toEqual(Array(50).fill(200));
    await new Promise((r) => setTimeout(r, 1000));
    const seconds = (Date.now() - t0) / 1000;
    for (const f of fakes) {
      const checks = f.seen.filter((s) => s.path === '/v1/info').length;
      // At most one check each 250 ms (plus the one before the statements): not one per held query.
      expect({ coordinator: f.name, checks: checks <= Math.ceil(seconds * 4) + 2 }).toEqual({ coordinator: f.name, checks: true });
    }
  });
});

/**
 * A held statement meets a coordinator that just started and fails it at scheduling
 * (NO_NODES_AVAILABLE), as real Trino 476 does for seconds after /v1/info stops saying
 * `starting` (seen in the conformance case RealTrinoQueriesWaitForARealCoordinatorToStart).
 */
describe('held statements submitted to a coordinator that just started', () => {
  test.each(['NO_NODES_AVAILABLE', 'nodes is empty'] as const)('a %s failure at scheduling is submitted again; the client only ever sees its query run', async (form) => {
    const coordinator = new FakeCoordinator({ name: 'fresh', queuedPolls: 2 });
    await coordinator.start();
    coordinator.noNodesFor = 2;
    coordinator.noNodesForm = form;
    let resumed = false;
    const table = { version: 1 as const, groups: [{ name: 'g', hostnames: ['g.example.com'], headerValues: [], default: false, path: 'router' as const, backends: [{ id: 'ns/fresh', service: { namespace: 'ns', name: 'fresh-coordinator', port: 8080 }, weight: 1, state: 'Suspended' as const, prefix: '/xtrinode/c/ns/fresh' }] }] };
    const r = new TrinoRouter({
      logger: pino({ level: 'silent' }), healthIntervalMs: 0, activityIntervalMs: 0,
      resumer: { resume: async () => void (resumed = true), counter: undefined } as unknown as Resumer,
      resolveService: () => `http://127.0.0.1:${coordinator.port}`,
    });
    r.setTable(table);
    const c = new Client(await r.listen({ port: 0, host: '127.0.0.1' }));
    try {
      const first = await c.request({ method: 'POST', path: '/v1/statement', headers: { host: 'g.example.com', 'x-trino-user': 'me', authorization: 'Basic c2VjcmV0' }, body: 'SELECT 1' });
      let page = (await first.body.json()) as { nextUri?: string; stats: { state: string }; error?: { errorName: string }; data?: unknown[] };
      expect(page.stats.state).toBe('QUEUED');
      expect(resumed).toBe(true);
      r.setTable({ ...table, groups: [{ ...table.groups[0]!, backends: [{ ...table.groups[0]!.backends[0]!, state: 'Ready' }] }] }); // the runtime woke
      const states: string[] = [];
      while (page.nextUri) {
        const u = new URL(page.nextUri);
        const res = await c.request({ method: 'GET', path: u.pathname, headers: { host: u.host } });
        expect(res.statusCode).toBe(200);
        page = (await res.body.json()) as typeof page;
        states.push(page.stats.state);
      }
      expect({ last: states.at(-1), error: page.error?.errorName, data: page.data }).toEqual({ last: 'FINISHED', error: undefined, data: [[0, 'fresh']] });
      expect(states).not.toContain('FAILED');
      const posts = coordinator.seen.filter((s) => s.method === 'POST' && s.path === '/v1/statement');
      expect(posts.length).toBe(3); // two failed at scheduling, the third ran
      // The router's own polls of the failed submissions carried no client credentials.
      const routerPolls = coordinator.seen.filter((s) => s.method === 'GET' && s.path.startsWith('/v1/statement/queued/'));
      expect(routerPolls.length).toBeGreaterThanOrEqual(2);
      expect(routerPolls.filter((s) => s.headers.authorization !== undefined).length).toBe(0);
    } finally {
      await c.close();
      await r.drain();
      await coordinator.stop();
    }
  });
});

/**
 * A member that is not suspended but whose coordinator is not ready (route table state NotReady:
 * starting, resuming, restarting) makes new statements wait like a resume, but nothing is
 * resumed: a resume is for runtimes suspended by spec.suspend only.
 */
describe('a NotReady member', () => {
  test('holds a new statement without asking for a resume, submits it once Ready; its prefix follow-ups get 503 XTN_RUNTIME_NOT_READY', async () => {
    const coordinator = new FakeCoordinator({ name: 'starting', queuedPolls: 1 });
    await coordinator.start();
    let resumes = 0;
    const backend = { id: 'ns/starting', service: { namespace: 'ns', name: 'starting-coordinator', port: 8080 }, weight: 1, state: 'NotReady' as const, prefix: '/xtrinode/c/ns/starting' };
    const table = { version: 1 as const, groups: [{ name: 'g', hostnames: ['g.example.com'], headerValues: [], default: false, path: 'router' as const, backends: [backend] }] };
    const r = new TrinoRouter({
      logger: pino({ level: 'silent' }), healthIntervalMs: 0, activityIntervalMs: 0,
      resumer: { resume: async () => void resumes++, counter: undefined } as unknown as Resumer,
      resolveService: () => `http://127.0.0.1:${coordinator.port}`,
    });
    r.setTable(table);
    const c = new Client(await r.listen({ port: 0, host: '127.0.0.1' }));
    try {
      const first = await c.request({ method: 'POST', path: '/v1/statement', headers: { host: 'g.example.com', 'x-trino-user': 'me' }, body: 'SELECT 1' });
      let page = (await first.body.json()) as { nextUri?: string; stats: { state: string }; error?: { errorName: string }; data?: unknown[] };
      expect(page.stats.state).toBe('QUEUED');
      // A few polls while it stays NotReady: still queued, still no resume, nothing sent to the coordinator.
      for (let i = 0; i < 3; i++) {
        const u = new URL(page.nextUri!);
        page = (await (await c.request({ method: 'GET', path: u.pathname, headers: { host: u.host } })).body.json()) as typeof page;
      }
      expect({ state: page.stats.state, resumes, posts: coordinator.seen.filter((s) => s.method === 'POST').length }).toEqual({ state: 'QUEUED', resumes: 0, posts: 0 });
      const follow = await c.request({ method: 'GET', path: '/xtrinode/c/ns/starting/v1/statement/executing/20260101_000000_00000_abcde/y/1', headers: { host: 'g.example.com' } });
      const text = await follow.body.text();
      expect({ status: follow.statusCode, code: follow.headers['x-xtrinode-error'], resumes }).toEqual({ status: 503, code: 'XTN_RUNTIME_NOT_READY', resumes: 0 });
      expect(text).toMatch(/^xtrinode-gateway: the coordinator of Trino runtime ns\/starting is not ready yet/);
      r.setTable({ ...table, groups: [{ ...table.groups[0]!, backends: [{ ...backend, state: 'Ready' as const }] }] });
      while (page.nextUri) {
        const u = new URL(page.nextUri);
        page = (await (await c.request({ method: 'GET', path: u.pathname, headers: { host: u.host } })).body.json()) as typeof page;
      }
      expect({ state: page.stats.state, data: page.data, resumes }).toEqual({ state: 'FINISHED', data: [[0, 'starting']], resumes: 0 });
    } finally {
      await c.close();
      await r.drain();
      await coordinator.stop();
    }
  });
});
