/**
 * The forwarding path: protocol paths (spooled segments, the UI query API, probes inside the
 * group), client disconnects cancelling upstream, SIGTERM drain, and hostile or malformed requests
 * refused before reaching a coordinator.
 */
import { Client } from 'undici';
import { coordinators, table, urls, makeRouter, call, raw, submit, useFakeCluster } from './router-fixture.ts';

useFakeCluster();

describe('protocol paths and connection handling', () => {
  test('spooled segment download and ack reach the coordinator that issued them, through any replica', async () => {
    coordinators.s2!.segments.add('seg-0001');
    const dl = await call(urls[1]!, '/v1/spooled/download/seg-0001', { host: 'shared.example.com' });
    expect(dl.status).toBe(200);
    expect(dl.json().coordinator).toBe('s2');
    const ack = await call(urls[0]!, '/v1/spooled/ack/seg-0001', { host: 'shared.example.com' });
    expect(ack.status).toBe(200);
    expect(coordinators.s2!.segments.has('seg-0001')).toBe(false);
    expect((await call(urls[0]!, '/v1/spooled/download/seg-0001', { host: 'shared.example.com' })).status).toBe(404);
  });

  test('the UI query API follows the query id to its coordinator', async () => {
    const first = await submit(urls[0]!, { host: 'weighted.example.com' });
    const id = String(first.json().id);
    const ui = await call(urls[1]!, `/ui/api/query/${id}`, { host: 'weighted.example.com', cookie: 'Trino-UI-Token=signed-in' });
    expect(ui.status).toBe(200);
    expect(ui.headers['x-fake-coordinator']).toBe(first.headers['x-fake-coordinator']);
  });

  test('probes stay inside the routing group: another group\'s coordinators never see the request or its credentials', async () => {
    const first = await submit(urls[0]!, { host: 'weighted.example.com' });
    const id = String(first.json().id);
    const before = coordinators.alpha!.seen.length;
    const r = await call(urls[1]!, `/v1/query/${id}`, { host: 'alpha.example.com', authorization: 'Basic c2VjcmV0' });
    expect(r.status).toBe(404);
    expect(r.headers['x-xtrinode-error']).toBe('XTN_QUERY_NOT_FOUND');
    // alpha (the request's group) was asked and answered 410; w1 and w2 (another group) were not asked.
    expect(coordinators.alpha!.seen.slice(before).map((x) => x.path)).toEqual([`/v1/query/${id}`]);
    expect(coordinators.w1!.seen.concat(coordinators.w2!.seen).filter((x) => x.path === `/v1/query/${id}` && x.headers.authorization !== undefined)).toEqual([]);
  });

  test('probes of statement polls carry none of the client\'s credentials: Trino serves them by their secret URL', async () => {
    const first = await submit(urls[0]!, { host: 'weighted.example.com' });
    const owner = String(first.headers['x-fake-coordinator']);
    const path = new URL(String(first.json().nextUri)).pathname;
    const fresh = makeRouter(); // knows no owner: it must probe
    fresh.setTable(table);
    const u = await fresh.listen({ port: 0, host: '127.0.0.1' });
    try {
      const secrets = { authorization: 'Basic c2VjcmV0', cookie: 'session=secret', 'x-trino-extra-credential': 'token=secret', 'x-trino-original-user': 'alice' };
      const r = await call(u, path, { host: 'weighted.example.com', ...secrets });
      expect(r.status).toBe(200);
      expect(r.headers['x-fake-coordinator']).toBe(owner);
      const probes = coordinators.w1!.seen.concat(coordinators.w2!.seen).filter((x) => x.path === path);
      expect(probes.length).toBeGreaterThanOrEqual(1);
      expect(probes.map((x) => Object.keys(secrets).filter((h) => x.headers[h] !== undefined))).toEqual(probes.map(() => []));
    } finally {
      await fresh.drain();
    }
  });

  test('a client that disconnects cancels the upstream request', async () => {
    const before = coordinators.alpha!.aborted;
    const ac = new AbortController();
    const pending = call(urls[0]!, '/bench/hold?ms=3000', { host: 'alpha.example.com' }).catch(() => 'aborted');
    const client = new Client(urls[0]!);
    const req = client.request({ path: '/bench/hold?ms=3000', method: 'GET', headers: { host: 'alpha.example.com' }, signal: ac.signal }).catch(() => 'aborted');
    await new Promise((r) => setTimeout(r, 300));
    ac.abort();
    expect(await req).toBe('aborted');
    await new Promise((r) => setTimeout(r, 300));
    expect(coordinators.alpha!.aborted).toBe(before + 1); // only the abandoned one
    await pending;
    await client.close();
  });

  test('SIGTERM drain: in-flight requests finish, new ones are refused', async () => {
    const r = makeRouter({ drainTimeoutMs: 5000 });
    r.setTable(table);
    const u = await r.listen({ port: 0, host: '127.0.0.1' });
    const inflight = call(u, '/bench/hold?ms=800', { host: 'alpha.example.com' });
    await new Promise((res) => setTimeout(res, 200));
    const draining = r.drain();
    await new Promise((res) => setTimeout(res, 100));
    // A new connection is refused (the listener is closed); the one carrying the request in flight finishes it.
    const fresh = new Client(u);
    await expect(fresh.request({ path: '/v1/info', method: 'GET', headers: { host: 'alpha.example.com' } })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await fresh.close();
    expect((await inflight).status).toBe(200);
    await draining;
  });
});

describe('hostile and malformed requests', () => {
  test('path tricks in query ids are refused before reaching a coordinator', async () => {
    const before = Object.values(coordinators).reduce((n, c) => n + c.seen.length, 0);
    for (const p of ['/v1/statement/executing/..%2F..%2Fadmin/x/1', '/v1/statement/queued/../../v1/info/x/1', '/v1/query/not-a-query-id', '/v1/statement/executing/20260101_000000_00000_abcde%2e%2e/x/1', '/v1/statement/executing/20260101_000000_00000_ABCDE/x/1', '/v1/statement/.%2e/info', '/v1/statement/%2e./info', '/v1/..;/info', '/v1%5cinfo', '/xtrinode/c/prod/alpha/v1/%2e%2e/info']) {
      const r = await call(urls[0]!, p, { host: 'shared.example.com' });
      expect({ p, status: r.status }).toEqual({ p, status: 400 });
    }
    const after = Object.values(coordinators).reduce((n, c) => n + c.seen.length, 0);
    expect(after).toBe(before);
  });

  test('oversized headers are refused with 431 in the router\'s error form', async () => {
    const r = await raw(urls[0]!, `GET /v1/info HTTP/1.1\r\nHost: shared.example.com\r\nX-Big: ${'a'.repeat(70_000)}\r\n\r\n`);
    expect(r).toMatch(/^HTTP\/1\.1 431 /);
    expect(r).toMatch(/\r\nX-XTrinode-Error: XTN_MALFORMED_REQUEST\r\n/i);
    expect(r).toContain('xtrinode-gateway: the request headers are too large.');
  });

  test('HTTP/1.0 without Host, and two Host headers, are refused before reaching a coordinator', async () => {
    const before = Object.values(coordinators).reduce((n, c) => n + c.seen.length, 0);
    const noHost = await raw(urls[0]!, 'POST /v1/statement HTTP/1.0\r\nX-Trino-User: me\r\nContent-Length: 8\r\n\r\nSELECT 1');
    expect(noHost).toMatch(/^HTTP\/1\.[01] 400 /);
    expect(noHost).toContain('no Host header');
    expect(noHost).not.toMatch(/127\.0\.0\.1/);
    const twoHosts = await raw(urls[0]!, 'POST /v1/statement HTTP/1.1\r\nHost: alpha.example.com\r\nHost: weighted.example.com\r\nX-Trino-User: me\r\nContent-Length: 8\r\nConnection: close\r\n\r\nSELECT 1');
    expect(twoHosts).toMatch(/^HTTP\/1\.1 400 /);
    expect(Object.values(coordinators).reduce((n, c) => n + c.seen.length, 0)).toBe(before);
  });

  test('what fastify itself refuses comes back in the router\'s one error form', async () => {
    const r = await raw(urls[0]!, 'GET /v1/query/%zz HTTP/1.1\r\nHost: alpha.example.com\r\nConnection: close\r\n\r\n');
    expect(r).toMatch(/^HTTP\/1\.1 400 /);
    expect(r).toMatch(/\r\nx-xtrinode-error: XTN_MALFORMED_REQUEST\r\n/i);
    expect(r).toMatch(/\r\ncontent-type: text\/plain/i);
  });

  test('Expect: 100-continue gets its body through to the coordinator', async () => {
    const res = await raw(urls[0]!, 'POST /v1/statement HTTP/1.1\r\nHost: alpha.example.com\r\nX-Trino-User: me\r\nContent-Length: 8\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n', 'SELECT 1');
    expect(res).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
    expect(res).toContain('x-fake-coordinator: alpha');
  });

  test('hop-by-hop tricks cannot make Trino build URLs with its own address', async () => {
    // (raw: HTTP clients refuse to send such a Connection header)
    const res = await raw(urls[0]!, 'POST /v1/statement HTTP/1.1\r\nHost: alpha.example.com\r\nConnection: close, host, x-forwarded-host, x-forwarded-port\r\nX-Forwarded-Host: other.example.com\r\nX-Trino-User: me\r\nContent-Length: 8\r\n\r\nSELECT 1');
    expect(res).toMatch(/^HTTP\/1\.1 200 /);
    expect(/"nextUri":"([^"]+)"/.exec(res)?.[1]).toMatch(/^http:\/\/alpha\.example\.com\//);
  });

  test('spoofed internal-looking headers do not steer routing', async () => {
    const r = await submit(urls[0]!, { host: 'alpha.example.com', 'x-xtrinode-backend': 'prod/s2', 'x-xtrinode-error': 'x', cookie: 'XTRINODE_OAUTH2_other=1' });
    expect(r.headers['x-fake-coordinator']).toBe('alpha');
  });
});
