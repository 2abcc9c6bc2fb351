/**
 * Gateway benchmark: a query's follow-ups through a shared group's prefix route against the same
 * requests sent by the Gateway straight to the coordinator, in one run, through each real Gateway
 * of the local stack (Traefik, then Envoy Gateway with Envoy), printed as ratios to that Gateway
 * alone: the cost of the product on each Gateway.
 *
 *   npm run bench:gateway                      (both Gateways, about five minutes; needs nginx and wrk: apt-get install nginx-light wrk)
 *   npm run bench:gateway -- --gateway envoy   (one of them)
 *
 * - origin: nginx serving Trino-shaped answers (a small /v1/query/{id} JSON, an 8.6 MB result
 *   page) on the ClusterIPs of three coordinator Services, so the origin is never the bottleneck;
 * - shared group `bench-shared` (two coordinators, weighted backendRefs or the router for new
 *   statements): polls go to `/xtrinode/c/bench/shared-1/...`, the prefix route (URLRewrite and
 *   X-Forwarded-Prefix set by the Gateway), as Trino's nextUri sends them;
 * - reference: `direct` (one coordinator), whose hostname route sends `/` straight to it;
 * - the path every shared-group poll took before prefix routes: Gateway -> router -> coordinator;
 * - ceiling: nginx without any proxy.
 * Load: wrk (one thread), rounds interleaved (ABBA) so every path sees the same machine state; each
 * ratio is the median of the per-round ratios (paired), since the machine's speed drifts between
 * rounds more than the paths differ. The router is in neither of the two compared paths.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir, cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import * as k8s from '@kubernetes/client-node';
import { parseArgs } from 'node:util';
import { startStack, type GatewayImplementation } from '../hack/stack.ts';
import { median, need, rssMb, wrk as wrkRun } from './wrk.ts';

const NS = 'bench';
const SHARED_HOST = 'shared.bench.example.com';
const DIRECT_HOST = 'direct.bench.example.com';
const QUERY = '20260101_000000_00001_bench';
const ROUNDS = 6;
const SECONDS = 3;

const wrk = (url: string, host: string, connections: number) => wrkRun(url, host, connections, SECONDS);

/** The Gateway's data-plane process, for its RSS. */
const DATA_PLANE: Record<GatewayImplementation, { name: string; pgrep: string }> = {
  traefik: { name: 'Traefik', pgrep: 'traefik-.*/traefik --providers.kubernetesgateway' },
  envoy: { name: 'Envoy', pgrep: 'envoy-versions/.*/bin/envoy' },
};

async function bench(gateway: GatewayImplementation): Promise<void> {
  const stack = await startStack({ gateway, examples: false, realTrino: false, log: () => undefined });
  const dir = mkdtempSync(join(tmpdir(), 'xtn-gw-bench-'));
  let nginx: ChildProcess | undefined;
  try {
    const core = stack.kubeConfig.makeApiClient(k8s.CoreV1Api);
    await stack.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    const ips: string[] = [];
    for (const name of ['shared-1', 'shared-2', 'direct']) {
      await stack.apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: `${name}-coordinator`, namespace: NS, annotations: { 'traefik.io/service.nativelb': 'true' } }, spec: { ports: [{ name: 'http', port: 8080 }] } });
      ips.push((await core.readNamespacedService({ name: `${name}-coordinator`, namespace: NS })).spec!.clusterIP!);
    }
    // A result page as Trino sends it: JSON rows, 8.6 MB.
    writeFileSync(join(dir, 'large.json'), JSON.stringify({ id: QUERY, data: Array.from({ length: 16384 }, (_, i) => [i, 'x'.repeat(500)]) }));
    writeFileSync(join(dir, 'nginx.conf'), `
worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  keepalive_requests 1000000;
  server {
    ${ips.map((ip) => `listen ${ip}:8080;`).join(' ')}
    location = /v1/info { default_type application/json; return 200 '{"starting":false}'; }
    location /v1/query/ { default_type application/json; return 200 '{"queryId":"${QUERY}","state":"RUNNING"}'; }
    location = /v1/query/${QUERY}/large { default_type application/json; alias ${dir}/large.json; }
  }
}
`);
    nginx = spawn(need('nginx'), ['-c', join(dir, 'nginx.conf'), '-p', dir], { stdio: 'ignore' });
    for (const [name, routing] of [['shared-1', { routingGroup: 'bench-shared', hostname: SHARED_HOST }], ['shared-2', { routingGroup: 'bench-shared', hostname: SHARED_HOST }], ['direct', { hostname: DIRECT_HOST }]] as const) {
      await stack.apply({ apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { name, namespace: NS }, spec: { routing } });
    }
    const prefix = `/xtrinode/c/${NS}/shared-1`;
    const targets = {
      'shared group, prefix route': { host: SHARED_HOST, base: `${stack.gatewayUrl}${prefix}` },
      'Gateway straight to the coordinator': { host: DIRECT_HOST, base: stack.gatewayUrl },
      // What every poll of a shared group took before prefix routes: the shared group's /v1/query
      // rule sends client-built URLs to the router, which finds the owner by query id.
      'Gateway -> router (learned stickiness)': { host: SHARED_HOST, base: stack.gatewayUrl },
      'nginx alone (no proxy)': { host: 'origin', base: `http://${ips[2]}:8080` },
    };
    for (const [what, t] of Object.entries(targets)) {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const r = await request(`${t.base}/v1/query/${QUERY}`, { headers: { host: t.host } }).catch(() => undefined);
        const body = r ? await r.body.text() : '';
        if (r?.statusCode === 200 && body.includes(QUERY)) break;
        if (Date.now() > deadline) throw new Error(`${what}: not routed within 60 s (last status ${r?.statusCode})`);
        await new Promise((res) => setTimeout(res, 250));
      }
    }
    const dataPlanePid = Number(execFileSync('pgrep', ['-n', '-f', DATA_PLANE[gateway].pgrep]).toString().trim());
    let dataPlanePeak = rssMb(dataPlanePid);
    const sampler = setInterval(() => (dataPlanePeak = Math.max(dataPlanePeak, rssMb(dataPlanePid))), 200);
    const small: Record<string, number[]> = {};
    const large: Record<string, number[]> = {};
    for (let round = 0; round < ROUNDS; round++) {
      // ABBA: every other round in reverse order, so a drift of the machine favours no path.
      const order = round % 2 === 0 ? Object.entries(targets) : Object.entries(targets).reverse();
      for (const [what, t] of order) {
        (small[what] ??= []).push(wrk(`${t.base}/v1/query/${QUERY}`, t.host, 32).reqPerSec);
        (large[what] ??= []).push(wrk(`${t.base}/v1/query/${QUERY}/large`, t.host, 4).mbPerSec);
      }
    }
    clearInterval(sampler);
    const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`;
    process.stdout.write(`\nxtrinode gateway benchmark on ${stack.gatewayVersion} (${new Date().toISOString()})\nmachine: ${machine}\nload: wrk, 1 thread, ${SECONDS} s a measurement, ${ROUNDS} interleaved rounds; medians, ratios paired by round; wrk, ${DATA_PLANE[gateway].name}, router and nginx share the cores\n\n`);
    const ref = 'Gateway straight to the coordinator';
    const row = (label: string, xs: Record<string, number[]>, unit: string) => {
      process.stdout.write(`${label}\n`);
      for (const what of Object.keys(targets)) {
        const m = median(xs[what]!);
        const ratio = median(xs[what]!.map((x, i) => x / xs[ref]![i]!));
        process.stdout.write(`  ${what.padEnd(40)} ${m.toFixed(0).padStart(8)} ${unit}   ratio to ${ref}: ${ratio.toFixed(2)}   (rounds: ${xs[what]!.map((x) => x.toFixed(0)).join(', ')})\n`);
      }
    };
    row('small polls (GET /v1/query/{id}), 32 connections', small, 'req/s');
    row('large result pages (8.6 MB), 4 connections', large, 'MB/s ');
    const routerPid = Number(execFileSync('pgrep', ['-n', '-f', 'router/main.ts']).toString().trim());
    process.stdout.write(`\n${DATA_PLANE[gateway].name} RSS peak: ${dataPlanePeak.toFixed(0)} MB; router RSS after the run: ${rssMb(routerPid).toFixed(0)} MB\n`);
  } finally {
    nginx?.kill('SIGQUIT');
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const { values } = parseArgs({ options: { gateway: { type: 'string', default: 'both' } } });
if (!['both', 'traefik', 'envoy'].includes(values.gateway!)) throw new Error(`--gateway ${values.gateway}: traefik, envoy or both`);
need('nginx');
need('wrk');
for (const g of (values.gateway === 'both' ? ['traefik', 'envoy'] : [values.gateway]) as GatewayImplementation[]) await bench(g);
