/**
 * The router against fake coordinators (protocol-faithful, test/fake-coordinator.ts) and real
 * Trino clients from npm (trino-client, presto-client). The route table is produced by the real
 * translation from XTrinodes, as in production.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'undici';
import { connect } from 'node:net';
import { Trino } from 'trino-client';
import { FakeCoordinator } from '../conformance/fake-coordinator.ts';
import { TrinoRouter } from './server.ts';
import { translate } from '../controller/translate/translate.ts';
import { DEFAULT_SETTINGS } from '../controller/translate/settings.ts';
import { TokenSigner } from './signed-token.ts';
import { watchTableFile } from './table-source.ts';
import { serializeRouteTable, type RouteTable } from '../routetable/schema.ts';
import type { XTrinode } from '../controller/api/xtrinode.ts';
import pino from 'pino';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const Presto = require('presto-client') as { Client: new (o: Record<string, unknown>) => { execute(o: Record<string, unknown>): void } };

const SECRET = 'test-secret-0123456789abcdef';
const silent = pino({ level: 'silent' });

function xt(name: string, routing: Record<string, unknown>): XTrinode {
  return { apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { namespace: 'prod', name }, spec: { routing } };
}

const coordinators: Record<string, FakeCoordinator> = {};
let table: RouteTable;
const routers: TrinoRouter[] = [];
const urls: string[] = [];

function makeRouter(extra: Partial<ConstructorParameters<typeof TrinoRouter>[0]> = {}) {
  return new TrinoRouter({
    logger: silent,
    healthIntervalMs: 0,
    resolveService: (s) => `http://127.0.0.1:${coordinators[s.name.replace(/-coordinator$/, '')]!.port}`,
    oauth2: { secret: SECRET, name: 'XTRINODE_OAUTH2', routingPaths: ['/oauth2'], deletePaths: ['/oauth2/logout'], lifetimeMs: 600_000 },
    ...extra,
  });
}

beforeAll(async () => {
  for (const n of ['alpha', 's1', 's2', 'dflt', 'w1', 'w2']) {
    coordinators[n] = new FakeCoordinator({ name: n });
    await coordinators[n].start();
  }
  table = translate({
    xtrinodes: [
      xt('alpha', { hostname: 'alpha.example.com', header: 'X-Trino-XTrinode=team/alpha' }),
      xt('s1', { routingGroup: 'shared', hostname: 'shared.example.com', header: 'X-Trino-XTrinode=shared' }),
      xt('s2', { routingGroup: 'shared', hostname: 'shared.example.com' }),
      xt('dflt', { default: true }),
      xt('w1', { routingGroup: 'weighted', hostname: 'weighted.example.com', weight: 3 }),
      xt('w2', { routingGroup: 'weighted', hostname: 'weighted.example.com', weight: 1 }),
    ],
    // Learned stickiness, the fallback for coordinators that cannot take part in prefix follow-ups;
    // 'follow-ups by prefix' below runs the default.
    settings: { ...DEFAULT_SETTINGS, followUps: 'router' },
  }).table;
  await startReplicas(table, routers, urls);
});

/** Two router replicas that share nothing but the route table. */
async function startReplicas(t: RouteTable, into: TrinoRouter[], at: string[]): Promise<void> {
  for (let i = 0; i < 2; i++) {
    const r = makeRouter();
    r.setTable(t);
    into.push(r);
    at.push(await r.listen({ port: 0, host: '127.0.0.1' }));
  }
}

afterAll(async () => {
  await Promise.all([...clients.values()].map((c) => c.close()));
  await Promise.all(routers.map((r) => r.drain()));
  await Promise.all(Object.values(coordinators).map((c) => c.stop()));
});

const clients = new Map<string, Client>();
/** One request; the path is sent exactly as given (no URL normalisation). */
async function call(base: string, path: string, headers: Record<string, string> = {}, method = 'GET', body?: string) {
  let client = clients.get(base);
  if (!client) clients.set(base, (client = new Client(base)));
  const res = await client.request({ path, method: method as 'GET', headers, ...(body !== undefined ? { body } : {}) });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) as Record<string, unknown> };
}

/** Writes `head` (and, after the server's first answer, `body`) on a raw socket; returns everything read until close. */
function raw(base: string, head: string, body?: string): Promise<string> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const sock = connect(Number(u.port), u.hostname, () => sock.write(head));
    let out = '';
    let sentBody = body === undefined;
    sock.on('data', (d: Buffer) => {
      out += d.toString('latin1');
      if (!sentBody) {
        sentBody = true;
        sock.write(body!);
      }
    });
    sock.on('end', () => resolve(out));
    sock.on('error', reject);
    sock.setTimeout(5000, () => sock.destroy(new Error(`no answer; read so far: ${out.slice(0, 200)}`)));
  });
}

const submit = (base: string, headers: Record<string, string>) => call(base, '/v1/statement', { 'x-trino-user': 'test', ...headers }, 'POST', 'SELECT 1');

/** Follows nextUri to the end, choosing the router for each poll; returns the coordinators that served. */
async function runQuery(first: Record<string, unknown>, pick: (i: number) => string, headers: Record<string, string> = {}) {
  const served: string[] = [];
  let page = first;
  let i = 0;
  while (typeof page.nextUri === 'string') {
    const u = new URL(page.nextUri);
    const r = await call(pick(i++), u.pathname, { host: u.host, ...headers });
    expect(r.status).toBe(200);
    served.push(String(r.headers['x-fake-coordinator']));
    page = r.json();
  }
  return { served, last: page };
}

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

  test('errors never leak backend addresses', async () => {
    const r = await submit(urls[0]!, { host: 'gateway.example.com', 'x-trino-xtrinode': 'x'.repeat(500) });
    expect(r.text).not.toMatch(/127\.0\.0\.1|svc\.cluster|:\d{4,5}/);
    expect(r.text.length).toBeLessThan(500);
  });
});

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

  test('across a coordinator restart: old queries 404, new ones route and stick', async () => {
    const port = coordinators.alpha!.port;
    const before = await submit(urls[0]!, { host: 'alpha.example.com' });
    await coordinators.alpha!.stop();
    coordinators.alpha = new FakeCoordinator({ name: 'alpha' });
    await coordinators.alpha.start(port);
    const stale = await call(urls[1]!, new URL(String(before.json().nextUri)).pathname, { host: 'gateway.example.com' });
    expect(stale.status).toBe(404);
    const after = await submit(urls[0]!, { host: 'alpha.example.com' });
    expect(String(after.json().id).endsWith(coordinators.alpha.suffix)).toBe(true);
    const { served } = await runQuery(after.json(), (i) => urls[i % 2]!);
    expect(new Set(served)).toEqual(new Set(['alpha']));
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

describe('OAuth2 stickiness', () => {
  test('the CLI token flow stays on the challenging coordinator, via any replica', async () => {
    const c = new FakeCoordinator({ name: 'oauth-a', oauth2: true });
    const d = new FakeCoordinator({ name: 'oauth-b', oauth2: true });
    await c.start();
    await d.start();
    coordinators['oauth-a'] = c;
    coordinators['oauth-b'] = d;
    const t = translate({ xtrinodes: [xt('oauth-a', { routingGroup: 'sso', hostname: 'sso.example.com' }), xt('oauth-b', { routingGroup: 'sso', hostname: 'sso.example.com' })], settings: DEFAULT_SETTINGS }).table;
    const r1 = makeRouter();
    const r2 = makeRouter();
    r1.setTable(t);
    r2.setTable(t);
    const [u1, u2] = [await r1.listen({ port: 0, host: '127.0.0.1' }), await r2.listen({ port: 0, host: '127.0.0.1' })];
    try {
      for (let i = 0; i < 4; i++) {
        const challenge = await submit(u1, { host: 'sso.example.com' });
        expect(challenge.status).toBe(401);
        const owner = String(challenge.headers['x-fake-coordinator']);
        const www = String(challenge.headers['www-authenticate']);
        const tokenUrl = new URL(/x_token_server="([^"]+)"/.exec(www)![1]!);
        expect(tokenUrl.searchParams.get('xtrinode_route')).toBeTruthy();
        const tok = await call(u2, tokenUrl.pathname + tokenUrl.search, { host: 'sso.example.com' });
        expect(tok.status).toBe(200);
        expect(tok.headers['x-fake-coordinator']).toBe(owner);
        // browser flow: initiate sets the routing cookie, the callback follows it
        const redirect = new URL(/x_redirect_server="([^"]+)"/.exec(www)![1]!);
        const init = await call(u2, redirect.pathname + redirect.search, { host: 'sso.example.com' });
        expect(init.headers['x-fake-coordinator']).toBe(owner);
        const cookie = String(init.headers['set-cookie']).split(';')[0]!;
        expect(cookie).toMatch(/^XTRINODE_OAUTH2=/);
        const cb = await call(u1, '/oauth2/callback?code=1', { host: 'sso.example.com', cookie });
        expect(cb.headers['x-fake-coordinator']).toBe(owner);
        const logout = await call(u2, '/oauth2/logout', { host: 'sso.example.com', cookie });
        expect(logout.headers['x-fake-coordinator']).toBe(owner);
        expect(String(logout.headers['set-cookie'])).toContain('Max-Age=0');
      }
    } finally {
      await Promise.all([r1.drain(), r2.drain(), c.stop(), d.stop()]);
    }
  });

  test('sealed tokens hide their content and refuse tampering, other keys and expiry', () => {
    const signer = new TokenSigner(SECRET);
    const t = signer.seal('10.1.2.3:8080', Date.now() + 60_000);
    expect(Buffer.from(t, 'base64url').toString('latin1')).not.toContain('10.1.2.3');
    expect(signer.unseal(t, Date.now())).toEqual({ ok: true, text: '10.1.2.3:8080' });
    const flipped = Buffer.from(t, 'base64url');
    flipped[14] = flipped[14]! ^ 1;
    expect(signer.unseal(flipped.toString('base64url'), Date.now())).toMatchObject({ ok: false });
    expect(new TokenSigner('another-secret-0123456789').unseal(t, Date.now())).toMatchObject({ ok: false });
    expect(signer.unseal(signer.seal('x', Date.now() - 1000), Date.now())).toEqual({ ok: false, reason: 'expired' });
  });

  test('forged, tampered and expired cookies are refused, not trusted', async () => {
    const signer = new TokenSigner(SECRET);
    const other = new TokenSigner('another-secret-0123456789');
    const good = signer.sign('prod/s1', Date.now() + 60_000);
    const [payload, mac] = good.split('.');
    const cases = {
      forged: other.sign('prod/s1', Date.now() + 60_000),
      tampered: `${Buffer.from('prod/s2|9999999999').toString('base64url')}.${mac}`,
      expired: signer.sign('prod/s1', Date.now() - 1000),
      garbage: 'not-a-token',
    };
    expect(payload).toBeTruthy();
    for (const [what, value] of Object.entries(cases)) {
      const r = await call(urls[0]!, '/oauth2/callback', { host: 'shared.example.com', cookie: `XTRINODE_OAUTH2=${value}` });
      expect({ what, status: r.status, code: r.headers['x-xtrinode-error'] }).toEqual({ what, status: 400, code: 'XTN_BAD_ROUTING_COOKIE' });
      expect(String(r.headers['set-cookie'])).toContain('Max-Age=0');
    }
    const ok = await call(urls[0]!, '/oauth2/callback', { host: 'shared.example.com', cookie: `XTRINODE_OAUTH2=${good}` });
    expect(ok.headers['x-fake-coordinator']).toBe('s1');
    const marker = await call(urls[0]!, `/oauth2/token/abc?xtrinode_route=${cases.forged}`, { host: 'shared.example.com' });
    expect(marker.status).toBe(400);
  });
});

describe('protocol paths and connection handling', () => {
  test('spooled segment download and ack reach the coordinator that issued them, through any replica', async () => {
    coordinators.s2!.segments.add('seg-0001');
    const dl = await call(urls[1]!, '/v1/spooled/download/seg-0001', { host: 'shared.example.com' });
    expect(dl.status).toBe(200);
    expect(dl.json().coordinator).toBe('s2');
    const ack = await call(urls[0]!, '/v1/spooled/ack/seg-0001', { host: 'shared.example.com' });
    expect(ack.status).toBe(200);
    expect(coordinators.s2!.segments.has('seg-0001')).toBe(false);
    expect((await call(urls[0]!, '/v1/spooled/download/seg-0001', { host: 'shared.example.com' })).status).toBe(404);
  });

  test('the UI query API follows the query id to its coordinator', async () => {
    const first = await submit(urls[0]!, { host: 'weighted.example.com' });
    const id = String(first.json().id);
    const ui = await call(urls[1]!, `/ui/api/query/${id}`, { host: 'weighted.example.com', cookie: 'Trino-UI-Token=signed-in' });
    expect(ui.status).toBe(200);
    expect(ui.headers['x-fake-coordinator']).toBe(first.headers['x-fake-coordinator']);
  });

  test('probes stay inside the routing group: another group\'s coordinators never see the request or its credentials', async () => {
    const first = await submit(urls[0]!, { host: 'weighted.example.com' });
    const id = String(first.json().id);
    const before = coordinators.alpha!.seen.length;
    const r = await call(urls[1]!, `/v1/query/${id}`, { host: 'alpha.example.com', authorization: 'Basic c2VjcmV0' });
    expect(r.status).toBe(404);
    expect(r.headers['x-xtrinode-error']).toBe('XTN_QUERY_NOT_FOUND');
    // alpha (the request's group) was asked and answered 410; w1 and w2 (another group) were not asked.
    expect(coordinators.alpha!.seen.slice(before).map((x) => x.path)).toEqual([`/v1/query/${id}`]);
    expect(coordinators.w1!.seen.concat(coordinators.w2!.seen).filter((x) => x.path === `/v1/query/${id}` && x.headers.authorization !== undefined)).toEqual([]);
  });

  test('probes of statement polls carry none of the client\'s credentials: Trino serves them by their secret URL', async () => {
    const first = await submit(urls[0]!, { host: 'weighted.example.com' });
    const owner = String(first.headers['x-fake-coordinator']);
    const path = new URL(String(first.json().nextUri)).pathname;
    const fresh = makeRouter(); // knows no owner: it must probe
    fresh.setTable(table);
    const u = await fresh.listen({ port: 0, host: '127.0.0.1' });
    try {
      const secrets = { authorization: 'Basic c2VjcmV0', cookie: 'session=secret', 'x-trino-extra-credential': 'token=secret', 'x-trino-original-user': 'alice' };
      const r = await call(u, path, { host: 'weighted.example.com', ...secrets });
      expect(r.status).toBe(200);
      expect(r.headers['x-fake-coordinator']).toBe(owner);
      const probes = coordinators.w1!.seen.concat(coordinators.w2!.seen).filter((x) => x.path === path);
      expect(probes.length).toBeGreaterThanOrEqual(1);
      expect(probes.map((x) => Object.keys(secrets).filter((h) => x.headers[h] !== undefined))).toEqual(probes.map(() => []));
    } finally {
      await fresh.drain();
    }
  });

  test('a client that disconnects cancels the upstream request', async () => {
    const before = coordinators.alpha!.aborted;
    const ac = new AbortController();
    const pending = call(urls[0]!, '/bench/hold?ms=3000', { host: 'alpha.example.com' }).catch(() => 'aborted');
    const client = new Client(urls[0]!);
    const req = client.request({ path: '/bench/hold?ms=3000', method: 'GET', headers: { host: 'alpha.example.com' }, signal: ac.signal }).catch(() => 'aborted');
    await new Promise((r) => setTimeout(r, 300));
    ac.abort();
    expect(await req).toBe('aborted');
    await new Promise((r) => setTimeout(r, 300));
    expect(coordinators.alpha!.aborted).toBe(before + 1); // only the abandoned one
    await pending;
    await client.close();
  });

  test('SIGTERM drain: in-flight requests finish, new ones are refused', async () => {
    const r = makeRouter({ drainTimeoutMs: 5000 });
    r.setTable(table);
    const u = await r.listen({ port: 0, host: '127.0.0.1' });
    const inflight = call(u, '/bench/hold?ms=800', { host: 'alpha.example.com' });
    await new Promise((res) => setTimeout(res, 200));
    const draining = r.drain();
    await new Promise((res) => setTimeout(res, 100));
    // A new connection is refused (the listener is closed); the one carrying the request in flight finishes it.
    const fresh = new Client(u);
    await expect(fresh.request({ path: '/v1/info', method: 'GET', headers: { host: 'alpha.example.com' } })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await fresh.close();
    expect((await inflight).status).toBe(200);
    await draining;
  });
});

describe('hostile and malformed requests', () => {
  test('path tricks in query ids are refused before reaching a coordinator', async () => {
    const before = Object.values(coordinators).reduce((n, c) => n + c.seen.length, 0);
    for (const p of ['/v1/statement/executing/..%2F..%2Fadmin/x/1', '/v1/statement/queued/../../v1/info/x/1', '/v1/query/not-a-query-id', '/v1/statement/executing/20260101_000000_00000_abcde%2e%2e/x/1', '/v1/statement/executing/20260101_000000_00000_ABCDE/x/1', '/v1/statement/.%2e/info', '/v1/statement/%2e./info', '/v1/..;/info', '/v1%5cinfo', '/xtrinode/c/prod/alpha/v1/%2e%2e/info']) {
      const r = await call(urls[0]!, p, { host: 'shared.example.com' });
      expect({ p, status: r.status }).toEqual({ p, status: 400 });
    }
    const after = Object.values(coordinators).reduce((n, c) => n + c.seen.length, 0);
    expect(after).toBe(before);
  });

  test('oversized headers are refused with 431 in the router\'s error form', async () => {
    const r = await raw(urls[0]!, `GET /v1/info HTTP/1.1\r\nHost: shared.example.com\r\nX-Big: ${'a'.repeat(70_000)}\r\n\r\n`);
    expect(r).toMatch(/^HTTP\/1\.1 431 /);
    expect(r).toMatch(/\r\nX-XTrinode-Error: XTN_MALFORMED_REQUEST\r\n/i);
    expect(r).toContain('xtrinode-gateway: the request headers are too large.');
  });

  test('HTTP/1.0 without Host, and two Host headers, are refused before reaching a coordinator', async () => {
    const before = Object.values(coordinators).reduce((n, c) => n + c.seen.length, 0);
    const noHost = await raw(urls[0]!, 'POST /v1/statement HTTP/1.0\r\nX-Trino-User: me\r\nContent-Length: 8\r\n\r\nSELECT 1');
    expect(noHost).toMatch(/^HTTP\/1\.[01] 400 /);
    expect(noHost).toContain('no Host header');
    expect(noHost).not.toMatch(/127\.0\.0\.1/);
    const twoHosts = await raw(urls[0]!, 'POST /v1/statement HTTP/1.1\r\nHost: alpha.example.com\r\nHost: weighted.example.com\r\nX-Trino-User: me\r\nContent-Length: 8\r\nConnection: close\r\n\r\nSELECT 1');
    expect(twoHosts).toMatch(/^HTTP\/1\.1 400 /);
    expect(Object.values(coordinators).reduce((n, c) => n + c.seen.length, 0)).toBe(before);
  });

  test('what fastify itself refuses comes back in the router\'s one error form', async () => {
    const r = await raw(urls[0]!, 'GET /v1/query/%zz HTTP/1.1\r\nHost: alpha.example.com\r\nConnection: close\r\n\r\n');
    expect(r).toMatch(/^HTTP\/1\.1 400 /);
    expect(r).toMatch(/\r\nx-xtrinode-error: XTN_MALFORMED_REQUEST\r\n/i);
    expect(r).toMatch(/\r\ncontent-type: text\/plain/i);
  });

  test('Expect: 100-continue gets its body through to the coordinator', async () => {
    const res = await raw(urls[0]!, 'POST /v1/statement HTTP/1.1\r\nHost: alpha.example.com\r\nX-Trino-User: me\r\nContent-Length: 8\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n', 'SELECT 1');
    expect(res).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
    expect(res).toContain('x-fake-coordinator: alpha');
  });

  test('hop-by-hop tricks cannot make Trino build URLs with its own address', async () => {
    // (raw: HTTP clients refuse to send such a Connection header)
    const res = await raw(urls[0]!, 'POST /v1/statement HTTP/1.1\r\nHost: alpha.example.com\r\nConnection: close, host, x-forwarded-host, x-forwarded-port\r\nX-Forwarded-Host: other.example.com\r\nX-Trino-User: me\r\nContent-Length: 8\r\n\r\nSELECT 1');
    expect(res).toMatch(/^HTTP\/1\.1 200 /);
    expect(/"nextUri":"([^"]+)"/.exec(res)?.[1]).toMatch(/^http:\/\/alpha\.example\.com\//);
  });

  test('spoofed internal-looking headers do not steer routing', async () => {
    const r = await submit(urls[0]!, { host: 'alpha.example.com', 'x-xtrinode-backend': 'prod/s2', 'x-xtrinode-error': 'x', cookie: 'XTRINODE_OAUTH2_other=1' });
    expect(r.headers['x-fake-coordinator']).toBe('alpha');
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

async function stickyCount(rs: TrinoRouter[], result: string): Promise<number> {
  let n = 0;
  for (const r of rs) {
    const m = new RegExp(`xtrinode_router_sticky_total\\{result="${result}"\\} (\\d+)`).exec(await r.metrics.metrics());
    n += m ? Number(m[1]) : 0;
  }
  return n;
}
