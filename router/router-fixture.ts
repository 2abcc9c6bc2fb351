/**
 * The fake cluster the router's tests share: fake coordinators (protocol-faithful, checked
 * against a real Trino in conformance/conformance.test.ts), a route table produced by the real
 * translation from XTrinodes (learned stickiness mode; the prefix tests build their own), two
 * router replicas that share nothing but the table, and raw and undici clients.
 * `useFakeCluster()` registers the setup and teardown in the calling test file.
 */
import { Client } from 'undici';
import { connect } from 'node:net';
import pino from 'pino';
import { FakeCoordinator } from '../conformance/fake-coordinator.ts';
import { TrinoRouter } from './server.ts';
import { translate } from '../controller/translate/translate.ts';
import { DEFAULT_SETTINGS } from '../controller/translate/settings.ts';
import type { RouteTable } from '../routetable/schema.ts';
import type { XTrinode } from '../controller/api/xtrinode.ts';


export const SECRET = 'test-secret-0123456789abcdef';
export const silent = pino({ level: 'silent' });

export function xt(name: string, routing: Record<string, unknown>): XTrinode {
  return { apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { namespace: 'prod', name }, spec: { routing } };
}

export const coordinators: Record<string, FakeCoordinator> = {};
export let table: RouteTable;
export const routers: TrinoRouter[] = [];
export const urls: string[] = [];

export function makeRouter(extra: Partial<ConstructorParameters<typeof TrinoRouter>[0]> = {}) {
  return new TrinoRouter({
    logger: silent,
    healthIntervalMs: 0,
    resolveService: (s) => `http://127.0.0.1:${coordinators[s.name.replace(/-coordinator$/, '')]!.port}`,
    oauth2: { secret: SECRET, name: 'XTRINODE_OAUTH2', routingPaths: ['/oauth2'], deletePaths: ['/oauth2/logout'], lifetimeMs: 600_000 },
    ...extra,
  });
}


/** Two router replicas that share nothing but the route table. */
export async function startReplicas(t: RouteTable, into: TrinoRouter[], at: string[]): Promise<void> {
  for (let i = 0; i < 2; i++) {
    const r = makeRouter();
    r.setTable(t);
    into.push(r);
    at.push(await r.listen({ port: 0, host: '127.0.0.1' }));
  }
}


const clients = new Map<string, Client>();
/** One request; the path is sent exactly as given (no URL normalisation). */
export async function call(base: string, path: string, headers: Record<string, string> = {}, method = 'GET', body?: string) {
  let client = clients.get(base);
  if (!client) clients.set(base, (client = new Client(base)));
  const res = await client.request({ path, method: method as 'GET', headers, ...(body !== undefined ? { body } : {}) });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) as Record<string, unknown> };
}

/** Writes `head` (and, after the server's first answer, `body`) on a raw socket; returns everything read until close. */
export function raw(base: string, head: string, body?: string): Promise<string> {
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

export const submit = (base: string, headers: Record<string, string>) => call(base, '/v1/statement', { 'x-trino-user': 'test', ...headers }, 'POST', 'SELECT 1');

/** Follows nextUri to the end, choosing the router for each poll; returns the coordinators that served. */
export async function runQuery(first: Record<string, unknown>, pick: (i: number) => string, headers: Record<string, string> = {}) {
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
export async function stickyCount(rs: TrinoRouter[], result: string): Promise<number> {
  let n = 0;
  for (const r of rs) {
    const m = new RegExp(`xtrinode_router_sticky_total\\{result="${result}"\\} (\\d+)`).exec(await r.metrics.metrics());
    n += m ? Number(m[1]) : 0;
  }
  return n;
}


/** Starts the fake coordinators and two router replicas before the file's tests; stops them after. */
export function useFakeCluster(): void {
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
  afterAll(async () => {
    await Promise.all([...clients.values()].map((c) => c.close()));
    await Promise.all(routers.map((r) => r.drain()));
    await Promise.all(Object.values(coordinators).map((c) => c.stop()));
  });
}

