/**
 * The gateway queue (README: Capacity): statements per second accepted into it and released from
 * it, and the router's memory with 10,000 queued statements against its Deployment's limit; nginx
 * forwarding the same POSTs to the same coordinator in the same run is the native reference.
 *
 *   npm run bench:queue            (about a minute)
 *
 * The router runs as deployed (router/main.ts with manifests/router/deployment.yaml's env and Node
 * options) in front of a fake coordinator (checked against real Trino in the conformance run)
 * whose one slot (`maxQueries: 1`) is taken by a query nobody polls, so every statement queues;
 * then the route table raises the limit and the queue drains onto the coordinator.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool, request } from 'undici';
import { FakeCoordinator } from '../conformance/fake-coordinator.ts';
import { translate } from '../controller/translate/translate.ts';
import { DEFAULT_SETTINGS } from '../controller/translate/settings.ts';
import { serializeRouteTable } from '../routetable/schema.ts';
import { freePort } from '../hack/control-plane.ts';
import { routerSettings } from '../hack/manifests.ts';
import { need, rssTreeMb } from './wrk.ts';

const HOST = 'queue.example.com';
const STATEMENTS = 10_000;
const CONCURRENCY = 64;

function table(maxQueries: number): string {
  return serializeRouteTable(translate({
    xtrinodes: [{ apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { namespace: 'bench', name: 'bench' }, spec: { capacity: { maxQueries }, routing: { hostname: HOST } } }],
    settings: DEFAULT_SETTINGS,
  }).table);
}

async function until(what: string, f: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs / 1000}s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** POSTs `n` statements, `CONCURRENCY` at a time; returns statements per second and the states answered. */
async function post(pool: Pool, n: number): Promise<{ perSec: number; states: Map<string, number> }> {
  const states = new Map<string, number>();
  let next = 0;
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < n) {
      const i = next++;
      const r = await pool.request({ path: '/v1/statement', method: 'POST', headers: { host: HOST, 'x-trino-user': 'bench' }, body: `SELECT ${i}` });
      const text = await r.body.text();
      const state = r.statusCode === 200 ? ((JSON.parse(text) as { stats?: { state?: string } }).stats?.state ?? '?') : `HTTP ${r.statusCode}`;
      states.set(state, (states.get(state) ?? 0) + 1);
    }
  }));
  return { perSec: n / (Number(process.hrtime.bigint() - t0) / 1e9), states };
}

async function queued(adminPort: number): Promise<number> {
  const text = await (await request(`http://127.0.0.1:${adminPort}/metrics`)).body.text();
  return [...text.matchAll(/^xtrinode_router_queued_statements\{group="[^"]+"\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
}

async function main(): Promise<void> {
  const nginx = need('nginx');
  const deployed = routerSettings();
  const dir = mkdtempSync(join(tmpdir(), 'xtn-queue-bench-'));
  const coordinator = new FakeCoordinator({ name: 'bench' });
  await coordinator.start();
  const children: Array<ReturnType<typeof spawn>> = [];
  try {
    // nginx forwarding to the coordinator: the native reference for accepting a POST.
    const nginxPort = await freePort();
    writeFileSync(join(dir, 'nginx.conf'), `worker_processes 1; daemon off; pid ${dir}/nginx.pid; error_log ${dir}/nginx.err;
events { worker_connections 4096; }
http { access_log off; client_body_temp_path ${dir}; proxy_temp_path ${dir};
  upstream c { server 127.0.0.1:${coordinator.port}; keepalive 64; }
  server { listen 127.0.0.1:${nginxPort}; location / { proxy_pass http://c; proxy_http_version 1.1; proxy_set_header Connection ""; } } }\n`);
    const ng = spawn(nginx, ['-c', join(dir, 'nginx.conf'), '-p', dir], { stdio: 'ignore' });
    children.push(ng);

    const routes = join(dir, 'routes.json');
    writeFileSync(routes, table(1));
    writeFileSync(join(dir, 'kubeconfig'), 'apiVersion: v1\nkind: Config\nclusters: [{name: none, cluster: {server: "https://127.0.0.1:1"}}]\nusers: [{name: none, user: {token: none}}]\ncontexts: [{name: none, context: {cluster: none, user: none}}]\ncurrent-context: none\n');
    const [port, adminPort] = [await freePort(), await freePort()];
    const nodeOptions = (deployed.env.NODE_OPTIONS ?? '').split(' ').filter(Boolean);
    const router = spawn(process.execPath, [...nodeOptions, fileURLToPath(new URL('../router/main.ts', import.meta.url))], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { PATH: process.env.PATH, ...deployed.env, ROUTES_FILE: routes, RESUME: 'on', KUBECONFIG: join(dir, 'kubeconfig'), ROUTER_SECRET: 'bench-secret-0123456789abcdef0123456789', POD_IP: '127.0.0.1', ROUTER_HOST: '127.0.0.1', ROUTER_PORT: String(port), ADMIN_PORT: String(adminPort), LOG_LEVEL: 'error', BACKEND_URLS: `bench/bench-coordinator=http://127.0.0.1:${coordinator.port}`, QUEUE_LIMIT: String(STATEMENTS * 2), QUEUE_TIMEOUT: '10m' },
    });
    children.push(router);
    await until('router ready', () => request(`http://127.0.0.1:${adminPort}/readyz`).then((r) => r.body.dump().then(() => r.statusCode === 200), () => false), 20_000);

    const viaNginx = new Pool(`http://127.0.0.1:${nginxPort}`, { connections: CONCURRENCY });
    const viaRouter = new Pool(`http://127.0.0.1:${port}`, { connections: CONCURRENCY });
    await until('nginx up', () => request(`http://127.0.0.1:${nginxPort}/v1/info`).then((r) => r.body.dump().then(() => r.statusCode === 200), () => false), 10_000);
    const reference = await post(viaNginx, STATEMENTS);

    // One query takes the coordinator's only slot: nobody polls it, so it stays running.
    await until('the slot taken', async () => (await post(viaRouter, 1)).states.has('QUEUED') && coordinator.running >= 1, 10_000);
    await new Promise((r) => setTimeout(r, 1500)); // the router's next reading of the coordinator sees it
    const idle = rssTreeMb(router.pid!);
    const accepted = await post(viaRouter, STATEMENTS);
    await until(`${STATEMENTS} statements queued`, async () => (await queued(adminPort)) >= STATEMENTS, 30_000);
    const full = rssTreeMb(router.pid!);

    // Room for everyone: the queue drains onto the coordinator.
    const t0 = Date.now();
    writeFileSync(routes, table(100_000));
    await until('the queue drained', async () => (await queued(adminPort)) === 0, 300_000);
    const releasedPerSec = STATEMENTS / ((Date.now() - t0) / 1000);
    await Promise.all([viaNginx.close(), viaRouter.close()]);

    const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`;
    const lines: Array<[string, string]> = [
      ['POST /v1/statement through nginx to the coordinator (reference)', `${reference.perSec.toFixed(0)}/s (${[...reference.states].map(([k, v]) => `${v} ${k}`).join(', ')})`],
      ['statements accepted into the queue', `${accepted.perSec.toFixed(0)}/s (${[...accepted.states].map(([k, v]) => `${v} ${k}`).join(', ')}), ${(accepted.perSec / reference.perSec).toFixed(2)}x nginx`],
      ['statements released from the queue onto the coordinator', `${releasedPerSec.toFixed(0)}/s (each submitted and followed until Trino scheduled it)`],
      [`router RSS idle / with ${STATEMENTS} queued (primary + workers)`, `${idle.toFixed(0)} / ${full.toFixed(0)} MB, limit ${deployed.memoryLimit} (${(deployed.memoryLimitBytes / 2 ** 20).toFixed(0)} MB)`],
    ];
    process.stdout.write(`\nxtrinode gateway queue benchmark (${new Date().toISOString()})\nmachine: ${machine}\nrouter: router/main.ts, WORKERS=${deployed.env.WORKERS ?? '1'}, NODE_OPTIONS=${deployed.env.NODE_OPTIONS ?? ''}; ${CONCURRENCY} concurrent clients; one machine for all processes\n\n`);
    for (const [k, v] of lines) process.stdout.write(`${k.padEnd(66)} ${v}\n`);
  } finally {
    for (const c of children) c.kill();
    await coordinator.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(() => process.exit(0), (e) => {
  process.stderr.write(`bench:queue: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
