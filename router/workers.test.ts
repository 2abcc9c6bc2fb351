/**
 * The router as several worker processes (WORKERS=2, router/main.ts as deployed): they share the
 * data port, a held query is found whichever worker its poll lands on, the primary's admin port
 * answers for all of them, a worker that dies is replaced, and SIGTERM ends everything.
 *
 * Held queries come from a suspended runtime whose resumes go to an API server address where
 * nothing listens: the runtime never wakes, so every statement stays held.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { freePort, freePortRun } from '../hack/control-plane.ts';
import { translate } from '../controller/translate/translate.ts';
import { DEFAULT_SETTINGS } from '../controller/translate/settings.ts';
import { serializeRouteTable } from '../routetable/schema.ts';
import { parseWorkers } from './main.ts';

const HOST = 'held.example.com';
const SECRET = 'workers-test-secret-0123456789abcdef';

/** The process's children (its workers), from /proc. */
function childrenOf(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).flatMap((t) => readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
}

async function until<T>(what: string, f: () => Promise<T>, ok: (x: T) => boolean, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  let last: T | undefined;
  while (Date.now() < end) {
    last = await f();
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: not within ${ms / 1000}s; last ${JSON.stringify(last)}`);
}

describe('router workers (WORKERS=2)', () => {
  let dir: string;
  let child: ChildProcess;
  let port: number;
  let adminPort: number;
  const exited = () => new Promise<number | null>((r) => (child.exitCode !== null ? r(child.exitCode) : child.once('exit', (c) => r(c))));
  // A new connection for every request: the primary hands each one to the next worker.
  const fresh = (path: string, init: { method?: 'GET' | 'POST' | 'DELETE'; body?: string } = {}) => {
    const agent = new Agent({ pipelining: 0 });
    return request(`http://127.0.0.1:${port}${path}`, { method: init.method ?? 'GET', headers: { host: HOST, 'x-trino-user': 'alice' }, body: init.body, dispatcher: agent, reset: true })
      .then(async (r) => ({ status: r.statusCode, text: await r.body.text() }))
      .finally(() => agent.close());
  };
  const admin = (path: string) => request(`http://127.0.0.1:${adminPort}${path}`).then(async (r) => ({ status: r.statusCode, text: await r.body.text() }), (e: Error) => ({ status: 0, text: e.message }));

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'xtn-workers-'));
    const table = translate({ xtrinodes: [{ apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { namespace: 'team', name: 'held' }, spec: { suspend: true, routing: { hostname: HOST } } }], settings: DEFAULT_SETTINGS }).table;
    writeFileSync(join(dir, 'routes.json'), serializeRouteTable(table));
    writeFileSync(join(dir, 'kubeconfig'), 'apiVersion: v1\nkind: Config\nclusters: [{name: none, cluster: {server: "https://127.0.0.1:1"}}]\nusers: [{name: none, user: {token: none}}]\ncontexts: [{name: none, context: {cluster: none, user: none}}]\ncurrent-context: none\n');
    [port, adminPort] = [await freePort(), await freePort()];
    const peerPort = await freePortRun(2); // the workers listen on PEER_PORT and PEER_PORT+1
    child = spawn(process.execPath, [fileURLToPath(new URL('./main.ts', import.meta.url))], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { PATH: process.env.PATH, WORKERS: '2', PEER_PORT: String(peerPort), ROUTES_FILE: join(dir, 'routes.json'), RESUME: 'on', RESUME_TIMEOUT: '5m', KUBECONFIG: join(dir, 'kubeconfig'), ROUTER_SECRET: SECRET, POD_IP: '127.0.0.1', ROUTER_HOST: '127.0.0.1', ROUTER_PORT: String(port), ADMIN_PORT: String(adminPort), DRAIN_TIMEOUT: '2s', LOG_LEVEL: 'error' },
    });
    await until('the primary reports every worker ready', () => admin('/readyz'), (r) => r.status === 200);
  });
  afterAll(async () => {
    if (child.exitCode === null) {
      child.kill('SIGKILL');
      await exited();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test('WORKERS takes a whole number of cores and refuses anything else', () => {
    expect(parseWorkers(undefined)).toBe(1);
    expect(parseWorkers('2')).toBe(2);
    for (const bad of ['0', '-1', '1.5', 'all', '65']) expect(() => parseWorkers(bad)).toThrow(/WORKERS must be a whole number from 1 to 64/);
  });

  test('two workers serve the data port; every poll of a held query is answered, handed to its holder when it lands on the other worker', async () => {
    expect(childrenOf(child.pid!)).toHaveLength(2);
    const nextUris: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await fresh('/v1/statement', { method: 'POST', body: `SELECT ${i}` });
      expect({ status: r.status, state: (JSON.parse(r.text) as { stats: { state: string } }).stats.state }).toEqual({ status: 200, state: 'QUEUED' });
      nextUris.push(new URL((JSON.parse(r.text) as { nextUri: string }).nextUri).pathname);
    }
    const polls = await Promise.all(nextUris.flatMap((u) => [1, 2, 3].map(() => fresh(u).then((r) => r.status))));
    expect(polls).toEqual(Array(12).fill(200));
    // The primary's /metrics sums both workers: polls were answered by the holder and handed over.
    const metrics = (await admin('/metrics')).text;
    const count = (outcome: string) => Number(new RegExp(`xtrinode_router_requests_total\\{outcome="${outcome}"\\} (\\d+)`).exec(metrics)?.[1] ?? 0);
    expect({ heldByHolder: count('held-poll') > 0, handedOver: count('held-forwarded') > 0, all: count('held-poll') + count('held-forwarded') >= 12 }).toEqual({ heldByHolder: true, handedOver: true, all: true });
    // Each worker's budget is half of STATEMENT_BUDGET (160Mi): the sum is the whole.
    expect(metrics).toMatch(new RegExp(`xtrinode_router_statement_budget_bytes ${160 * 2 ** 20}\\b`));
    // A cancel reaches the holder too, whichever worker it lands on.
    expect((await fresh(nextUris[0]!, { method: 'DELETE' })).status).toBe(204);
    expect((await fresh(nextUris[0]!)).status).toBe(404);
  });

  test('a worker that dies is started again, and the primary is not ready until it is', async () => {
    const before = childrenOf(child.pid!);
    process.kill(before[0]!, 'SIGKILL');
    await until('readyz says a worker is missing', () => admin('/readyz'), (r) => r.status === 503 && /worker \d/.test(r.text), 5000);
    await until('readyz ready again', () => admin('/readyz'), (r) => r.status === 200);
    const after = childrenOf(child.pid!);
    expect({ count: after.length, replaced: !after.includes(before[0]!), kept: after.includes(before[1]!) }).toEqual({ count: 2, replaced: true, kept: true });
    expect((await fresh('/v1/statement', { method: 'POST', body: 'SELECT 1' })).status).toBe(200);
  });

  test('SIGTERM drains every worker and the primary exits 0', async () => {
    const workers = childrenOf(child.pid!);
    child.kill('SIGTERM');
    expect(await exited()).toBe(0);
    for (const w of workers) expect(() => process.kill(w, 0)).toThrow(/ESRCH/);
  });
});
