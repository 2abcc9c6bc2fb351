/**
 * The router against a native proxy, in one run: nginx as a Trino-shaped origin (a small
 * `/v1/query/{id}` JSON and an 8.6 MB result page), reached directly, through haproxy, and
 * through the router as deployed (router/main.ts with its Deployment's environment and Node
 * options: once with one worker, once with the Deployment's WORKERS); wrk drives the load, rounds
 * interleaved (ABBA), medians of per-round ratios; RSS counts the router's primary and workers.
 * Used by bench/router-bench.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { freePort } from '../hack/control-plane.ts';
import { median, need, rssMb, rssTreeMb, wrk as wrkRun } from './wrk.ts';
import { translate } from '../controller/translate/translate.ts';
import { DEFAULT_SETTINGS } from '../controller/translate/settings.ts';
import { serializeRouteTable } from '../routetable/schema.ts';

const QUERY = '20260101_000000_00001_bench';
const HOST = 'bench.example.com';
const ROUNDS = 4;
const SECONDS = 3;
const wrk = (url: string, connections: number) => wrkRun(url, HOST, connections, SECONDS);

/** Runs the comparison; `deployedEnv`: the router Deployment's environment. Returns printable rows. */
export async function compareWithNativeProxy(deployedEnv: Record<string, string>): Promise<Array<[string, string]>> {
  need('nginx');
  need('haproxy');
  need('wrk');
  const dir = mkdtempSync(join(tmpdir(), 'xtn-proxy-bench-'));
  const children: ChildProcess[] = [];
  try {
    const [origin, haproxyPort] = [await freePort(), await freePort()];
    writeFileSync(join(dir, 'large.json'), JSON.stringify({ id: QUERY, data: Array.from({ length: 16384 }, (_, i) => [i, 'x'.repeat(500)]) }));
    writeFileSync(join(dir, 'nginx.conf'), `worker_processes 1; daemon off; pid ${dir}/nginx.pid; error_log ${dir}/nginx-error.log;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  server { listen 127.0.0.1:${origin};
    location = /v1/info { default_type application/json; return 200 '{"starting":false}'; }
    location /v1/query/ { default_type application/json; return 200 '{"queryId":"${QUERY}","state":"RUNNING"}'; }
    location = /v1/query/${QUERY}/large { default_type application/json; alias ${dir}/large.json; } } }
`);
    writeFileSync(join(dir, 'haproxy.cfg'), `global
  maxconn 4000
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend fe
  bind 127.0.0.1:${haproxyPort}
  default_backend be
backend be
  http-reuse always
  server origin 127.0.0.1:${origin}
`);
    children.push(spawn(need('nginx'), ['-c', join(dir, 'nginx.conf'), '-p', dir], { stdio: 'ignore' }));
    const haproxy = spawn(need('haproxy'), ['-f', join(dir, 'haproxy.cfg'), '-db'], { stdio: 'ignore' });
    children.push(haproxy);
    writeFileSync(join(dir, 'routes.json'), serializeRouteTable(translate({ xtrinodes: [{ apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { namespace: 'bench', name: 'bench' }, spec: { routing: { hostname: HOST } } }], settings: DEFAULT_SETTINGS }).table));
    const workers = deployedEnv.WORKERS ?? '1';
    const startRouter = async (n: string): Promise<{ child: ChildProcess; port: number }> => {
      const [port, adminPort, peerPort] = [await freePort(), await freePort(), await freePort()];
      const child = spawn(process.execPath, [fileURLToPath(new URL('../router/main.ts', import.meta.url))], {
        stdio: ['ignore', 'ignore', 'inherit'],
        env: { PATH: process.env.PATH, ...deployedEnv, WORKERS: n, PEER_PORT: String(peerPort), ROUTES_FILE: join(dir, 'routes.json'), RESUME: 'off', BACKEND_URLS: `bench/bench-coordinator=http://127.0.0.1:${origin}`, ROUTER_HOST: '127.0.0.1', ROUTER_PORT: String(port), ADMIN_PORT: String(adminPort), LOG_LEVEL: 'warn' },
      });
      children.push(child);
      return { child, port };
    };
    const routers = { one: await startRouter('1'), deployed: await startRouter(workers) };
    const R1 = 'router, 1 worker';
    const RN = `router, ${workers} workers (Deployment)`;
    const targets: Record<string, string> = {
      'nginx alone': `http://127.0.0.1:${origin}`,
      haproxy: `http://127.0.0.1:${haproxyPort}`,
      [R1]: `http://127.0.0.1:${routers.one.port}`,
      [RN]: `http://127.0.0.1:${routers.deployed.port}`,
    };
    for (const [what, base] of Object.entries(targets)) {
      const deadline = Date.now() + 10_000;
      while (!(await request(`${base}/v1/query/${QUERY}`, { headers: { host: HOST } }).then((r) => r.body.dump().then(() => r.statusCode === 200), () => false))) {
        if (Date.now() > deadline) throw new Error(`${what} does not answer at ${base}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      wrk(`${base}/v1/query/${QUERY}`, 4); // warm-up, and the router learns the owner
    }
    // wrk runs synchronously (the event loop waits): RSS is read right after each run.
    const peak: Record<string, number> = { haproxy: 0, [R1]: 0, [RN]: 0 };
    const sample = () => {
      peak.haproxy = Math.max(peak.haproxy!, rssMb(haproxy.pid!));
      peak[R1] = Math.max(peak[R1]!, rssTreeMb(routers.one.child.pid!));
      peak[RN] = Math.max(peak[RN]!, rssTreeMb(routers.deployed.child.pid!));
    };
    const small: Record<string, number[]> = {};
    const large: Record<string, number[]> = {};
    const p99: Record<string, number[]> = {};
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? Object.entries(targets) : Object.entries(targets).reverse();
      for (const [what, base] of order) {
        (small[what] ??= []).push(wrk(`${base}/v1/query/${QUERY}`, 32).reqPerSec);
        sample();
        (large[what] ??= []).push(wrk(`${base}/v1/query/${QUERY}/large`, 4).mbPerSec);
        sample();
        (p99[what] ??= []).push(wrk(`${base}/v1/query/${QUERY}`, 1).p99ms);
        sample();
      }
    }
    const ratio = (xs: Record<string, number[]>, r: string) => median(xs[r]!.map((x, i) => x / xs.haproxy![i]!)).toFixed(2);
    const row = (xs: Record<string, number[]>, digits: number) => ['nginx alone', 'haproxy', R1, RN].map((k) => median(xs[k]!).toFixed(digits)).join(' / ');
    return [
      [`small polls, 32 conn., req/s: nginx alone / haproxy / ${R1} / ${workers}`, `${row(small, 0)}  -> router/haproxy ${ratio(small, R1)}, ${ratio(small, RN)} (goal 0.6)`],
      [`large pages (8.6 MB), 4 conn., MB/s: same order`, `${row(large, 0)}  -> router/haproxy ${ratio(large, R1)}, ${ratio(large, RN)} (goal 0.9)`],
      [`small polls, 1 conn., p99 ms: same order`, `${row(p99, 3)}  -> router adds ${(median(p99[R1]!) - median(p99['nginx alone']!)).toFixed(3)}, ${(median(p99[RN]!) - median(p99['nginx alone']!)).toFixed(3)} ms (goal 0.5)`],
      [`RSS after each run, peak, MB: haproxy / ${R1} / ${workers} (all processes)`, `${peak.haproxy!.toFixed(0)} / ${peak[R1]!.toFixed(0)} / ${peak[RN]!.toFixed(0)}`],
    ];
  } finally {
    for (const c of children) c.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}
