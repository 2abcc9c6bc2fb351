/**
 * The router against a native proxy, in one run: nginx as a Trino-shaped origin (a small
 * `/v1/query/{id}` JSON and an 8.6 MB result page), reached directly, through haproxy, and
 * through the router as deployed (router/main.ts with its Deployment's environment and Node
 * options: once with one worker, once with the Deployment's WORKERS), the least a Node proxy does
 * (bench/node-floor.ts: what of the gap is Node's), and optionally a router run
 * elsewhere (bench/router-container.ts); wrk drives the load, rounds interleaved (ABBA), medians of
 * per-round ratios, then 1,000 connections once each; RSS and CPU count the router's primary and
 * workers. CPU per small poll is what the proxy process used during the 32-connection runs.
 * Used by bench/router-bench.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { freePort, freePortRun } from '../hack/control-plane.ts';
import { cpuSecondsTree, median, need, rssMb, rssTreeMb, writeCallsTree, wrk as wrkRun } from './wrk.ts';
import { translate } from '../controller/translate/translate.ts';
import { DEFAULT_SETTINGS } from '../controller/translate/settings.ts';
import { serializeRouteTable } from '../routetable/schema.ts';

const QUERY = '20260101_000000_00001_bench';
const HOST = 'bench.example.com';
const ROUNDS = 4;
const SECONDS = 3;
const wrk = (url: string, connections: number) => wrkRun(url, HOST, connections, SECONDS);

/** A router run elsewhere (bench/router-container.ts: from the image, under its memory limit). */
export interface ExtraRouter {
  label: string;
  base: string;
  /** Memory of everything it runs, in MB (RSS, or its container's cgroup). */
  memoryMb(): number;
  stop(): Promise<void>;
}

/** What an extra router is given: the origin to forward to (as backend `bench/bench-coordinator`) and the route table. */
export interface BenchOrigin {
  originUrl: string;
  routesJson: string;
  host: string;
}

/**
 * Runs the comparison; `deployedEnv`: the router Deployment's environment; `extra`: another
 * router to measure in the same rounds. Returns printable rows.
 */
export async function compareWithNativeProxy(deployedEnv: Record<string, string>, extra?: (o: BenchOrigin) => Promise<ExtraRouter>): Promise<Array<[string, string]>> {
  need('nginx');
  need('haproxy');
  need('wrk');
  const dir = mkdtempSync(join(tmpdir(), 'xtn-proxy-bench-'));
  const children: ChildProcess[] = [];
  const stops: Array<() => Promise<void>> = [];
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
    const routesJson = serializeRouteTable(translate({ xtrinodes: [{ apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { namespace: 'bench', name: 'bench' }, spec: { routing: { hostname: HOST } } }], settings: DEFAULT_SETTINGS }).table);
    writeFileSync(join(dir, 'routes.json'), routesJson);
    const workers = deployedEnv.WORKERS ?? '1';
    const startRouter = async (n: string): Promise<{ child: ChildProcess; port: number }> => {
      const [port, adminPort, peerPort] = [await freePort(), await freePort(), await freePortRun(Number(n))]; // PEER_PORT + worker index
      const child = spawn(process.execPath, [fileURLToPath(new URL('../router/main.ts', import.meta.url))], {
        stdio: ['ignore', 'ignore', 'inherit'],
        env: { PATH: process.env.PATH, ...deployedEnv, WORKERS: n, PEER_PORT: String(peerPort), ROUTES_FILE: join(dir, 'routes.json'), RESUME: 'off', BACKEND_URLS: `bench/bench-coordinator=http://127.0.0.1:${origin}`, ROUTER_HOST: '127.0.0.1', ROUTER_PORT: String(port), ADMIN_PORT: String(adminPort), LOG_LEVEL: 'warn' },
      });
      children.push(child);
      return { child, port };
    };
    const routers = { one: await startRouter('1'), deployed: await startRouter(workers) };
    const floorPort = await freePort();
    const floor = spawn(process.execPath, [fileURLToPath(new URL('./node-floor.ts', import.meta.url)), String(floorPort), `http://127.0.0.1:${origin}`], { stdio: ['ignore', 'ignore', 'inherit'] });
    children.push(floor);
    const FLOOR = 'Node floor';
    const R1 = 'router, 1 worker';
    const RN = `router, ${workers} workers (Deployment)`;
    const more = extra ? await extra({ originUrl: `http://127.0.0.1:${origin}`, routesJson, host: HOST }) : undefined;
    if (more) stops.push(() => more.stop());
    const targets: Record<string, string> = {
      'nginx alone': `http://127.0.0.1:${origin}`,
      haproxy: `http://127.0.0.1:${haproxyPort}`,
      [R1]: `http://127.0.0.1:${routers.one.port}`,
      [RN]: `http://127.0.0.1:${routers.deployed.port}`,
      [FLOOR]: `http://127.0.0.1:${floorPort}`,
      ...(more ? { [more.label]: more.base } : {}),
    };
    const routerNames = [R1, RN, ...(more ? [more.label] : [])];
    /** The processes whose CPU a small poll costs (a router elsewhere is not counted). */
    const pids: Record<string, number> = { haproxy: haproxy.pid!, [R1]: routers.one.child.pid!, [RN]: routers.deployed.child.pid!, [FLOOR]: floor.pid! };
    const cpuPerPoll: Record<string, number[]> = {};
    /** Node's write system calls per MB of large pages (haproxy sends with send(), which /proc does not count). */
    const writesPerMb: Record<string, number[]> = {};
    for (const [what, base] of Object.entries(targets)) {
      const deadline = Date.now() + 10_000;
      while (!(await request(`${base}/v1/query/${QUERY}`, { headers: { host: HOST } }).then((r) => r.body.dump().then(() => r.statusCode === 200), () => false))) {
        if (Date.now() > deadline) throw new Error(`${what} does not answer at ${base}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      wrk(`${base}/v1/query/${QUERY}`, 4); // warm-up, and the router learns the owner
    }
    // wrk runs synchronously (the event loop waits): RSS is read right after each run.
    const peak: Record<string, number> = Object.fromEntries(['haproxy', ...routerNames].map((k) => [k, 0]));
    const sample = () => {
      peak.haproxy = Math.max(peak.haproxy!, rssMb(haproxy.pid!));
      peak[R1] = Math.max(peak[R1]!, rssTreeMb(routers.one.child.pid!));
      peak[RN] = Math.max(peak[RN]!, rssTreeMb(routers.deployed.child.pid!));
      if (more) peak[more.label] = Math.max(peak[more.label]!, more.memoryMb());
    };
    const small: Record<string, number[]> = {};
    const large: Record<string, number[]> = {};
    const p99: Record<string, number[]> = {};
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? Object.entries(targets) : Object.entries(targets).reverse();
      for (const [what, base] of order) {
        const pid = pids[what];
        const cpu0 = pid ? cpuSecondsTree(pid) : 0;
        const polls = wrk(`${base}/v1/query/${QUERY}`, 32);
        if (pid) (cpuPerPoll[what] ??= []).push(((cpuSecondsTree(pid) - cpu0) * 1e6) / polls.requests);
        (small[what] ??= []).push(polls.reqPerSec);
        sample();
        const writes0 = pid && what !== 'haproxy' ? writeCallsTree(pid) : 0;
        const pages = wrk(`${base}/v1/query/${QUERY}/large`, 4);
        if (pid && what !== 'haproxy') (writesPerMb[what] ??= []).push((writeCallsTree(pid) - writes0) / (pages.mbPerSec * SECONDS));
        (large[what] ??= []).push(pages.mbPerSec);
        sample();
        (p99[what] ??= []).push(wrk(`${base}/v1/query/${QUERY}`, 1).p99ms);
        sample();
      }
    }
    // 1,000 concurrent connections of polls, once each (the router issue's 1,000 concurrent queries).
    const wide: Record<string, number> = {};
    for (const what of ['haproxy', ...routerNames]) {
      wide[what] = wrk(`${targets[what]}/v1/query/${QUERY}`, 1000).reqPerSec;
      sample();
    }
    const ratio = (xs: Record<string, number[]>, r: string) => median(xs[r]!.map((x, i) => x / xs.haproxy![i]!)).toFixed(2);
    const row = (xs: Record<string, number[]>, digits: number) => ['nginx alone', 'haproxy', ...routerNames, FLOOR].map((k) => median(xs[k]!).toFixed(digits)).join(' / ');
    const ratios = (xs: Record<string, number[]>) => [...routerNames, FLOOR].map((r) => ratio(xs, r)).join(', ');
    const order = `nginx alone / haproxy / ${routerNames.join(' / ')} / ${FLOOR}`;
    const cpuRow = ['haproxy', R1, RN, FLOOR].map((k) => median(cpuPerPoll[k]!).toFixed(0)).join(' / ');
    return [
      [`small polls, 32 conn., req/s: ${order}`, `${row(small, 0)}  -> of haproxy, same order: ${ratios(small)} (goal 0.6)`],
      [`large pages (8.6 MB), 4 conn., MB/s: same order`, `${row(large, 0)}  -> of haproxy, same order: ${ratios(large)} (goal 0.9)`],
      [`large pages, write system calls per MB: ${R1} / ${RN} / ${FLOOR}`, [R1, RN, FLOOR].map((k) => median(writesPerMb[k]!).toFixed(1)).join(' / ')],
      [`small polls, CPU per poll, us: haproxy / ${R1} / ${RN} / ${FLOOR}`, `${cpuRow}  -> router 1 worker / Node floor ${median(cpuPerPoll[R1]!.map((x, i) => x / cpuPerPoll[FLOOR]![i]!)).toFixed(2)}`],
      [`small polls, 1 conn., p99 ms: same order`, `${row(p99, 3)}  -> router adds ${routerNames.map((r) => (median(p99[r]!) - median(p99['nginx alone']!)).toFixed(3)).join(', ')} ms (goal 0.5)`],
      [`small polls, 1,000 conn., req/s: haproxy / ${routerNames.join(' / ')}`, ['haproxy', ...routerNames].map((k) => wide[k]!.toFixed(0)).join(' / ')],
      [`memory after each run, peak, MB: haproxy / ${routerNames.join(' / ')}`, ['haproxy', ...routerNames].map((k) => peak[k]!.toFixed(0)).join(' / ')],
    ];
  } finally {
    for (const c of children) c.kill();
    for (const stop of stops) await stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
