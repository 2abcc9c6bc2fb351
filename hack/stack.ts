/**
 * The whole product on one machine, no Docker: a real control plane (etcd + kube-apiserver with
 * the Gateway API and XTrinode CRDs), a Gateway API implementation run out of cluster (Traefik,
 * hack/traefik.ts, or Envoy Gateway with Envoy, hack/envoy-gateway.ts: `gateway` or
 * XTRINODE_GATEWAY=traefik|envoy), the controller and the router, Trino coordinators (real Trino in network namespaces
 * where possible, the fake otherwise), and the seed examples applied.
 *
 * The controller and the router run as a cluster runs them: `manifests/` is applied to the API
 * server (as `kubectl apply -k manifests/` would; hack/manifests.ts), and their Deployments are run
 * from the project's image (`npm run image`, built first when the sources are newer) with podman
 * by hack/pods.ts: the Deployments' args, env, user, read-only root filesystem, memory limit and
 * ServiceAccount tokens carrying exactly the manifests' RBAC. Services resolve by name through a
 * hosts file standing in for cluster DNS (hack/cluster-dns.ts). `XTRINODE_RUN=processes` (or
 * `run: 'processes'`) runs them as plain processes instead, with the admin kubeconfig, for quick
 * development loops on machines without podman.
 *
 * There is no kubelet or kube-proxy: Services get ClusterIPs from a loopback range
 * (127.0.96.0/24), the processes behind them listen on those addresses (real Trino, which cannot
 * bind one address, sits in its namespace behind a small TCP forwarder standing in for
 * kube-proxy), and the Gateway dials ClusterIPs (Traefik's `traefik.io/service.nativelb`, Envoy
 * Gateway's `routingType: Service`). Every coordinator
 * has its Deployment; a kubelet stand-in (conformance/kubelet-stand-in.ts) stops its process when
 * the controller scales it to zero (suspend) and starts it again on resume, and while it is down
 * its ClusterIP refuses connections, as a Service without ready endpoints does.
 *
 * Logs go to `logsDir` (default `.logs/stack` in the repository) and stay after `stop()`;
 * everything else lives in temporary folders that `stop()` removes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { writeFileSync, readFileSync, mkdirSync, rmSync } from 'node:fs';
import { appendOutput } from './process-log.ts';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { request } from 'undici';
import { freePort, startControlPlane, type ControlPlane } from './control-plane.ts';
import { startTrino, trinoAvailable, type TrinoCoordinator } from './trino.ts';
import { FakeCoordinator } from '../conformance/fake-coordinator.ts';
import { coordinatorDeployment } from '../conformance/workloads.ts';
import { startKubeletStandIn } from '../conformance/kubelet-stand-in.ts';
import { REPO_ROOT, componentDir } from '../test/components.ts';
import { routerSettings } from './manifests.ts';
import { memoryLimit, type MemoryLimit } from './memory-limit.ts';
import { kustomizedObjects } from './manifests.ts';
import { helmInstall } from './chart.ts';
import { podmanAvailable, runDeployment, type PodRun } from './pods.ts';
import { startClusterDns, type ClusterDns } from './cluster-dns.ts';
import { buildImage, DEFAULT_IMAGE, imageIsCurrent } from './image.ts';
import { startTraefik, traefikVersion, TRAEFIK_CLASS, TRAEFIK_CONTROLLER } from './traefik.ts';
import { installEnvoyGateway, startEnvoyGateway, envoyGatewayVersion, ENVOY_GATEWAY_CLASS, ENVOY_VERSION } from './envoy-gateway.ts';

export const GATEWAY = { namespace: 'trino-gateway', name: 'trino-gateway' };
export type GatewayImplementation = 'traefik' | 'envoy';
/** The GatewayClass of each implementation the stack can run. */
export const GATEWAY_CLASSES: Record<GatewayImplementation, string> = { traefik: TRAEFIK_CLASS, envoy: ENVOY_GATEWAY_CLASS };
/** How messages name each implementation. */
export const GATEWAY_NAMES: Record<GatewayImplementation, string> = { traefik: 'Traefik', envoy: 'Envoy Gateway' };
export { TRAEFIK_CONTROLLER };

/** XTRINODE_GATEWAY (traefik, the default, or envoy); anything else is refused by name. */
export function gatewayFromEnv(v = process.env.XTRINODE_GATEWAY): GatewayImplementation {
  if (v === undefined || v === '' || v === 'traefik') return 'traefik';
  if (v === 'envoy' || v === 'envoy-gateway') return 'envoy';
  throw new Error(`XTRINODE_GATEWAY=${v}: the local stack runs traefik or envoy (Envoy Gateway)`);
}
export const ROUTER_SECRET = 'local-stack-secret-not-for-production';
/** The local stack's router queue (QUEUE_LIMIT, QUEUE_TIMEOUT): small, so the conformance run reaches both. */
export const STACK_QUEUE = { limit: 6, timeoutMs: 40_000 };

export interface StackOptions {
  /** Port of the Gateway listener on 127.0.0.1. */
  gatewayPort?: number;
  /** The Gateway API implementation. Default: XTRINODE_GATEWAY, else traefik. */
  gateway?: GatewayImplementation;
  /** Real Trino for the shared group (runtime-shared-1/2) when the machine allows. */
  realTrino?: boolean;
  /** Apply examples/seed.yaml (and the coordinators behind it). */
  examples?: boolean;
  log?: (line: string) => void;
  /** Where the logs of every process go (emptied at start, kept after stop). Default `.logs/stack`. */
  logsDir?: string;
  /** How the controller and the router run (see the file comment). Default: XTRINODE_RUN, else image. */
  run?: 'image' | 'processes';
  /**
   * With run 'image': how they are installed: the objects of `kubectl apply -k manifests/`, or
   * `helm install` of charts/xtrinode-gateway (its router Secret generated by the chart).
   * Default: XTRINODE_INSTALL, else kustomize.
   */
  install?: 'kustomize' | 'helm';
}

/** What the tests read of the router's memory: its limit, the highest use seen, OOM kills. */
export interface MemoryWatch {
  readonly limitBytes: number;
  peakBytes(): number;
  oomKills(): number;
}

export interface Coordinator {
  kind: 'trino' | 'fake';
  name: string;
  namespace: string;
  clusterIP: string;
  port: number;
  /** The process behind the Service: `starting` until it serves on its ClusterIP. */
  state: 'stopped' | 'starting' | 'running' | 'stopping';
  /** Resolves when the current start finishes (at once when not starting). */
  started: Promise<void>;
  fake?: FakeCoordinator;
  trino?: TrinoCoordinator;
  /** Real Trino: its network namespace index, and the kube-proxy stand-in while it is up. */
  trinoIndex?: number;
  forwarder?: Server;
}

export interface Stack {
  cp: ControlPlane;
  kubeConfig: k8s.KubeConfig;
  /** The Gateway API implementation serving the Gateway, its GatewayClass and its version line. */
  gateway: GatewayImplementation;
  gatewayClass: string;
  gatewayVersion: string;
  gatewayUrl: string;
  gatewayPort: number;
  coordinators: Map<string, Coordinator>;
  routerUrl: string;
  /** The router's admin port: /healthz, /readyz, /metrics. */
  routerAdminUrl: string;
  /** The router's memory cgroup, limited as its Deployment's `resources.limits.memory`. */
  routerMemory: MemoryWatch;
  /** How the controller and the router run. */
  run: 'image' | 'processes';
  controllerMetricsUrl: string;
  hostsFile: string;
  trinoCliJar: string;
  realTrino: { ok: boolean; reason?: string };
  /**
   * A coordinator (fake, or real Trino) behind Service `<name>-coordinator` in `namespace`, run by
   * Deployment `<name>-coordinator` (labelled for the XTrinode `name`). `suspended`: the Deployment
   * starts at zero replicas, as the controller leaves a suspended runtime, and no process runs.
   * Resolves once the Service exists; a real Trino may still be starting (`started`).
   */
  addCoordinator(namespace: string, name: string, opts?: { kind?: 'trino' | 'fake'; oauth2?: boolean; port?: number; suspended?: boolean }): Promise<Coordinator>;
  /** Where the logs are (kept after stop). */
  logsDir: string;
  /** Kills the router (SIGKILL, no drain) and starts a new one; resolves once it serves. */
  restartRouter(): Promise<void>;
  /** Restarts the controller with extra environment (e.g. SHARED_GROUPS=router). */
  restartController(env?: Record<string, string>): Promise<void>;
  apply(obj: Record<string, unknown>): Promise<void>;
  stop(): Promise<void>;
}


function spawnLogged(cmd: string, args: string[], env: NodeJS.ProcessEnv, log: string): ChildProcess {
  const p = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  appendOutput(p, log);
  return p;
}

/** Sends `signal` and resolves once the process has exited (at once if it already has). */
function stopProcess(p: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  const exited = new Promise<void>((r) => p.once('exit', () => r()));
  p.kill(signal);
  return exited;
}

/** Polls `url` until it answers (200, or what `ok` accepts), optionally with a Host header. */
async function waitHttp(url: string, what: string, o: { host?: string; timeoutMs?: number; ok?: (status: number) => boolean } = {}): Promise<void> {
  const timeoutMs = o.timeoutMs ?? 60_000;
  const ok = o.ok ?? ((s: number) => s === 200);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = await request(url, { headersTimeout: 5000, ...(o.host ? { headers: { host: o.host } } : {}) });
      await r.body.dump();
      if (ok(r.statusCode)) return;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error(`${what}: not answering at ${url}${o.host ? ` (Host ${o.host})` : ''} within ${timeoutMs / 1000}s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * kube-proxy stand-in: clusterIP:port -> target. Closing it also resets the connections it
 * carries (keep-alive ones from Traefik and the router would otherwise hold it open), as the
 * endpoint of a stopped pod does.
 */
function forward(listenHost: string, listenPort: number, targetHost: string, targetPort: number): Promise<Server> {
  const open = new Set<Socket>();
  const server = createServer({ noDelay: true }, (sock) => {
    open.add(sock);
    sock.once('close', () => open.delete(sock));
    // noDelay as kube-proxy's kernel path has no Nagle stall: without it every small last
    // segment of a result page waits for the peer's delayed ACK (about 40 ms a page).
    const up = connect({ port: targetPort, host: targetHost, noDelay: true });
    sock.pipe(up).pipe(sock);
    const end = () => {
      sock.destroy();
      up.destroy();
    };
    sock.on('error', end);
    up.on('error', end);
  });
  const close = server.close.bind(server);
  server.close = (cb?: (err?: Error) => void) => {
    close(cb);
    for (const sock of open) sock.destroy();
    return server;
  };
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(listenPort, listenHost, () => resolve(server));
  });
}

export async function startStack(o: StackOptions = {}): Promise<Stack> {
  const say = o.log ?? ((l: string) => process.stderr.write(`[stack] ${l}\n`));
  const t0 = Date.now();
  const gatewayPort = o.gatewayPort ?? 18080;
  const logsDir = o.logsDir ?? join(REPO_ROOT, '.logs/stack');
  const run = o.run ?? (process.env.XTRINODE_RUN === 'processes' ? 'processes' : 'image');
  const gateway = o.gateway ?? gatewayFromEnv();
  const install = o.install ?? (process.env.XTRINODE_INSTALL === 'helm' ? 'helm' : 'kustomize');
  if (install === 'helm' && run !== 'image') throw new Error('the local stack installs with helm only when it runs the image (XTRINODE_RUN=processes runs no chart)');
  const gatewayClass = GATEWAY_CLASSES[gateway];
  const gatewayName = GATEWAY_NAMES[gateway];
  if (run === 'image') {
    const can = podmanAvailable();
    if (!can.ok) throw new Error(`the local stack runs the controller and the router from the project's image with podman, and ${can.reason}. (For a quick loop without the image: XTRINODE_RUN=processes.)`);
    if (!imageIsCurrent(DEFAULT_IMAGE)) {
      say(`building the image ${DEFAULT_IMAGE} (npm run image; the sources are newer than the image or it does not exist)`);
      const img = buildImage({ log: say });
      say(`image ${img.tag}: ${(img.sizeBytes / 1e6).toFixed(1)} MB, built in ${img.seconds.toFixed(1)} s`);
    }
  }
  rmSync(logsDir, { recursive: true, force: true });
  mkdirSync(logsDir, { recursive: true });
  const cp = await startControlPlane({ serviceCidr: '127.0.96.0/24', logsDir });
  const kubeConfig = new k8s.KubeConfig();
  kubeConfig.loadFromFile(cp.kubeconfig);
  const objects = k8s.KubernetesObjectApi.makeApiClient(kubeConfig);
  const core = kubeConfig.makeApiClient(k8s.CoreV1Api);
  const apply = async (obj: Record<string, unknown>) => {
    await objects.patch(obj as k8s.KubernetesObject, undefined, undefined, 'xtrinode-stack', true, k8s.PatchStrategy.ServerSideApply);
  };
  const children: ChildProcess[] = [];
  const servers: Server[] = [];
  const coordinators = new Map<string, Coordinator>();
  let trinoIndex = 0;
  const realTrino = o.realTrino === false ? { ok: false, reason: 'disabled' } : trinoAvailable();

  let standIn: { stop(): Promise<void> } | undefined;
  let routerCgroup: MemoryLimit | undefined;
  let routerMemory: MemoryWatch | undefined;
  let dns: ClusterDns | undefined;
  const pods: PodRun[] = [];
  const stop = async () => {
    await standIn?.stop().catch(() => undefined);
    await Promise.all([
      ...children.map((c) => Promise.race([stopProcess(c, 'SIGTERM'), new Promise((r) => setTimeout(r, 10_000).unref())])),
      ...pods.map((p) => p.stop(10)),
    ]);
    dns?.stop();
    if (routerMemory) {
      const kills = routerMemory.oomKills();
      say(`router memory: peak ${(routerMemory.peakBytes() / 2 ** 20).toFixed(0)} MiB of its ${(routerMemory.limitBytes / 2 ** 20).toFixed(0)} MiB limit${kills ? `; ${kills} OOM KILLS` : ''}`);
    }
    routerCgroup?.remove();
    for (const s of servers) s.close();
    await Promise.all([...coordinators.values()].map(async (c) => {
      await c.started.catch(() => undefined);
      await stopCoordinator(c);
    }));
    await cp.stop();
  };

  /**
   * Starts the process behind a coordinator's Service; its ClusterIP serves once it is ready.
   * Starting one that is starting or running returns the start under way: the stack (adding a
   * coordinator) and the kubelet stand-in (seeing its Deployment) may both ask, in either order.
   * A start that fails leaves nothing listening.
   */
  const startCoordinator = (c: Coordinator, oauth2: boolean): Promise<void> => {
    if (c.state === 'starting' || c.state === 'running') return c.started;
    c.state = 'starting';
    c.started = (async () => {
      try {
        if (c.kind === 'trino') {
          const t = await startTrino({ name: c.name, index: c.trinoIndex!, logsDir });
          c.trino = t;
          await t.ready();
          c.forwarder = await forward(c.clusterIP, c.port, t.address, t.port);
        } else {
          c.fake = new FakeCoordinator({ name: c.name, ...(oauth2 ? { oauth2: true } : {}) });
          await c.fake.start(c.port, c.clusterIP);
        }
      } catch (e) {
        await releaseCoordinator(c).catch(() => undefined);
        throw e;
      }
      c.state = 'running';
    })();
    c.started.catch((e: unknown) => {
      c.state = 'stopped';
      say(`coordinator ${c.namespace}/${c.name} did not start: ${(e as Error).message}`);
    });
    return c.started;
  };
  /** Closes what a coordinator holds: its ClusterIP first (no ready endpoint), then its process. */
  const releaseCoordinator = async (c: Coordinator): Promise<void> => {
    if (c.forwarder) await new Promise((r) => c.forwarder!.close(r));
    c.forwarder = undefined;
    await c.fake?.stop();
    await c.trino?.stop();
    c.fake = undefined;
    c.trino = undefined;
  };
  /** Stops it, after any start under way has ended. */
  const stopCoordinator = async (c: Coordinator): Promise<void> => {
    if (c.state === 'starting') await c.started.catch(() => undefined);
    if (c.state === 'stopped') return;
    c.state = 'stopping';
    await releaseCoordinator(c);
    c.state = 'stopped';
  };

  try {
    for (const ns of ['trino-gateway', 'xtrinode-system', 'production']) await apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });

    // Gateway API: the class and the Gateway the implementation serves.
    if (gateway === 'envoy') await installEnvoyGateway(cp, apply);
    else await apply({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: TRAEFIK_CLASS }, spec: { controllerName: TRAEFIK_CONTROLLER } });
    await apply({
      apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: GATEWAY,
      spec: { gatewayClassName: gatewayClass, listeners: [{ name: 'http', protocol: 'HTTP', port: gatewayPort, allowedRoutes: { namespaces: { from: 'Same' } } }] },
    });

    // Router Service first: its ClusterIP is where the router listens. Traefik, run out of
    // cluster, dials the ClusterIP (as it does for every Service here): nativelb.
    if (install === 'helm') {
      const at = DEFAULT_IMAGE.lastIndexOf(':');
      await helmInstall(cp.kubeconfig, ['--set', `image.repository=${DEFAULT_IMAGE.slice(0, at)}`, '--set', `image.tag=${DEFAULT_IMAGE.slice(at + 1)}`, '--set-string', 'router.service.annotations.traefik\\.io/service\\.nativelb=true']);
      say(`installed with helm install of charts/xtrinode-gateway (image ${DEFAULT_IMAGE})`);
    } else {
      await apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'xtrinode-router', namespace: GATEWAY.namespace, annotations: { 'traefik.io/service.nativelb': 'true' } }, spec: { ports: [{ name: 'http', port: 8080 }] } });
    }
    const routerIP = (await core.readNamespacedService({ name: 'xtrinode-router', namespace: GATEWAY.namespace })).spec!.clusterIP!;

    const metricsPort = await freePort();
    const deployed = routerSettings();
    let restartController: (extra?: Record<string, string>) => Promise<void>;
    let restartRouter: () => Promise<void>;
    if (run === 'image') {
      // What `kubectl apply -k manifests/` creates, with the image just built; the router's Secret
      // first. (helm install has created its objects already.)
      if (install === 'kustomize') {
        await apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'xtrinode-router', namespace: GATEWAY.namespace }, stringData: { 'router-secret': ROUTER_SECRET, 'cookie-secret': ROUTER_SECRET } });
        for (const obj of kustomizedObjects(DEFAULT_IMAGE)) {
          const meta = obj.metadata as { name: string; annotations?: Record<string, string> };
          if (obj.kind === 'Service' && meta.name === 'xtrinode-router') meta.annotations = { ...meta.annotations, 'traefik.io/service.nativelb': 'true' };
          await apply(obj);
        }
      }
      dns = await startClusterDns(kubeConfig, join(cp.dir, 'cluster-hosts'));
      const apiServerPort = Number(new URL(cp.url).port);
      // One Pod of each Deployment, on the host network: only listen addresses and ports change.
      const pod = (namespace: string, name: string, podIP: string, hostEnv: Record<string, string>, log: string) =>
        runDeployment({ kubeConfig, controlPlaneDir: cp.dir, apiServerPort, namespace, name, image: DEFAULT_IMAGE, podIP, hostEnv: { LOG_LEVEL: 'info', ...hostEnv }, runDir: cp.dir, logFile: join(logsDir, log), hostsFile: dns!.hostsFile }).then((p) => {
          pods.push(p);
          return p;
        });
      const startController = (extra: Record<string, string> = {}) => pod('xtrinode-system', 'xtrinode-controller', '127.0.0.1', { METRICS_PORT: String(metricsPort), METRICS_HOST: '127.0.0.1', ...extra }, 'controller.log');
      const startRouter = () => pod(GATEWAY.namespace, 'xtrinode-router', routerIP, { ROUTER_HOST: routerIP, QUEUE_LIMIT: String(STACK_QUEUE.limit), QUEUE_TIMEOUT: `${STACK_QUEUE.timeoutMs / 1000}s` }, 'router.log');
      let controller = await startController();
      let router = await startRouter();
      const routerRuns = [router];
      routerMemory = {
        limitBytes: router.limitBytes,
        peakBytes: () => Math.max(...routerRuns.map((r) => r.peakBytes())),
        oomKills: () => routerRuns.reduce((n, r) => n + r.oomKills(), 0),
      };
      restartController = async (extra = {}) => {
        await controller.stop(); // releases its Lease on the way out
        controller = await startController(extra);
        await waitHttp(`http://127.0.0.1:${metricsPort}/healthz`, 'controller');
      };
      restartRouter = async () => {
        await router.kill();
        router = await startRouter();
        routerRuns.push(router);
        await waitHttp(`http://${routerIP}:9090/readyz`, 'router');
      };
    } else {
      const node = process.execPath;
      const env = { KUBECONFIG: cp.kubeconfig, LOG_LEVEL: 'info' };
      const startController = (extra: Record<string, string> = {}) => {
        const c = spawnLogged(node, [join(REPO_ROOT, 'controller/main.ts')], { ...env, GATEWAY: `${GATEWAY.namespace}/${GATEWAY.name}`, ROUTER_SERVICE: `${GATEWAY.namespace}/xtrinode-router:8080`, POD_NAMESPACE: 'xtrinode-system', POD_NAME: 'controller-0', METRICS_PORT: String(metricsPort), METRICS_HOST: '127.0.0.1', ...extra }, join(logsDir, 'controller.log'));
        children.push(c);
        return c;
      };
      let controller = startController();
      restartController = async (extra = {}) => {
        await stopProcess(controller, 'SIGTERM'); // releases its Lease on the way out
        controller = startController(extra);
        await waitHttp(`http://127.0.0.1:${metricsPort}/healthz`, 'controller');
      };
      // The router with its Deployment's settings (WORKERS, NODE_OPTIONS, STATEMENT_BUDGET, ...)
      // and under its memory limit, in a cgroup of its own.
      routerCgroup = memoryLimit(`xtrinode-router-${process.pid}-${Date.now()}`, deployed.memoryLimitBytes);
      routerMemory = routerCgroup;
      const startRouter = () => {
        const r = spawnLogged(node, [join(REPO_ROOT, 'router/main.ts')], { ...env, ...deployed.env, ROUTER_HOST: routerIP, ROUTER_PORT: '8080', ADMIN_PORT: '9090', ROUTES_CONFIGMAP: `${GATEWAY.namespace}/trino-gateway-routes`, SERVICE_ADDRESSES: 'cluster-ip', RESUME: 'on', RESUME_TIMEOUT: '3m', QUEUE_LIMIT: String(STACK_QUEUE.limit), QUEUE_TIMEOUT: `${STACK_QUEUE.timeoutMs / 1000}s`, POD_NAMESPACE: GATEWAY.namespace, POD_NAME: 'router-0', POD_IP: routerIP, ROUTER_SECRET, OAUTH2_COOKIE_SECRET: ROUTER_SECRET }, join(logsDir, 'router.log'));
        routerCgroup!.add(r.pid!);
        children.push(r);
        return r;
      };
      let router = startRouter();
      restartRouter = async () => {
        await stopProcess(router, 'SIGKILL');
        router = startRouter();
        await waitHttp(`http://${routerIP}:9090/readyz`, 'router');
      };
    }

    let gatewayVersion: string;
    if (gateway === 'envoy') {
      const eg = await startEnvoyGateway({ kubeconfig: cp.kubeconfig, dir: join(cp.dir, 'envoy-gateway'), logFile: join(logsDir, 'envoy-gateway.log') });
      children.push(eg.process);
      gatewayVersion = `envoy-gateway ${envoyGatewayVersion()} with envoy ${ENVOY_VERSION} (out of cluster, host infrastructure, routingType Service)`;
    } else {
      children.push(startTraefik({ kubeconfig: cp.kubeconfig, gatewayPort, logFile: join(logsDir, 'traefik.log') }));
      gatewayVersion = `traefik ${traefikVersion()} (out of cluster, nativeLB)`;
    }

    const oauth2 = new Set<string>();
    const addCoordinator: Stack['addCoordinator'] = async (namespace, name, opts = {}) => {
      const kind = opts.kind === 'trino' && realTrino.ok ? 'trino' : 'fake';
      const port = opts.port ?? 8080;
      const key = `${namespace}/${name}`;
      await apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
      await apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: `${name}-coordinator`, namespace, annotations: { 'traefik.io/service.nativelb': 'true' } }, spec: { ports: [{ name: 'http', port }] } });
      const clusterIP = (await core.readNamespacedService({ name: `${name}-coordinator`, namespace })).spec!.clusterIP!;
      const c: Coordinator = { kind, name, namespace, clusterIP, port, state: 'stopped', started: Promise.resolve(), ...(kind === 'trino' ? { trinoIndex: ++trinoIndex } : {}) };
      if (opts.oauth2) oauth2.add(key);
      coordinators.set(key, c);
      // Its Deployment tells the kubelet stand-in what to run; the pod template is never used here.
      await apply(coordinatorDeployment(namespace, name, { image: 'unused', suspended: opts.suspended === true }));
      if (!opts.suspended) {
        const started = startCoordinator(c, opts.oauth2 === true);
        if (kind === 'fake') await started; // a real Trino takes 10-20 s: callers wait on `started`
      }
      return c;
    };
    standIn = startKubeletStandIn(kubeConfig.makeApiClient(k8s.AppsV1Api), () => new Set([...coordinators.values()].map((c) => c.namespace)), (namespace, name) => {
      const c = coordinators.get(`${namespace}/${name}`);
      if (!c) return undefined;
      return {
        get running() {
          return c.state === 'running' || c.state === 'starting';
        },
        set running(_v: boolean) {
          /* the stack keeps its own state */
        },
        get ready() {
          return c.state === 'running';
        },
        start: () => startCoordinator(c, oauth2.has(`${namespace}/${name}`)),
        stop: () => stopCoordinator(c),
      };
    }, 1000, (line) => say(line));

    await waitHttp(`http://${routerIP}:9090/healthz`, 'router');
    await waitHttp(`http://127.0.0.1:${metricsPort}/healthz`, 'controller');
    await waitHttp(`http://127.0.0.1:${gatewayPort}/`, gatewayName, { ok: () => true, timeoutMs: 120_000 });

    if (o.examples !== false) {
      const docs = parseAllDocuments(readFileSync(join(REPO_ROOT, 'examples/seed.yaml'), 'utf8'));
      const xts = (Array.isArray(docs) ? docs : []).map((d) => d.toJS() as { metadata: { name: string; namespace: string } });
      for (const x of xts) {
        const shared = x.metadata.name.startsWith('runtime-shared-');
        await addCoordinator(x.metadata.namespace, x.metadata.name, { kind: shared && o.realTrino !== false ? 'trino' : 'fake' });
      }
      for (const x of xts) await apply(x as unknown as Record<string, unknown>);
      const trinos = [...coordinators.values()].filter((c) => c.kind === 'trino');
      if (trinos.length > 0) say(`waiting for ${trinos.length} Trino coordinators to start`);
      await Promise.all(trinos.map((c) => c.started));
      // Routes are in place once the Gateway (and the router, for shared and default) answer every entry point.
      for (const host of ['production--runtime-a.trino.example.com', 'shared.trino.example.com', 'analytics.example.com', 'localhost']) {
        await waitHttp(`http://127.0.0.1:${gatewayPort}/v1/info`, `routes for ${host} through ${gatewayName}`, { host: `${host}:${gatewayPort}`, timeoutMs: 90_000 });
      }
    }
    if (!realTrino.ok) say(`real Trino not used: ${realTrino.reason}; fake coordinators stand in`);

    const hostsFile = join(cp.dir, 'hosts');
    writeFileSync(hostsFile, '127.0.0.1 localhost production--runtime-a.trino.example.com shared.trino.example.com analytics.example.com\n');
    say(`up in ${((Date.now() - t0) / 1000).toFixed(1)}s; logs in ${logsDir}`);
    return {
      cp, kubeConfig, gateway, gatewayClass, gatewayVersion, gatewayUrl: `http://127.0.0.1:${gatewayPort}`, gatewayPort, coordinators,
      routerUrl: `http://${routerIP}:8080`, routerAdminUrl: `http://${routerIP}:9090`, routerMemory: routerMemory!, run, controllerMetricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
      hostsFile, trinoCliJar: join(componentDir('trino'), 'trino-cli.jar'), realTrino,
      addCoordinator, restartController, restartRouter, apply, stop, logsDir,
    };
  } catch (e) {
    await stop().catch(() => undefined);
    throw e;
  }
}
