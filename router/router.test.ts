/**
 * The router against fake coordinators and real Trino clients from npm (trino-client): routing
 * priority, selection inside a group, the route table and the admin port.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Trino } from 'trino-client';
import { FakeCoordinator } from '../conformance/fake-coordinator.ts';
import { watchTableFile } from './table-source.ts';
import { serializeRouteTable } from '../routetable/schema.ts';
import { coordinators, table, urls, makeRouter, call, submit, useFakeCluster } from './router-fixture.ts';
import { request } from 'undici';

useFakeCluster();

describe('routing priority', () => {
  test('hostname, header and default each reach their group', async () => {
    expect((await submit(urls[0]!, { host: 'alpha.example.com' })).headers['x-fake-coordinator']).toBe('alpha');
    expect((await submit(urls[0]!, { host: 'gateway.example.com', 'x-trino-xtrinode': 'team/alpha' })).headers['x-fake-coordinator']).toBe('alpha');
    expect((await submit(urls[0]!, { host: 'gateway.example.com' })).headers['x-fake-coordinator']).toBe('dflt');
  });

  test('hostname beats header', async () => {
    const r = await submit(urls[0]!, { host: 'alpha.example.com', 'x-trino-xtrinode': 'shared' });
    expect(r.headers['x-fake-coordinator']).toBe('alpha');
  });

  test('an unknown selector fails explicitly, never the default route', async () => {
    const r = await submit(urls[0]!, { host: 'gateway.example.com', 'x-trino-xtrinode': 'team/nope' });
    expect(r.status).toBe(404);
    expect(r.headers['x-xtrinode-error']).toBe('XTN_UNKNOWN_SELECTOR');
    expect(r.text).toContain('X-Trino-XTrinode="team/nope"');
    expect(coordinators.dflt!.seen.some((s) => s.headers['x-trino-xtrinode'] === 'team/nope')).toBe(false);
  });

  test('a method outside the Trino protocol gets the router error form (405), not the framework answer', async () => {
    for (const method of ['PROPFIND', 'MKCOL', 'LOCK']) {
      const res = await request(`${urls[0]!}/v1/statement`, { method, headers: { host: 'alpha.example.com' } });
      const text = await res.body.text();
      expect({ method, status: res.statusCode, code: res.headers['x-xtrinode-error'], text }).toEqual({ method, status: 405, code: 'XTN_METHOD_NOT_ALLOWED', text: expect.stringContaining(`method "${method}" is not part of the Trino client protocol`) });
    }
    expect(coordinators.alpha!.seen.some((s) => ['PROPFIND', 'MKCOL', 'LOCK'].includes(s.method))).toBe(false);
  });

  test('errors never leak backend addresses', async () => {
    const r = await submit(urls[0]!, { host: 'gateway.example.com', 'x-trino-xtrinode': 'x'.repeat(500) });
    expect(r.text).not.toMatch(/127\.0\.0\.1|svc\.cluster|:\d{4,5}/);
    expect(r.text.length).toBeLessThan(500);
  });
});

describe('selection inside a group', () => {
  test('weighted round-robin honours weights 3:1', async () => {
    const counts: Record<string, number> = {};
    for (let i = 0; i < 40; i++) {
      const r = await submit(urls[0]!, { host: 'weighted.example.com' });
      const c = String(r.headers['x-fake-coordinator']);
      counts[c] = (counts[c] ?? 0) + 1;
    }
    expect(counts).toEqual({ w1: 30, w2: 10 });
  });

  test('starting or unreachable coordinators get no new queries; none healthy is a clear 503', async () => {
    const r = makeRouter({ healthIntervalMs: 0 });
    r.setTable(table);
    const u = await r.listen({ port: 0, host: '127.0.0.1' });
    try {
      coordinators.s1!.starting = true;
      await r.checkHealth();
      for (let i = 0; i < 4; i++) expect((await submit(u, { host: 'shared.example.com' })).headers['x-fake-coordinator']).toBe('s2');
      const port = coordinators.s2!.port;
      await coordinators.s2!.stop();
      await r.checkHealth();
      const none = await submit(u, { host: 'shared.example.com' });
      expect(none.status).toBe(503);
      expect(none.headers['x-xtrinode-error']).toBe('XTN_NO_HEALTHY_COORDINATOR');
      expect(none.headers['retry-after']).toBeDefined();
      coordinators.s2 = new FakeCoordinator({ name: 's2' });
      await coordinators.s2.start(port);
    } finally {
      coordinators.s1!.starting = false;
      await r.drain();
    }
  });

  test('adaptive mode sends new queries to the least loaded coordinator', async () => {
    const r = makeRouter({ balancing: 'adaptive' });
    r.setTable(table);
    const u = await r.listen({ port: 0, host: '127.0.0.1' });
    try {
      for (let i = 0; i < 5; i++) await submit(u, { host: 'weighted.example.com' }); // leave w1/w2 queries running
      await r.checkHealth();
      const loadW1 = [...coordinators.w1!.queries.values()].length;
      const loadW2 = [...coordinators.w2!.queries.values()].length;
      const next = String((await submit(u, { host: 'weighted.example.com' })).headers['x-fake-coordinator']);
      // weight 3 vs 1: score = load / weight
      expect(next).toBe(loadW1 / 3 <= loadW2 / 1 ? 'w1' : 'w2');
    } finally {
      await r.drain();
    }
  });
});

describe('real Trino clients through the router', () => {
  test('trino-client (npm) runs a query on the shared group', async () => {
    const trino = Trino.create({ server: urls[0]!, extraHeaders: { 'X-Trino-XTrinode': 'shared', 'X-Trino-User': 'test' } });
    const iter = await trino.query('SELECT 1');
    const rows: unknown[] = [];
    let state = '';
    for await (const page of iter) {
      if (page.error) throw new Error(page.error.message);
      rows.push(...(page.data ?? []));
      state = page.stats?.state ?? state;
    }
    expect(state).toBe('FINISHED');
    expect(rows.length).toBe(1);
    expect(['s1', 's2']).toContain((rows[0] as unknown[])[1]);
  });
});

describe('route table', () => {
  test('a table that fails validation is refused and the last good one stays in force', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'xtn-'));
    const file = join(dir, 'routes.json');
    writeFileSync(file, serializeRouteTable(table));
    const r = makeRouter();
    const stop = await watchTableFile(r, file, 50);
    try {
      expect(r.table?.groups.length).toBe(table.groups.length);
      writeFileSync(file, JSON.stringify({ version: 1, groups: [{ name: 'BAD NAME', hostnames: [], headerValues: [], default: true, path: 'router', backends: [] }] }));
      await new Promise((res) => setTimeout(res, 300));
      expect(r.table?.groups.length).toBe(table.groups.length);
      const metrics = await r.metrics.metrics();
      expect(metrics).toMatch(/xtrinode_router_route_table_loads_total\{result="refused"\} [1-9]/);
    } finally {
      stop();
      await r.drain();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('health, readiness and metrics are on the admin port only; the data port sends those paths to Trino', async () => {
    const r = makeRouter();
    const u = await r.listen({ port: 0, host: '127.0.0.1' });
    const admin = await r.listenAdmin({ port: 0, host: '127.0.0.1' });
    try {
      expect((await call(admin, '/healthz')).status).toBe(200);
      expect((await call(admin, '/readyz')).status).toBe(503);
      const noTable = await submit(u, { host: 'alpha.example.com' });
      expect(noTable.headers['x-xtrinode-error']).toBe('XTN_NO_ROUTE_TABLE');
      r.setTable(table);
      expect((await call(admin, '/readyz')).status).toBe(200);
      const m = await call(admin, '/metrics');
      expect(m.text).toContain('xtrinode_router_sticky_total');
      expect(m.text).toContain('xtrinode_router_statement_budget_bytes');
      expect((await call(admin, '/v1/info')).status).toBe(404);
      const before = coordinators.alpha!.seen.length;
      const viaData = await call(u, '/metrics', { host: 'alpha.example.com' });
      expect(viaData.text).not.toContain('xtrinode_router');
      expect(coordinators.alpha!.seen.slice(before).map((s) => s.path)).toEqual(['/metrics']);
    } finally {
      await r.drain();
    }
    await expect(call(admin, '/healthz')).rejects.toThrow();
  });
});
