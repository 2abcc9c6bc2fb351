/**
 * The router's API client: credentials from a kubeconfig, errors that name the call, and watches
 * that list again after a watch ends, breaks or says 410 Gone. The real API server serves it in
 * router/resume.test.ts and controller/rbac.test.ts (as the router's ServiceAccount); here an
 * HTTP server plays one so that each failure can be caused on purpose.
 */
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { ApiError, ApiServer, credentialsFromKubeconfig, fromKubeconfig } from './api-server.ts';

const kubeconfig = (user: string) => `apiVersion: v1
kind: Config
current-context: c
contexts: [{name: c, context: {cluster: k, user: u}}]
clusters: [{name: k, cluster: {server: "https://10.0.0.1:6443/", certificate-authority-data: ${Buffer.from('CA PEM').toString('base64')}}}]
users: [{name: u, user: ${user}}]
`;

describe('kubeconfig credentials', () => {
  test('a token, a token file, or a client certificate (inline or beside the file)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'xtn-kubeconfig-'));
    try {
      writeFileSync(join(dir, 'token'), 'from-file\n');
      writeFileSync(join(dir, 'client.crt'), 'CERT PEM');
      const t = credentialsFromKubeconfig(kubeconfig('{token: abc}'), join(dir, 'config'));
      expect({ server: t.server, ca: t.ca, token: t.token?.() }).toEqual({ server: 'https://10.0.0.1:6443', ca: 'CA PEM', token: 'abc' });
      expect(credentialsFromKubeconfig(kubeconfig('{tokenFile: token}'), join(dir, 'config')).token?.()).toBe('from-file');
      writeFileSync(join(dir, 'config'), kubeconfig(`{client-certificate: client.crt, client-key-data: ${Buffer.from('KEY PEM').toString('base64')}}`));
      const c = fromKubeconfig(join(dir, 'config'));
      expect({ cert: c.cert, key: c.key, token: c.token }).toEqual({ cert: 'CERT PEM', key: 'KEY PEM', token: undefined });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('what the router cannot use is refused with the reason', () => {
    expect(() => credentialsFromKubeconfig(kubeconfig('{exec: {command: aws}}'), '/k')).toThrow(/kubeconfig \/k: user "u" uses an exec or auth-provider plugin, which the router does not run/);
    expect(() => credentialsFromKubeconfig(kubeconfig('{token: a}').replace('current-context: c', 'current-context: other'), '/k')).toThrow(/current context "other" not found/);
    expect(() => credentialsFromKubeconfig(kubeconfig('{token: a}').replace('cluster: k,', 'cluster: gone,'), '/k')).toThrow(/cluster "gone" not found/);
  });
});

describe('calls and watches', () => {
  let server: Server;
  let api: ApiServer;
  /** What the fake API server does with the next watch request. */
  let watches: Array<(res: import('node:http').ServerResponse) => void> = [];
  let lists = 0;
  const seen: string[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`);
      if (req.url === '/api/v1/namespaces/x/configmaps/missing') {
        res.writeHead(404, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ kind: 'Status', message: 'configmaps "missing" not found', code: 404 }));
      }
      if (req.url?.includes('watch=1')) {
        const next = watches.shift();
        res.writeHead(200, { 'content-type': 'application/json' });
        return next ? next(res) : undefined; // no plan: the watch stays open
      }
      lists++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ items: [{ metadata: { name: `list-${lists}` } }], metadata: { resourceVersion: String(lists * 100) } }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    api = new ApiServer({ server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, token: () => 'sa-token' });
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await api.close();
  });

  test('an error names the call and carries the status and the API server message', async () => {
    const e = await api.call('GET', '/api/v1/namespaces/x/configmaps/missing').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ApiError);
    expect({ code: (e as ApiError).code, message: (e as ApiError).message }).toEqual({ code: 404, message: 'GET /api/v1/namespaces/x/configmaps/missing: 404 configmaps "missing" not found' });
    expect(seen.at(-1)).toBe('GET /api/v1/namespaces/x/configmaps/missing Bearer sa-token');
  });

  test('a watch follows events, and lists again after a 410, a broken line and a closed stream', async () => {
    lists = 0;
    const events: string[] = [];
    const ev = (type: string, name: string) => `${JSON.stringify({ type, object: { metadata: { name } } })}\n`;
    watches = [
      (res) => res.end(ev('ADDED', 'a') + ev('MODIFIED', 'a') + ev('ERROR', '').replace('"metadata":{"name":""}', '"code":410,"message":"too old resource version"')),
      (res) => res.end(ev('DELETED', 'list-2') + '{not json\n'),
      (res) => res.end(ev('ADDED', 'b')), // the stream ends: list again
    ];
    const errors: string[] = [];
    const stop = await api.watch<{ metadata: { name: string } }>('/api/v1/namespaces/x/configmaps?fieldSelector=metadata.name%3Dr', {
      replaced: (items) => events.push(`list ${items.map((i) => i.metadata.name).join(',')}`),
      added: (o) => events.push(`added ${o.metadata.name}`),
      modified: (o) => events.push(`modified ${o.metadata.name}`),
      deleted: (o) => events.push(`deleted ${o.metadata.name}`),
    }, (e) => errors.push(e.message.slice(0, 40)), 20);
    const deadline = Date.now() + 5000;
    while (lists < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    stop();
    expect(events).toEqual(['list list-1', 'added a', 'modified a', 'list list-2', 'deleted list-2', 'list list-3', 'added b', 'list list-4']);
    expect(errors).toEqual(['WATCH /api/v1/namespaces/x/configmaps: 4', expect.stringMatching(/JSON/)]);
    // Each watch resumed from the resourceVersion of the list before it.
    expect(seen.filter((s) => s.includes('watch=1')).map((s) => /resourceVersion=(\d+)/.exec(s)?.[1])).toEqual(['100', '200', '300', '400']);
  });
});
