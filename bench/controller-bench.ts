/**
 * Controller benchmark against a real kube-apiserver: 1,000 XTrinodes (and their coordinator
 * Services) in 100 namespaces, a fifth of them in 4 shared groups of 50 members across 5 namespaces.
 *
 *   npm run bench:controller          (about a minute or two)
 *
 * Figures: time from the first create to all routes applied and every status written (and, as
 * the baseline from the same run, the time the API server took to accept the creates alone), API
 * writes per XTrinode, writes during a restart with nothing changed (target 0), controller RSS.
 * The controller runs as its own process (controller/main.ts), as in production.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { request } from 'undici';
import { startControlPlane } from '../hack/control-plane.ts';
import { reuseConnections } from '../controller/api-connections.ts';
import { routeTableText } from '../routetable/schema.ts';
import { REPO_ROOT } from '../test/components.ts';

const N = Number(process.env.XTRINODES ?? 1000);
const NAMESPACES = Number(process.env.NAMESPACES ?? 100);
const CONCURRENCY = 16;

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;
/** The process's peak RSS so far (VmHWM). */
const peakRssMb = (pid: number) => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;

/** The process's largest memory mappings by RSS (BENCH_SMAPS=1: where the memory is). */
function largestMappings(pid: number): string {
  const out: Array<[number, string]> = [];
  let head = '';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) head = line;
    const m = /^Rss:\s+(\d+) kB/.exec(line);
    if (m) out.push([Number(m[1]), head]);
  }
  return out.sort((a, b) => b[0] - a[0]).slice(0, 12).map(([kb, h]) => `${(kb / 1024).toFixed(0).padStart(5)} MB  ${h}`).join('\n');
}

/**
 * BENCH_HEAPSNAPSHOT=1: a heap snapshot of the controller after convergence, written by Node
 * (--heapsnapshot-signal) as Heap.*.heapsnapshot in the directory the bench runs in.
 */
async function heapSnapshot(pid: number): Promise<void> {
  process.kill(pid, 'SIGUSR2');
  await new Promise((r) => setTimeout(r, 15_000)); // written synchronously by the controller; it answers again after
  process.stderr.write(`heap snapshot of the controller (pid ${pid}) written in ${process.cwd()}\n`);
}

async function pool<T>(items: T[], n: number, f: (x: T) => Promise<unknown>): Promise<void> {
  let i = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (i < items.length) await f(items[i++]!);
  }));
}

let lastBreakdown = '';
let lastCounts = new Map<string, number>();
/** The controller's API writes so far; `lastBreakdown` lists them by kind and verb (since `since`, when given). */
async function writes(metricsUrl: string, since?: Map<string, number>): Promise<number> {
  const text = await (await request(metricsUrl)).body.text();
  let total = 0;
  const parts: string[] = [];
  const counts = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('xtrinode_controller_api_writes_total{')) continue;
    const m = /kind="([^"]+)",verb="([^"]+)"/.exec(line);
    const key = m ? `${m[1]} ${m[2]}` : line;
    counts.set(key, Number(line.split(' ').pop()));
    const n = counts.get(key)! - (since?.get(key) ?? 0);
    total += n;
    if (n > 0) parts.push(`${key} ${n}`);
  }
  lastBreakdown = parts.join(', ');
  lastCounts = counts;
  return total;
}

/** The controller's CPU seconds and V8 heap in use (MB), from its default metrics. */
async function processFigures(metricsUrl: string): Promise<string> {
  const text = await (await request(metricsUrl)).body.text();
  const value = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'm').exec(text)?.[1] ?? NaN);
  return `CPU ${value('process_cpu_seconds_total').toFixed(1)} s, V8 heap used ${(value('nodejs_heap_size_used_bytes') / 2 ** 20).toFixed(0)} MB of ${(value('nodejs_heap_size_total_bytes') / 2 ** 20).toFixed(0)} MB, external ${(value('nodejs_external_memory_bytes') / 2 ** 20).toFixed(0)} MB`;
}

async function reconciles(metricsUrl: string): Promise<number> {
  const text = await (await request(metricsUrl)).body.text();
  return Number(/xtrinode_controller_reconciles_total\{result="ok"\} (\d+)/.exec(text)?.[1] ?? NaN);
}

/**
 * As in manifests/controller/deployment.yaml: NODE_OPTIONS, and the node flags before
 * controller/main.ts in its args (CONTROLLER_NODE_OPTIONS and CONTROLLER_NODE_ARGS replace them
 * for a run; CONTROLLER_NODE_ARGS= runs without flags).
 */
const CONTROLLER_NODE_OPTIONS = '--max-semi-space-size=4';
const CONTROLLER_NODE_ARGS = '--optimize-for-size';
const controllerNodeArgs = () => (process.env.CONTROLLER_NODE_ARGS ?? CONTROLLER_NODE_ARGS).split(' ').filter(Boolean);

function startController(kubeconfig: string, port: number, name: string) {
  const child = spawn(process.execPath, [...controllerNodeArgs(), join(REPO_ROOT, 'controller/main.ts')], {
    env: { ...process.env, NODE_OPTIONS: `${process.env.CONTROLLER_NODE_OPTIONS ?? CONTROLLER_NODE_OPTIONS}${process.env.BENCH_HEAPSNAPSHOT ? ' --heapsnapshot-signal=SIGUSR2' : ''}`, KUBECONFIG: kubeconfig, METRICS_PORT: String(port), METRICS_HOST: '127.0.0.1', POD_NAMESPACE: 'xtrinode-system', POD_NAME: name, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return child;
}

async function main(): Promise<void> {
  // 1,000 coordinator Services need ClusterIPs: a /16 of loopback (the default /24 holds 254).
  const cp = await startControlPlane({ serviceCidr: '127.64.0.0/16' });
  const loaded = new k8s.KubeConfig();
  loaded.loadFromFile(cp.kubeconfig);
  // The baseline's client reuses its connections too (api-connections.ts), as the controller does.
  const kc = reuseConnections(loaded);
  const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const apply = (o: Record<string, unknown>) => objects.patch(o as k8s.KubernetesObject, undefined, undefined, 'bench', true, k8s.PatchStrategy.ServerSideApply);
  const figures: Array<[string, string]> = [];
  let child = startController(cp.kubeconfig, 19091, 'bench-1');
  try {
    for (const ns of ['trino-gateway', 'xtrinode-system']) await apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    const nss = Array.from({ length: NAMESPACES }, (_, i) => `team-${i}`);
    await pool(nss, CONCURRENCY, (ns) => apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }));
    await new Promise((r) => setTimeout(r, 3000)); // controller up and leading

    const items = Array.from({ length: N }, (_, i) => ({ ns: nss[i % NAMESPACES]!, name: `rt-${i}`, shared: i % 5 === 0 ? `pool-${i % 20}` : undefined }));
    const t0 = Date.now();
    await pool(items, CONCURRENCY, async (x) => {
      await apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: `${x.name}-coordinator`, namespace: x.ns }, spec: { ports: [{ port: 8080 }] } });
      await apply({
        apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { name: x.name, namespace: x.ns },
        // A shared group's members span namespaces: each lets the others in (group-ownership.ts).
        spec: { routing: x.shared ? { routingGroup: x.shared, hostnameDomain: 'trino.example.com', acceptMembersFrom: [...new Set(items.filter((y) => y.shared === x.shared).map((y) => y.ns))] } : { hostnameDomain: 'trino.example.com', header: `X-Trino-XTrinode=${x.ns}/${x.name}` } },
      });
    });
    const created = Date.now() - t0;

    // Converged: every XTrinode has status for its generation and the route table lists every backend.
    for (;;) {
      const list = (await custom.listClusterCustomObject({ group: 'analytics.xtrinode.io', version: 'v1', plural: 'xtrinodes' })) as { items: Array<{ metadata: { generation: number }; status?: { conditions?: Array<{ type: string; observedGeneration?: number }> } }> };
      const done = list.items.filter((x) => x.status?.conditions?.some((c) => c.type === 'Accepted' && c.observedGeneration === x.metadata.generation)).length;
      let backends = 0;
      try {
        const cm = await core.readNamespacedConfigMap({ namespace: 'trino-gateway', name: 'trino-gateway-routes' });
        backends = (JSON.parse(routeTableText(cm) ?? '{"groups":[]}') as { groups: Array<{ backends: unknown[] }> }).groups.reduce((n, g) => n + g.backends.length, 0);
      } catch {
        /* not yet */
      }
      if (done === N && backends === N) break;
      if (child.exitCode !== null) throw new Error(`the controller exited with code ${child.exitCode} before convergence (its stderr is above)`);
      if (Date.now() - t0 > 600_000) throw new Error(`not converged after 10 minutes: ${done}/${N} statuses, ${backends} backends`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const converged = Date.now() - t0;
    // Quiet: no write for 3 s (later passes may still rewrite statuses as a group's members join).
    let w1 = await writes('http://127.0.0.1:19091/metrics');
    for (let quietSince = Date.now(); Date.now() - quietSince < 3000;) {
      await new Promise((r) => setTimeout(r, 500));
      const w = await writes('http://127.0.0.1:19091/metrics');
      if (w !== w1) quietSince = Date.now();
      w1 = w;
    }
    const quiet = Date.now() - t0;
    const routes = (await custom.listNamespacedCustomObject({ group: 'gateway.networking.k8s.io', version: 'v1', namespace: 'trino-gateway', plural: 'httproutes' })) as { items: unknown[] };
    const groups = new Set(items.map((x) => x.shared).filter(Boolean)).size;
    figures.push(['XTrinodes / namespaces / shared groups (members)', `${N} / ${NAMESPACES} / ${groups} (${items.filter((x) => x.shared).length})`]);
    figures.push(['HTTPRoutes generated', String(routes.items.length)]);
    figures.push(['baseline: API server accepted the creates (s)', (created / 1000).toFixed(1)]);
    figures.push(['first create -> all routes applied and statuses written (s)', `${(converged / 1000).toFixed(1)}  -> ratio to baseline ${(converged / created).toFixed(2)}`]);
    figures.push(['first create -> no more writes for 3 s (s)', (quiet / 1000 - 3).toFixed(1)]);
    figures.push(['API writes by the controller, total / per XTrinode', `${w1} / ${(w1 / N).toFixed(2)}  (${lastBreakdown})`]);
    figures.push(['controller RSS after convergence (MB)', `${rssMb(child.pid!).toFixed(0)}  (${await processFigures('http://127.0.0.1:19091/metrics')})`]);
    figures.push(['controller peak RSS until convergence (MB)', peakRssMb(child.pid!).toFixed(0)]);
    // V8 gives back what a burst of passes left only once the process idles (its memory reducer).
    await new Promise((r) => setTimeout(r, 20_000));
    figures.push(['controller RSS 20 s later, nothing to do (MB)', `${rssMb(child.pid!).toFixed(0)}  (${await processFigures('http://127.0.0.1:19091/metrics')})`]);
    if (process.env.BENCH_SMAPS) process.stderr.write(`${largestMappings(child.pid!)}\n`);
    if (process.env.BENCH_HEAPSNAPSHOT) await heapSnapshot(child.pid!);
    figures.push(['reconcile passes until convergence', String(await reconciles('http://127.0.0.1:19091/metrics'))]);

    // A restart with nothing changed: a new controller process must write nothing.
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    child = startController(cp.kubeconfig, 19092, 'bench-2');
    const t1 = Date.now();
    for (;;) {
      try {
        const text = await (await request('http://127.0.0.1:19092/metrics')).body.text();
        if (/xtrinode_controller_reconciles_total\{result="ok"\} [1-9]/.test(text)) break;
      } catch {
        /* starting */
      }
      if (Date.now() - t1 > 120_000) throw new Error('restarted controller did not reconcile within 2 minutes');
      await new Promise((r) => setTimeout(r, 200));
    }
    const resync = Date.now() - t1;
    await new Promise((r) => setTimeout(r, 2000));
    figures.push(['restart: process start -> first full reconcile (s)', (resync / 1000).toFixed(1)]);
    figures.push(['restart with nothing changed: API writes (target 0)', `${await writes('http://127.0.0.1:19092/metrics')}  (${lastBreakdown || 'none'})`]);
    figures.push(['controller RSS after the restart resync (MB)', `${rssMb(child.pid!).toFixed(0)}  (${await processFigures('http://127.0.0.1:19092/metrics')})`]);

    // One XTrinode changes its hostname: what does the controller write for it?
    await writes('http://127.0.0.1:19092/metrics');
    const before = lastCounts;
    const one = items.find((x) => !x.shared)!;
    await objects.patch({ apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { name: one.name, namespace: one.ns }, spec: { routing: { hostnameDomain: 'other.example.com' } } } as k8s.KubernetesObject, undefined, undefined, 'bench', undefined, k8s.PatchStrategy.MergePatch);
    const t2 = Date.now();
    for (;;) {
      const x = (await custom.getNamespacedCustomObject({ group: 'analytics.xtrinode.io', version: 'v1', namespace: one.ns, plural: 'xtrinodes', name: one.name })) as { status?: { hostname?: string } };
      if (x.status?.hostname?.endsWith('.other.example.com')) break;
      if (Date.now() - t2 > 60_000) throw new Error('the changed XTrinode was not reconciled within 60 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    const applied = Date.now() - t2;
    await new Promise((r) => setTimeout(r, 12_000)); // past the wait for a Gateway that never reports (10 s here: no Gateway runs)
    figures.push(['one XTrinode changed: status updated after (s) / API writes', `${(applied / 1000).toFixed(1)} / ${await writes('http://127.0.0.1:19092/metrics', before)}  (${lastBreakdown})`]);
  } finally {
    child.kill('SIGTERM');
    await cp.stop();
  }
  figures.push(['floor: a process that only loads the controller\'s modules (MB)', moduleFloor()]);
  const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`;
  process.stdout.write(`\nxtrinode controller benchmark (${new Date().toISOString()})\nmachine: ${machine}\nkube-apiserver 1.36.3 + etcd 3.6.16 on the same machine\n\n`);
  for (const [k, v] of figures) process.stdout.write(`${k.padEnd(62)} ${v}\n`);
}

/**
 * RSS of a Node process (with the controller's node flags) that imports controller/controller.ts
 * and client-node and does nothing else, after a full GC: the module graph's own share.
 */
function moduleFloor(): string {
  const script = `const bare = process.memoryUsage().rss;
await import('@kubernetes/client-node');
const withClient = process.memoryUsage().rss;
await import(${JSON.stringify(join(REPO_ROOT, 'controller/controller.ts'))});
globalThis.gc(); await new Promise((r) => setTimeout(r, 500)); globalThis.gc();
const m = process.memoryUsage();
process.stdout.write(JSON.stringify({ bare, withClient, rss: m.rss, heap: m.heapUsed }));`;
  const out = JSON.parse(execFileSync(process.execPath, [...controllerNodeArgs(), '--expose-gc', '--input-type=module', '-e', script], { cwd: REPO_ROOT, encoding: 'utf8' })) as { bare: number; withClient: number; rss: number; heap: number };
  const mb = (b: number) => (b / 1e6).toFixed(0);
  return `${mb(out.rss)}  (V8 heap used ${mb(out.heap)} MB; a bare node ${mb(out.bare)}, after importing @kubernetes/client-node ${mb(out.withClient)})`;
}

await main();
