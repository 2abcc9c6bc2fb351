/**
 * A real Kubernetes control plane as plain processes, the way controller-runtime's envtest does:
 * etcd + kube-apiserver with a throwaway CA, serving and client certificates, RBAC authorization,
 * an admin kubeconfig, and the Gateway API (standard) and XTrinode CRDs installed.
 *
 *   node hack/control-plane.ts            # runs until Ctrl-C, prints KUBECONFIG
 *
 * @example
 * const cp = await startControlPlane();
 * process.env.KUBECONFIG = cp.kubeconfig;
 * ...
 * await cp.stop();
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { appendOutput } from './process-log.ts';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT, componentDir, gatewayApiCrdsFile } from '../test/components.ts';

export interface ControlPlane {
  dir: string;
  /** Where etcd.log and apiserver.log are written (kept after stop() when it is not `dir`). */
  logsDir: string;
  kubeconfig: string;
  url: string;
  /** Stops the API server only (etcd keeps the data), for restart tests. */
  stopApiServer(): Promise<void>;
  startApiServer(): Promise<void>;
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
    s.on('error', reject);
  });
}

/**
 * The first of `n` consecutive free TCP ports on 127.0.0.1 (a router with WORKERS=n listens on
 * PEER_PORT to PEER_PORT+n-1): all n are bound at once to check, then released.
 */
export async function freePortRun(n: number): Promise<number> {
  const bind = (port: number) => new Promise<Server | undefined>((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(undefined));
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
  for (let attempt = 0; attempt < 50; attempt++) {
    const first = await freePort();
    if (first + n - 1 > 65535) continue;
    const held = await Promise.all(Array.from({ length: n }, (_, i) => bind(first + i)));
    await Promise.all(held.map((s) => new Promise<void>((r) => (s ? s.close(() => r()) : r()))));
    if (held.every(Boolean)) return first;
  }
  throw new Error(`no run of ${n} free consecutive ports on 127.0.0.1 in 50 attempts`);
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeCerts(dir: string): void {
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=xtrinode-test-ca'], dir);
  writeFileSync(join(dir, 'serving.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'serving.key', '-out', 'serving.csr', '-subj', '/CN=kube-apiserver'], dir);
  openssl(['x509', '-req', '-in', 'serving.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'serving.crt', '-days', '2', '-extfile', 'serving.ext'], dir);
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'admin.key', '-out', 'admin.csr', '-subj', '/O=system:masters/CN=admin'], dir);
  openssl(['x509', '-req', '-in', 'admin.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'admin.crt', '-days', '2', '-extfile', 'client.ext'], dir);
  openssl(['genrsa', '-out', 'sa.key', '2048'], dir);
  openssl(['rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir);
}

function kubeconfigYaml(url: string, dir: string): string {
  const b64 = (f: string) => readFileSync(join(dir, f)).toString('base64');
  return `apiVersion: v1
kind: Config
clusters:
- name: test
  cluster: {server: "${url}", certificate-authority-data: ${b64('ca.crt')}}
users:
- name: admin
  user: {client-certificate-data: ${b64('admin.crt')}, client-key-data: ${b64('admin.key')}}
contexts:
- name: test
  context: {cluster: test, user: admin}
current-context: test
`;
}

function spawnLogged(bin: string, args: string[], log: string): ChildProcess {
  const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  appendOutput(p, log);
  return p;
}

async function stopProcess(p: ChildProcess | undefined): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(t);
}

/**
 * etcd and kube-apiserver in a temporary folder (removed by `stop()`). `logsDir`: where
 * `etcd.log` and `apiserver.log` go, to outlive the run; default the temporary folder.
 */
export async function startControlPlane(opts: { installCrds?: boolean; serviceCidr?: string; logsDir?: string } = {}): Promise<ControlPlane> {
  const t0 = Date.now();
  const apiserverBin = join(componentDir('apiserver'), 'kube-apiserver');
  const etcdDir = componentDir('etcd');
  const etcdBin = join(etcdDir, 'etcd');
  const dir = mkdtempSync(join(tmpdir(), 'xtrinode-cp-'));
  const logs = opts.logsDir ?? dir;
  mkdirSync(logs, { recursive: true });
  makeCerts(dir);
  const [etcdPort, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];
  const etcd = spawnLogged(etcdBin, [
    '--name', 'test', '--data-dir', join(dir, 'etcd'),
    '--listen-client-urls', `http://127.0.0.1:${etcdPort}`, '--advertise-client-urls', `http://127.0.0.1:${etcdPort}`,
    '--listen-peer-urls', `http://127.0.0.1:${etcdPeer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${etcdPeer}`,
    '--initial-cluster', `test=http://127.0.0.1:${etcdPeer}`, '--unsafe-no-fsync', '--log-level', 'warn',
  ], join(logs, 'etcd.log'));
  const url = `https://127.0.0.1:${apiPort}`;
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, kubeconfigYaml(url, dir));
  const agent = new Agent({ connect: { ca: readFileSync(join(dir, 'ca.crt')), cert: readFileSync(join(dir, 'admin.crt')), key: readFileSync(join(dir, 'admin.key')) } });

  let apiserver: ChildProcess | undefined;
  const startApiServer = async () => {
    apiserver = spawnLogged(apiserverBin, [
      `--etcd-servers=http://127.0.0.1:${etcdPort}`,
      `--secure-port=${apiPort}`, '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1',
      `--tls-cert-file=${join(dir, 'serving.crt')}`, `--tls-private-key-file=${join(dir, 'serving.key')}`,
      `--client-ca-file=${join(dir, 'ca.crt')}`,
      '--authorization-mode=RBAC',
      `--service-account-key-file=${join(dir, 'sa.pub')}`, `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
      '--service-account-issuer=https://kubernetes.default.svc',
      `--service-cluster-ip-range=${opts.serviceCidr ?? '127.0.97.0/24'}`, '--allow-privileged=true',
      '--disable-admission-plugins=ServiceAccount', `--cert-dir=${join(dir, 'certs')}`,
      '--endpoint-reconciler-type=none', '--v=1',
    ], join(logs, 'apiserver.log'));
    const deadline = Date.now() + 90_000;
    for (;;) {
      if (apiserver.exitCode !== null) throw new Error(`kube-apiserver exited (${apiserver.exitCode}); see ${join(logs, 'apiserver.log')}`);
      try {
        const r = await request(`${url}/readyz`, { dispatcher: agent });
        const body = await r.body.text();
        if (r.statusCode === 200 && body.trim() === 'ok') break;
      } catch {
        /* not up yet */
      }
      if (Date.now() > deadline) throw new Error(`kube-apiserver not ready after 90s; see ${join(logs, 'apiserver.log')}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  await startApiServer();

  const cp: ControlPlane = {
    dir,
    logsDir: logs,
    kubeconfig,
    url,
    stopApiServer: () => stopProcess(apiserver),
    startApiServer,
    stop: async () => {
      await stopProcess(apiserver);
      await stopProcess(etcd);
      await agent.close();
      if (!process.env.XTRINODE_KEEP_CONTROL_PLANE) rmSync(dir, { recursive: true, force: true });
    },
  };
  if (opts.installCrds !== false) {
    await applyFiles(cp, [gatewayApiCrdsFile(), join(REPO_ROOT, 'manifests/crd/xtrinode.yaml')], (d) => d.kind === 'CustomResourceDefinition');
    await waitCrdsEstablished(cp);
  }
  process.stderr.write(`[control-plane] kube-apiserver + etcd ready${opts.installCrds === false ? '' : ' with CRDs'} in ${((Date.now() - t0) / 1000).toFixed(1)}s (${dir})\n`);
  return cp;
}

async function k8sApi() {
  return import('@kubernetes/client-node');
}

/**
 * Server-side applies every document of the files that passes `filter`, as raw JSON: typed client
 * models would drop fields they don't know by their wire names (x-kubernetes-validations, i.e.
 * the CEL rules), which is exactly what must reach the API server.
 */
export async function applyFiles(cp: ControlPlane, files: string[], filter: (d: { kind: string }) => boolean = () => true): Promise<void> {
  const agent = new Agent({ connect: { ca: readFileSync(join(cp.dir, 'ca.crt')), cert: readFileSync(join(cp.dir, 'admin.crt')), key: readFileSync(join(cp.dir, 'admin.key')) } });
  try {
    for (const f of files) {
      const docs = parseAllDocuments(readFileSync(f, 'utf8'));
      for (const d of Array.isArray(docs) ? docs : []) {
        const obj = d.toJS() as { kind: string; apiVersion: string; metadata: { name: string; namespace?: string } } | null;
        if (!obj || !obj.kind || !filter(obj)) continue;
        const plural = `${obj.kind.toLowerCase()}s`;
        const base = obj.apiVersion.includes('/') ? `/apis/${obj.apiVersion}` : `/api/${obj.apiVersion}`;
        const path = `${base}${obj.metadata.namespace ? `/namespaces/${obj.metadata.namespace}` : ''}/${plural}/${obj.metadata.name}?fieldManager=xtrinode-hack&force=true`;
        const r = await request(`${cp.url}${path}`, { method: 'PATCH', dispatcher: agent, headers: { 'content-type': 'application/apply-patch+yaml' }, body: JSON.stringify(obj) });
        const text = await r.body.text();
        if (r.statusCode >= 300) throw new Error(`apply ${obj.kind} ${obj.metadata.name} from ${f}: ${r.statusCode} ${text.slice(0, 500)}`);
      }
    }
  } finally {
    await agent.close();
  }
}

async function waitCrdsEstablished(cp: ControlPlane): Promise<void> {
  const k8s = await k8sApi();
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(cp.kubeconfig);
  const api = kc.makeApiClient(k8s.ApiextensionsV1Api);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const list = await api.listCustomResourceDefinition();
    const pending = list.items.filter((c) => !c.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True'));
    if (pending.length === 0) return;
    if (Date.now() > deadline) throw new Error(`CRDs not established: ${pending.map((p) => p.metadata?.name).join(', ')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

if (import.meta.main) {
  const cp = await startControlPlane();
  process.stdout.write(`export KUBECONFIG=${cp.kubeconfig}\n`);
  const stop = () => void cp.stop().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  setInterval(() => undefined, 1 << 30);
}
