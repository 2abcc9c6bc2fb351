/**
 * The router's admin port: `/healthz` (the process answers), `/readyz` (it has a route table and
 * is not draining) and `/metrics` (Prometheus). It is separate from the data port so that no
 * client of the Gateway can read the router's metrics, and so that every path of the data port
 * is Trino's. The manifests' probes and Service name it `admin` (port 9090).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface AdminSubject {
  readonly metrics: Registry;
  notReadyReason(): string | undefined;
}

export function serveAdmin(router: AdminSubject, port: number, host: string): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    const text = (status: number, body: string) => {
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`${body}\n`);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return text(405, 'only GET');
    if (path === '/healthz') return text(200, 'ok');
    if (path === '/readyz') {
      const why = router.notReadyReason();
      return why ? text(503, why) : text(200, 'ok');
    }
    if (path === '/metrics') {
      router.metrics.metrics().then(
        (m) => {
          res.writeHead(200, { 'content-type': router.metrics.contentType });
          res.end(m);
        },
        () => text(500, 'metrics unavailable'),
      );
      return;
    }
    text(404, 'not found: /healthz, /readyz and /metrics are served here');
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const a = server.address() as AddressInfo;
      const shown = a.family === 'IPv6' ? `[${a.address}]` : a.address;
      resolve({
        url: `http://${shown}:${a.port}`,
        close: () => new Promise<void>((r) => {
          server.close(() => r());
          server.closeAllConnections();
        }),
      });
    });
  });
}
