/**
 * Router benchmark: client -> router -> coordinator against client -> coordinator directly,
 * measured in the same run on the same machine, printed as ratios.
 *
 *   npm run bench:router            (about a minute)
 *
 * Three processes: a fake coordinator, the router, and this load generator (undici).
 * (a) small polls: GET /v1/query/{id} (sticky-hit path), sequential latency and concurrent req/s
 * (b) large result pages: ~8 MB JSON, MB/s at 4 concurrent streams
 * (c) router RSS with 1,000 concurrent queries held open by the coordinator (measured first)
 * (e) against a native proxy, same run: nginx origin, haproxy and the router (bench/proxy-comparison.ts)
 * (d) router RSS with ten 15 MiB statements sent to a suspended runtime (held, or refused past
 *     the statement budget) and 1,000 concurrent polls of them, against the Deployment's memory
 *     limit; the router runs with the budget and Node options of manifests/router/deployment.yaml
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { cpus, tmpdir, totalmem } from 'node:os';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Pool, request } from 'undici';
import { fileURLToPath } from 'node:url';
import { FakeCoordinator } from '../conformance/fake-coordinator.ts';
import { TrinoRouter } from '../router/server.ts';
import { translate } from '../controller/translate/translate.ts';
import { DEFAULT_SETTINGS } from '../controller/translate/settings.ts';
import pino from 'pino';
import { routerSettings, type ContainerSettings } from '../hack/manifests.ts';
import { join } from 'node:path';
import { serializeRouteTable } from '../routetable/schema.ts';
import { freePort } from '../hack/control-plane.ts';
import { compareWithNativeProxy } from './proxy-comparison.ts';
import { cpuSeconds, rssMb, rssTreeMb } from './wrk.ts';

/** What the router Deployment sets: its env and memory limit. */

const HOST = 'bench.example.com';
const role = process.argv[2];

function start(args: string[], execArgv: string[] = []): Promise<{ child: ChildProcess; msg: { port: number; suffix?: string } }> {
  const child = fork(fileURLToPath(import.meta.url), args, { stdio: 'inherit', execArgv });
  return new Promise((resolve) => child.once('message', (msg) => resolve({ child, msg: msg as { port: number } })));
}

const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;

async function latency(pool: Pool, path: string, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    const r = await pool.request({ path, method: 'GET', headers: { host: HOST } });
    await r.body.dump();
    out.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return out.sort((a, b) => a - b);
}

async function throughput(pool: Pool, path: string, concurrency: number, ms: number): Promise<{ reqs: number; bytes: number; secs: number }> {
  let reqs = 0;
  let bytes = 0;
  const end = Date.now() + ms;
  const t0 = Date.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (Date.now() < end) {
      const r = await pool.request({ path, method: 'GET', headers: { host: HOST } });
      for await (const chunk of r.body) bytes += (chunk as Buffer).length;
      reqs++;
    }
  }));
  return { reqs, bytes, secs: (Date.now() - t0) / 1000 };
}

/**
 * (d): the router process as deployed (router/main.ts, the Deployment's env and Node options,
 * the API client loaded) with one suspended runtime, so every statement is held or refused past
 * the budget. Its resumes go to an API server address where nothing listens: the runtime never
 * wakes and the queries stay held.
 */
async function heldStatements(nodeOptions: string[], deployed: ContainerSettings): Promise<string> {
  const budget = deployed.env.STATEMENT_BUDGET ?? '160Mi';
  const dir = mkdtempSync(join(tmpdir(), 'xtn-bench-'));
  const table = translate({ xtrinodes: [{ apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { namespace: 'bench', name: 'bench' }, spec: { suspend: true, routing: { hostname: HOST } } }], settings: DEFAULT_SETTINGS }).table;
  writeFileSync(join(dir, 'routes.json'), serializeRouteTable(table));
  writeFileSync(join(dir, 'kubeconfig'), 'apiVersion: v1\nkind: Config\nclusters: [{name: none, cluster: {server: "https://127.0.0.1:1"}}]\nusers: [{name: none, user: {token: none}}]\ncontexts: [{name: none, context: {cluster: none, user: none}}]\ncurrent-context: none\n');
  const [port, adminPort] = [await freePort(), await freePort()];
  const child = spawn(process.execPath, [...nodeOptions, fileURLToPath(new URL('../router/main.ts', import.meta.url))], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { PATH: process.env.PATH, ...deployed.env, ROUTES_FILE: join(dir, 'routes.json'), RESUME: 'on', KUBECONFIG: join(dir, 'kubeconfig'), ROUTER_SECRET: 'bench-secret-0123456789abcdef0123456789', POD_IP: '127.0.0.1', ROUTER_HOST: '127.0.0.1', ROUTER_PORT: String(port), ADMIN_PORT: String(adminPort), LOG_LEVEL: 'error' },
  });
  const held = { child };
  for (let i = 0; ; i++) {
    const ok = await request(`http://127.0.0.1:${adminPort}/readyz`).then((r) => r.body.dump().then(() => r.statusCode === 200), () => false);
    if (ok) break;
    if (i > 100) throw new Error('router/main.ts did not become ready in 10 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 1100 });
  try {
    const idle = rssTreeMb(held.child.pid!);
    let peak = idle;
    const sampler = setInterval(() => (peak = Math.max(peak, rssTreeMb(held.child.pid!))), 50);
    const sql = `SELECT '${'x'.repeat(15 * 2 ** 20 - 10)}'`;
    const uris: string[] = [];
    let refused = 0;
    for (let i = 0; i < 10; i++) {
      const r = await pool.request({ path: '/v1/statement', method: 'POST', headers: { host: HOST, 'x-trino-user': 'bench' }, body: sql });
      const text = await r.body.text();
      if (r.statusCode === 200) uris.push((JSON.parse(text) as { nextUri: string }).nextUri);
      else if (r.statusCode === 503 && r.headers['retry-after']) refused++;
      else throw new Error(`statement ${i}: ${r.statusCode} ${text.slice(0, 200)}`);
    }
    let polled = 0;
    await Promise.all(Array.from({ length: 1000 }, async (_, i) => {
      const u = new URL(uris[i % uris.length]!);
      const r = await pool.request({ path: u.pathname, method: 'GET', headers: { host: HOST } });
      if (r.statusCode === 200) polled++;
      await r.body.dump();
    }));
    clearInterval(sampler);
    return `held ${uris.length}, refused ${refused} (503, budget ${budget}); ${polled} polls answered; RSS idle / peak ${idle.toFixed(0)} / ${peak.toFixed(0)} MB, limit ${deployed.memoryLimit} (${(deployed.memoryLimitBytes / 2 ** 20).toFixed(0)} MB)`;
  } finally {
    await pool.close();
    held.child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const coord = await start(['coordinator']);
  // The router runs with the Node options of its Deployment (manifests/router/deployment.yaml).
  const deployed = routerSettings();
  const routerNodeOptions = (process.env.ROUTER_NODE_OPTIONS ?? deployed.env.NODE_OPTIONS ?? '').split(' ').filter(Boolean);
  const router = await start(['router', String(coord.msg.port)], routerNodeOptions);
  const direct = new Pool(`http://127.0.0.1:${coord.msg.port}`, { connections: 64 });
  const viaRouter = new Pool(`http://127.0.0.1:${router.msg.port}`, { connections: 1100 });
  const results: Record<string, string> = {};
  try {
    // one query through the router, so it learns the coordinator's suffix
    const post = await viaRouter.request({ path: '/v1/statement', method: 'POST', headers: { host: HOST }, body: 'SELECT 1' });
    const id = ((await post.body.json()) as { id: string }).id;
    const poll = `/v1/query/${id}`;
    // (c) first, on a fresh router: RSS at 1,000 concurrent queries held open by the coordinator
    const idle = rssMb(router.child.pid!);
    let peak = idle;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMb(router.child.pid!))), 100);
    await Promise.all(Array.from({ length: 1000 }, async () => {
      const res = await viaRouter.request({ path: '/bench/hold?ms=3000', method: 'GET', headers: { host: HOST } });
      await res.body.dump();
    }));
    clearInterval(sampler);
    results['router RSS idle / peak with 1,000 concurrent held queries (MB)'] = `${idle.toFixed(0)} / ${peak.toFixed(0)}`;
    results['held statements: ten of 15 MiB, then 1,000 concurrent polls'] = await heldStatements(routerNodeOptions, deployed);
    await latency(direct, poll, 500);
    await latency(viaRouter, poll, 500); // warm up

    const N = 4000;
    const d = await latency(direct, poll, N);
    const r = await latency(viaRouter, poll, N);
    results['small polls, sequential, p50 direct / via router (ms)'] = `${pct(d, 50).toFixed(3)} / ${pct(r, 50).toFixed(3)}  -> added p50 ${(pct(r, 50) - pct(d, 50)).toFixed(3)} ms`;
    results['small polls, sequential, p99 direct / via router (ms)'] = `${pct(d, 99).toFixed(3)} / ${pct(r, 99).toFixed(3)}  -> added p99 ${(pct(r, 99) - pct(d, 99)).toFixed(3)} ms`;

    const td = await throughput(direct, poll, 32, 5000);
    const tr = await throughput(viaRouter, poll, 32, 5000);
    results['small polls, 32 concurrent, req/s direct / via router'] = `${(td.reqs / td.secs).toFixed(0)} / ${(tr.reqs / tr.secs).toFixed(0)}  -> ratio ${((tr.reqs / tr.secs) / (td.reqs / td.secs)).toFixed(2)}`;

    const ld = await throughput(direct, '/bench/large', 4, 5000);
    const [c0, r0] = [cpuSeconds(coord.child.pid!), cpuSeconds(router.child.pid!)];
    const lr = await throughput(viaRouter, '/bench/large', 4, 5000);
    const [c1, r1] = [cpuSeconds(coord.child.pid!), cpuSeconds(router.child.pid!)];
    results['large pages via router: CPU of router / coordinator (cores busy)'] = `${((r1 - r0) / lr.secs).toFixed(2)} / ${((c1 - c0) / lr.secs).toFixed(2)} of 2 (the load generator uses the rest)`;
    const mb = (x: { bytes: number; secs: number }) => x.bytes / 1e6 / x.secs;
    results['large pages (8.6 MB), 4 streams, MB/s direct / via router'] = `${mb(ld).toFixed(0)} / ${mb(lr).toFixed(0)}  -> ratio ${(mb(lr) / mb(ld)).toFixed(2)}`;

    for (const [k, v] of await compareWithNativeProxy(deployed.env)) results[k] = v;
  } finally {
    await direct.close();
    await viaRouter.close();
    router.child.kill();
    coord.child.kill();
  }
  const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`;
  process.stdout.write(`\nxtrinode router benchmark (${new Date().toISOString()})\nmachine: ${machine}\nprocesses: load generator, router, fake coordinator on one machine (they share its cores)\nrouter node options: ${routerNodeOptions.join(' ') || '(none)'}\n\n`);
  for (const [k, v] of Object.entries(results)) process.stdout.write(`${k.padEnd(66)} ${v}\n`);
}

if (role === 'coordinator') {
  const c = new FakeCoordinator({ name: 'bench' });
  const port = await c.start();
  process.send!({ port, suffix: c.suffix });
} else if (role === 'router') {
  const coordPort = Number(process.argv[3]);
  const table = translate({ xtrinodes: [{ apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { namespace: 'bench', name: 'bench' }, spec: { routing: { hostname: HOST } } }], settings: DEFAULT_SETTINGS }).table;
  const r = new TrinoRouter({ logger: pino({ level: 'warn' }), healthIntervalMs: 0, resolveService: () => `http://127.0.0.1:${coordPort}` });
  r.setTable(table);
  const addr = await r.listen({ port: 0, host: '127.0.0.1' });
  process.send!({ port: Number(new URL(addr).port) });
} else {
  await main();
}

