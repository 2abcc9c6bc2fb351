/**
 * A kubelet for the project's own Deployments on the local stack: reads a Deployment that
 * `manifests/` created in the API server and runs its first container from the project's image
 * with podman (runc, host network), as a kubelet would run its Pod:
 *
 * - args, and env resolved like a kubelet: plain values, fieldRefs (metadata.namespace,
 *   metadata.name, status.podIP) and secretKeyRefs read from the real Secrets (optional ones
 *   may be missing);
 * - the Pod's user (securityContext.runAsUser), a read-only root filesystem, all capabilities
 *   dropped, no privilege escalation, exactly as the container's securityContext says;
 * - resources.limits.memory as the container's memory cgroup (swap off): going over it is an OOM
 *   kill, read back from the cgroup and from podman;
 * - the ServiceAccount named by the Pod spec, mounted where a Pod has it
 *   (/var/run/secrets/kubernetes.io/serviceaccount), with a token from the TokenRequest API:
 *   the process has exactly the RBAC the manifests bind to that ServiceAccount, nothing more.
 *
 * On a host network the ports and listen addresses of several Pods would collide; `hostEnv` sets
 * what the local stack must change for that (listen addresses and ports) and nothing else.
 */
import * as k8s from '@kubernetes/client-node';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { appendOutput } from './process-log.ts';
import { join } from 'node:path';
import { parseBytes } from '../router/main.ts';

/** runc here may lower rlimits but not raise them (no CAP_SYS_RESOURCE); these are a Pod's usual ones. */
const ULIMITS = ['--ulimit', 'nofile=16384:16384', '--ulimit', 'nproc=4096:4096'];

export interface PodRun {
  readonly name: string;
  readonly limitBytes: number;
  /** Highest memory use of the container's cgroup seen so far, in bytes. */
  peakBytes(): number;
  /** OOM kills inside the container so far (a worker process, or the container's own process). */
  oomKills(): number;
  /** SIGTERM, then SIGKILL after `graceSeconds` (the Pod's terminationGracePeriodSeconds, 30 by default). */
  stop(graceSeconds?: number): Promise<void>;
  /** SIGKILL now. */
  kill(): Promise<void>;
  readonly exited: Promise<number | null>;
}

export interface RunDeploymentOptions {
  kubeConfig: k8s.KubeConfig;
  /** The control plane's folder: its ca.crt becomes the ServiceAccount's ca.crt. */
  controlPlaneDir: string;
  apiServerPort: number;
  namespace: string;
  name: string;
  image: string;
  /** The Pod's IP (status.podIP): on a host network, the address it listens on. */
  podIP: string;
  /** Environment the host network needs changed (listen addresses, ports). */
  hostEnv?: Record<string, string>;
  /** Where its ServiceAccount files go (a folder of the stack's own, never the system temp folder). */
  runDir: string;
  logFile: string;
  /** The Pod's /etc/hosts (the cluster DNS stand-in, hack/cluster-dns.ts). */
  hostsFile?: string;
}

interface ContainerSpec {
  args?: string[];
  env?: Array<{ name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: { name: string; key: string; optional?: boolean } } }>;
  resources?: { limits?: { memory?: string } };
  securityContext?: { readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean; capabilities?: { drop?: string[] } };
}

export function podmanAvailable(): { ok: boolean; reason?: string } {
  for (const [cmd, pkg] of [['podman', 'podman'], ['runc', 'runc'], ['buildah', 'buildah']] as const) {
    if (spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0) return { ok: false, reason: `${cmd} is not installed (apt-get install -y ${pkg})` };
  }
  if (process.getuid?.() !== 0) return { ok: false, reason: 'podman with a memory limit and a host network needs root here' };
  return { ok: true };
}

/** Reads the Deployment and runs its container; resolves once podman started it. */
export async function runDeployment(o: RunDeploymentOptions): Promise<PodRun> {
  const apps = o.kubeConfig.makeApiClient(k8s.AppsV1Api);
  const core = o.kubeConfig.makeApiClient(k8s.CoreV1Api);
  const d = await apps.readNamespacedDeployment({ name: o.name, namespace: o.namespace });
  const pod = d.spec!.template.spec!;
  const c = pod.containers[0] as ContainerSpec;
  const podName = `${o.name}-local-${process.pid}`;
  const where = `Deployment ${o.namespace}/${o.name}`;

  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef) {
      const field = e.valueFrom.fieldRef.fieldPath;
      const v = field === 'metadata.namespace' ? o.namespace : field === 'metadata.name' ? podName : field === 'status.podIP' ? o.podIP : undefined;
      if (v === undefined) throw new Error(`${where}: env ${e.name} uses fieldRef ${field}, which the local stack does not provide`);
      env[e.name] = v;
    } else if (e.valueFrom?.secretKeyRef) {
      const ref = e.valueFrom.secretKeyRef;
      const secret = await core.readNamespacedSecret({ name: ref.name, namespace: o.namespace }).catch(() => undefined);
      const data = secret?.data?.[ref.key];
      if (data === undefined) {
        if (ref.optional) continue;
        throw new Error(`${where}: env ${e.name} needs key ${ref.key} of Secret ${o.namespace}/${ref.name}, which does not exist; a kubelet would not start this Pod`);
      }
      env[e.name] = Buffer.from(data, 'base64').toString('utf8');
    }
  }
  Object.assign(env, o.hostEnv ?? {});
  env.KUBERNETES_SERVICE_HOST = '127.0.0.1';
  env.KUBERNETES_SERVICE_PORT = String(o.apiServerPort);

  // The ServiceAccount, as a Pod mounts it.
  const sa = pod.serviceAccountName ?? 'default';
  const tr = await core.createNamespacedServiceAccountToken({ namespace: o.namespace, name: sa, body: { spec: { audiences: ['https://kubernetes.default.svc'], expirationSeconds: 24 * 3600 } } }).catch((e: unknown) => {
    throw new Error(`${where}: a token for ServiceAccount ${o.namespace}/${sa} could not be requested (does manifests/ create it?): ${(e as Error).message}`);
  });
  const saDir = join(o.runDir, `${podName}-serviceaccount`);
  rmSync(saDir, { recursive: true, force: true });
  mkdirSync(saDir, { recursive: true });
  writeFileSync(join(saDir, 'token'), tr.status?.token ?? '');
  writeFileSync(join(saDir, 'ca.crt'), readFileSync(join(o.controlPlaneDir, 'ca.crt')));
  writeFileSync(join(saDir, 'namespace'), o.namespace);
  for (const f of ['token', 'ca.crt', 'namespace']) chmodSync(join(saDir, f), 0o644);
  chmodSync(saDir, 0o755);

  const memory = c.resources?.limits?.memory;
  if (!memory) throw new Error(`${where}: no resources.limits.memory; the manifests must bound every container`);
  const limitBytes = parseBytes('memory limit', memory);
  const user = pod.securityContext?.runAsUser;
  if (user === undefined) throw new Error(`${where}: no securityContext.runAsUser`);
  const sc = c.securityContext ?? {};
  const envFile = join(o.runDir, `${podName}.env`);
  writeFileSync(envFile, Object.entries(env).map(([k, v]) => `${k}=${v.replace(/\n/g, ' ')}`).join('\n') + '\n', { mode: 0o600 });

  spawnSync('podman', ['rm', '-f', '--time', '0', podName], { stdio: 'ignore' });
  const args = [
    '--runtime', 'runc', 'run', '--name', podName, '--network', 'host', '--user', `${user}:${user}`,
    '--memory', String(limitBytes), '--memory-swap', String(limitBytes), ...ULIMITS,
    '--env-file', envFile, '-v', `${saDir}:/var/run/secrets/kubernetes.io/serviceaccount:ro`,
    ...(o.hostsFile ? ['--no-hosts', '-v', `${o.hostsFile}:/etc/hosts:ro`] : []),
    ...(sc.readOnlyRootFilesystem ? ['--read-only', '--read-only-tmpfs=false'] : []),
    ...(sc.allowPrivilegeEscalation === false ? ['--security-opt', 'no-new-privileges'] : []),
    ...(sc.capabilities?.drop ?? []).flatMap((cap) => ['--cap-drop', cap.toLowerCase()]),
    o.image, ...(c.args ?? []),
  ];
  const child: ChildProcess = spawn('podman', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  appendOutput(child, o.logFile);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));

  // The container's memory cgroup, watched while it runs (it disappears with the container).
  let peak = 0;
  let kills = 0;
  let cgroup: string | undefined;
  const sample = () => {
    if (!cgroup) cgroup = containerMemoryCgroup(podName);
    if (!cgroup) return;
    try {
      const v2 = existsSync(join(cgroup, 'memory.events'));
      peak = Math.max(peak, Number(readFileSync(join(cgroup, v2 ? (existsSync(join(cgroup, 'memory.peak')) ? 'memory.peak' : 'memory.current') : 'memory.max_usage_in_bytes'), 'utf8').trim()));
      kills = Math.max(kills, Number(/oom_kill (\d+)/.exec(readFileSync(join(cgroup, v2 ? 'memory.events' : 'memory.oom_control'), 'utf8'))?.[1] ?? 0));
    } catch {
      /* the container is gone */
    }
  };
  const timer = setInterval(sample, 500);
  timer.unref();
  let oomKilledContainer = false;
  void exited.then(() => {
    clearInterval(timer);
    const r = spawnSync('podman', ['inspect', '--format', '{{.State.OOMKilled}}', podName], { encoding: 'utf8' });
    oomKilledContainer = r.stdout.trim() === 'true';
    spawnSync('podman', ['rm', '-f', '--time', '0', podName], { stdio: 'ignore' });
    rmSync(saDir, { recursive: true, force: true });
    rmSync(envFile, { force: true });
  });

  return {
    name: podName,
    limitBytes,
    peakBytes: () => (sample(), peak),
    oomKills: () => (sample(), kills + (oomKilledContainer && kills === 0 ? 1 : 0)),
    exited,
    stop: async (graceSeconds = pod.terminationGracePeriodSeconds ?? 30) => {
      if (child.exitCode !== null) return;
      sample();
      spawnSync('podman', ['stop', '--time', String(graceSeconds), podName], { stdio: 'ignore' });
      await exited;
    },
    kill: async () => {
      if (child.exitCode !== null) return;
      sample();
      spawnSync('podman', ['kill', '--signal', 'KILL', podName], { stdio: 'ignore' });
      await exited;
    },
  };
}

/** The memory cgroup folder of a running container, from its process's /proc/<pid>/cgroup. */
function containerMemoryCgroup(container: string): string | undefined {
  const r = spawnSync('podman', ['inspect', '--format', '{{.State.Pid}}', container], { encoding: 'utf8' });
  const pid = Number(r.stdout.trim());
  if (!pid) return undefined;
  try {
    const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n').map((l) => l.split(':'));
    const v1 = lines.find((l) => l[1]!.split(',').includes('memory'));
    if (v1 && existsSync('/sys/fs/cgroup/memory')) return join('/sys/fs/cgroup/memory', v1[2]!);
    const unified = lines.find((l) => l[0] === '0' && l[1] === '');
    return unified ? join('/sys/fs/cgroup', unified[2]!) : undefined;
  } catch {
    return undefined;
  }
}
