/**
 * A plain-HTTP proxy on loopback in front of the test kube-apiserver, for faults as they happen on
 * the way to a real API server: a LIST answered 500 or 429, a call that hangs (accepted, never
 * answered). Everything else is forwarded, watches streamed, with the admin client certificate.
 * Clients built from `kubeConfig()` see only the proxy.
 *
 * @example
 * const proxy = await startApiProxy(cp);
 * proxy.fault((r) => r.method === 'GET' && r.path.includes('/httproutes') && !r.watch, { status: 500 });
 * const controller = new Controller({ kubeConfig: proxy.kubeConfig(), ... });
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import * as k8s from '@kubernetes/client-node';
import type { ControlPlane } from '../hack/control-plane.ts';

export interface ProxiedRequest {
  method: string;
  /** Path and query, as sent. */
  path: string;
  /** A watch request (`watch=true`), as opposed to a list or a get. */
  watch: boolean;
}

export type Fault = { status: number } | 'hang';

export interface ApiProxy {
  url: string;
  /** A kubeconfig that reaches the API server through this proxy. */
  kubeConfig(): k8s.KubeConfig;
  /** Requests matching `when` get `what` instead of the API server's answer, until cleared. */
  fault(when: (r: ProxiedRequest) => boolean, what: Fault): void;
  clearFaults(): void;
  /** Requests seen, matching `when` (all by default), faulted or not. */
  count(when?: (r: ProxiedRequest) => boolean): number;
  stop(): Promise<void>;
}

export async function startApiProxy(cp: ControlPlane): Promise<ApiProxy> {
  const admin = new k8s.KubeConfig();
  admin.loadFromFile(cp.kubeconfig);
  const cluster = admin.getCurrentCluster()!;
  const user = admin.getCurrentUser()!;
  const b64 = (s: string | undefined) => (s ? Buffer.from(s, 'base64') : undefined);
  const agent = new Agent({
    connect: {
      ca: b64(cluster.caData) ?? (cluster.caFile ? readFileSync(cluster.caFile) : undefined),
      cert: b64(user.certData) ?? (user.certFile ? readFileSync(user.certFile) : undefined),
      key: b64(user.keyData) ?? (user.keyFile ? readFileSync(user.keyFile) : undefined),
    },
  });
  let faults: Array<{ when: (r: ProxiedRequest) => boolean; what: Fault }> = [];
  const seen: ProxiedRequest[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => void handle(req, res));
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });

  async function handle(req: IncomingMessage, res: import('node:http').ServerResponse): Promise<void> {
    const path = req.url ?? '/';
    const r: ProxiedRequest = { method: req.method ?? 'GET', path, watch: /[?&]watch=(true|1)/.test(path) };
    seen.push(r);
    const fault = faults.find((f) => f.when(r))?.what;
    if (fault === 'hang') return; // accepted, never answered: the socket stays open
    if (fault) {
      res.writeHead(fault.status, { 'content-type': 'application/json', ...(fault.status === 429 ? { 'retry-after': '1' } : {}) });
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message: `injected by the test proxy: ${fault.status}`, code: fault.status }));
      return;
    }
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (v !== undefined && !['host', 'connection', 'keep-alive', 'transfer-encoding'].includes(k)) headers[k] = v;
    }
    try {
      const up = await request(`${cluster.server}${path}`, {
        method: r.method as 'GET', headers, dispatcher: agent, bodyTimeout: 0, headersTimeout: 0,
        ...(r.method === 'GET' || r.method === 'HEAD' ? {} : { body: req }),
      });
      const out: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(up.headers)) if (v !== undefined && !['connection', 'keep-alive', 'transfer-encoding'].includes(k)) out[k] = v;
      res.writeHead(up.statusCode, out);
      res.flushHeaders(); // a watch's headers now, not with its first event (the client waits for them)
      up.body.on('error', () => res.destroy()); // the client went away, or the API server did
      up.body.pipe(res);
      res.once('close', () => up.body.destroy());
    } catch (e) {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`test proxy: the API server did not answer: ${(e as Error).message}`);
    }
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    url,
    kubeConfig() {
      const kc = new k8s.KubeConfig();
      kc.loadFromOptions({
        clusters: [{ name: 'proxy', server: url, skipTLSVerify: true }],
        users: [{ name: 'proxy' }],
        contexts: [{ name: 'proxy', cluster: 'proxy', user: 'proxy' }],
        currentContext: 'proxy',
      });
      return kc;
    },
    fault(when, what) {
      faults.push({ when, what });
    },
    clearFaults() {
      faults = [];
    },
    count(when = () => true) {
      return seen.filter(when).length;
    },
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
      await agent.close();
    },
  };
}
