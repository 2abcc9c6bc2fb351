/**
 * The router against a native proxy, in one run: nginx as a Trino-shaped origin (a small
 * `/v1/query/{id}` JSON and an 8.6 MB result page), reached directly, through haproxy, and
 * through the router (as deployed: its Node options, one process); wrk drives the load, rounds
 * interleaved (ABBA), medians of per-round ratios. Used by bench/router-bench.ts.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { freePort } from '../hack/control-plane.ts';
import { median, need, rssMb, wrk as wrkRun } from './wrk.ts';

const QUERY = '20260101_000000_00001_bench';
const HOST = 'bench.example.com';
const ROUNDS = 4;
const SECONDS = 3;
const wrk = (url: string, connections: number) => wrkRun(url, HOST, connections, SECONDS);

/** Runs the comparison; `routerNodeOptions` as the Deployment sets them. Returns printable rows. */
export async function compareWithNativeProxy(routerNodeOptions: string[]): Promise<Array<[string, string]>> {
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
    const router = fork(fileURLToPath(new URL('./router-bench.ts', import.meta.url)), ['router', String(origin)], { stdio: 'inherit', execArgv: routerNodeOptions });
    children.push(router);
    const routerPort = await new Promise<number>((resolve) => router.once('message', (m) => resolve((m as { port: number }).port)));
    const targets: Record<string, string> = {
      'nginx alone': `http://127.0.0.1:${origin}`,
      haproxy: `http://127.0.0.1:${haproxyPort}`,
      router: `http://127.0.0.1:${routerPort}`,
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
    const peak: Record<string, number> = { haproxy: 0, router: 0 };
    const sample = () => {
      peak.haproxy = Math.max(peak.haproxy!, rssMb(haproxy.pid!));
      peak.router = Math.max(peak.router!, rssMb(router.pid!));
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
    const ratio = (xs: Record<string, number[]>) => median(xs.router!.map((x, i) => x / xs.haproxy![i]!));
    return [
      ['small polls, 32 conn., req/s: nginx alone / haproxy / router', `${median(small['nginx alone']!).toFixed(0)} / ${median(small.haproxy!).toFixed(0)} / ${median(small.router!).toFixed(0)}  -> router/haproxy ${ratio(small).toFixed(2)} (goal 0.6)`],
      ['large pages (8.6 MB), 4 conn., MB/s: nginx alone / haproxy / router', `${median(large['nginx alone']!).toFixed(0)} / ${median(large.haproxy!).toFixed(0)} / ${median(large.router!).toFixed(0)}  -> router/haproxy ${ratio(large).toFixed(2)} (goal 0.9)`],
      ['small polls, 1 conn., p99 ms: nginx alone / haproxy / router', `${median(p99['nginx alone']!).toFixed(3)} / ${median(p99.haproxy!).toFixed(3)} / ${median(p99.router!).toFixed(3)}  -> router adds ${(median(p99.router!) - median(p99['nginx alone']!)).toFixed(3)} ms (goal 0.5)`],
      ['RSS after each run, peak, MB: haproxy / router', `${peak.haproxy!.toFixed(0)} / ${peak.router!.toFixed(0)}`],
    ];
  } finally {
    for (const c of children) c.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}
