/**
 * Members whose XTrinode is being deleted (controller/drain.ts): the route table marks them
 * `draining` with weight 0. The router gives them no new statement, keeps serving the follow-ups of
 * the queries they run, and answers a group whose members all drain with XTN_RUNTIME_DRAINING.
 */
import pino from 'pino';
import { Client } from 'undici';
import { TrinoRouter } from './server.ts';
import { FakeCoordinator } from '../conformance/fake-coordinator.ts';
import { translate } from '../controller/translate/translate.ts';
import { DEFAULT_SETTINGS } from '../controller/translate/settings.ts';
import type { XTrinode } from '../controller/api/xtrinode.ts';

const fakes: Record<string, FakeCoordinator> = {};
let router: TrinoRouter;
let client: Client;

const xt = (name: string, routing: Record<string, unknown>, deleting = false): XTrinode => ({
  apiVersion: 'analytics.xtrinode.io/v1',
  kind: 'XTrinode',
  metadata: { namespace: 'prod', name, ...(deleting ? { deletionTimestamp: '2026-12-01T10:00:00Z', finalizers: ['analytics.xtrinode.io/drain'] } : {}) },
  spec: { routing },
});
const tableOf = (deleting: { blue: boolean; solo: boolean }) => translate({
  xtrinodes: [
    xt('blue', { routingGroup: 'etl', hostname: 'etl.example.com' }, deleting.blue),
    xt('green', { routingGroup: 'etl', hostname: 'etl.example.com' }),
    xt('solo', { hostname: 'solo.example.com' }, deleting.solo),
  ],
  settings: { ...DEFAULT_SETTINGS, followUps: 'router', sharedGroupPath: 'router' },
}).table;

beforeAll(async () => {
  for (const n of ['blue', 'green', 'solo']) {
    fakes[n] = new FakeCoordinator({ name: n });
    await fakes[n].start();
  }
  router = new TrinoRouter({ logger: pino({ level: 'silent' }), healthIntervalMs: 0, resolveService: (s) => `http://127.0.0.1:${fakes[s.name.replace(/-coordinator$/, '')]!.port}` });
  router.setTable(tableOf({ blue: false, solo: false }));
  client = new Client(await router.listen({ port: 0, host: '127.0.0.1' }));
});
afterAll(async () => {
  await client.close();
  await router.drain();
  await Promise.all(Object.values(fakes).map((f) => f.stop()));
});

type Page = { id?: string; nextUri?: string; error?: { errorName: string; message: string } };
const send = async (host: string, path = '/v1/statement', method: 'GET' | 'POST' = 'POST') => {
  const res = await client.request({ path, method, headers: { 'x-trino-user': 'u', host }, ...(method === 'POST' ? { body: 'SELECT 1' } : {}) });
  const text = await res.body.text();
  return { status: res.statusCode, served: res.headers['x-fake-coordinator'], error: res.headers['x-xtrinode-error'], text, page: (res.headers['content-type']?.toString().includes('json') ? JSON.parse(text) : {}) as Page };
};

test('a draining member gets no new statement; the follow-ups of its running query still reach it', async () => {
  // A query on blue before the drain starts (the group's balancing spreads the first two).
  const first = [await send('etl.example.com'), await send('etl.example.com')];
  const onBlue = first.find((r) => r.served === 'blue');
  expect(first.map((r) => r.served).sort()).toEqual(['blue', 'green']);
  router.setTable(tableOf({ blue: true, solo: false }));
  const during: string[] = [];
  for (let i = 0; i < 8; i++) during.push(String((await send('etl.example.com')).served));
  expect(during).toEqual(Array(8).fill('green'));
  const polls: string[] = [];
  let page = onBlue!.page;
  while (page.nextUri) {
    const u = new URL(page.nextUri);
    const r = await send(u.host, u.pathname, 'GET');
    expect(r.status).toBe(200);
    polls.push(String(r.served));
    page = r.page;
  }
  expect(polls.length > 0 && polls.every((s) => s === 'blue')).toBe(true);
});

test('a group whose every member drains answers XTN_RUNTIME_DRAINING in the router error form, naming the group and not the coordinator', async () => {
  router.setTable(tableOf({ blue: true, solo: true }));
  const r = await send('solo.example.com');
  expect([r.status, r.error]).toEqual([503, 'XTN_RUNTIME_DRAINING']);
  expect(r.text).toContain('every Trino runtime of routing group prod--solo is being deleted');
  expect(r.text).not.toMatch(/127\.0\.0\.1|:\d{4,5}|solo-coordinator/);
  expect(fakes.solo!.seen.some((s) => s.method === 'POST')).toBe(false);
});
