/**
 * Slow clients and broken coordinators at the HTTP level, each against a recorder behind the
 * router (a raw TCP server that keeps every byte it got and whether the router hung up): what
 * the client gets, and what reached the coordinator.
 */
import { createServer, connect, type Server, type Socket, type AddressInfo } from 'node:net';
import pino from 'pino';
import { TrinoRouter } from './server.ts';
import type { RouteTable } from '../routetable/schema.ts';

/** One TCP connection the recorder accepted: bytes received, and whether the peer closed it. */
interface Seen {
  bytes: string;
  closed: boolean;
}

/** A coordinator stand-in that answers each request with `answer` (or never, when undefined). */
class Recorder {
  readonly seen: Seen[] = [];
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  port = 0;
  answer: string | undefined;

  constructor(answer?: string) {
    this.answer = answer;
    this.server = createServer((s) => {
      const rec: Seen = { bytes: '', closed: false };
      this.seen.push(rec);
      this.sockets.add(s);
      s.on('data', (d: Buffer) => {
        rec.bytes += d.toString('latin1');
        if (this.answer !== undefined && rec.bytes.includes('\r\n\r\n')) s.write(this.answer);
      });
      s.on('close', () => {
        rec.closed = true;
        this.sockets.delete(s);
      });
      s.on('error', () => undefined);
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** Answers every open connection now (requests it held). */
  answerAll(text: string): void {
    for (const s of this.sockets) s.write(text);
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server.close(r));
  }
}

function tableFor(backends: Array<{ name: string }>): RouteTable {
  return {
    version: 1,
    groups: [{ name: 'g', hostnames: ['g.example.com'], headerValues: [], default: false, path: 'router', backends: backends.map((b) => ({ id: `ns/${b.name}`, service: { namespace: 'ns', name: b.name, port: 8080 }, weight: 1, state: 'Ready' as const })) }],
  };
}

/** Writes `parts` with `gapMs` between them; resolves with everything read until the router closes. */
function slowClient(port: number, parts: string[], gapMs: number): Promise<{ text: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    let out = '';
    let i = 0;
    const next = () => {
      if (sock.destroyed) return; // the router hung up: nothing more to send
      if (i < parts.length) sock.write(parts[i++]!);
      if (i < parts.length) setTimeout(next, gapMs);
    };
    sock.on('connect', next);
    sock.on('data', (d: Buffer) => (out += d.toString('latin1')));
    sock.on('close', () => resolve({ text: out, ms: Date.now() - t0 }));
    sock.on('error', () => undefined);
    setTimeout(() => reject(new Error(`the router never closed the connection; read: ${out.slice(0, 200)}`)), 15_000).unref();
  });
}

const routers: TrinoRouter[] = [];
const recorders: Recorder[] = [];
afterEach(async () => {
  await Promise.all(routers.splice(0).map((r) => r.drain()));
  await Promise.all(recorders.splice(0).map((r) => r.stop()));
});

async function setup(answers: Record<string, string | undefined>, extra: Partial<ConstructorParameters<typeof TrinoRouter>[0]> = {}) {
  const recs: Record<string, Recorder> = {};
  for (const [name, answer] of Object.entries(answers)) {
    recs[name] = new Recorder(answer);
    await recs[name].start();
    recorders.push(recs[name]);
  }
  const r = new TrinoRouter({
    logger: pino({ level: 'silent' }),
    healthIntervalMs: 0,
    drainTimeoutMs: 200,
    resolveService: (s) => `http://127.0.0.1:${recs[s.name]!.port}`,
    ...extra,
  });
  r.setTable(tableFor(Object.keys(answers).map((name) => ({ name }))));
  routers.push(r);
  const url = await r.listen({ port: 0, host: '127.0.0.1' });
  return { router: r, port: Number(new URL(url).port), recs };
}

const OK = 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}';

describe('slow clients', () => {
  test('headers that trickle in past the limit get a 408 in the router\'s error form; nothing reaches a coordinator', async () => {
    const { port, recs } = await setup({ a: OK }, { clientHeadersTimeoutMs: 400, clientRequestTimeoutMs: 1000 });
    const r = await slowClient(port, ['GET /v1/info HTTP/1.1\r\n', 'Host: g.example.com\r\n', 'X-A: 1\r\n', 'X-B: 1\r\n', 'X-C: 1\r\n', 'X-D: 1\r\n', 'X-E: 1\r\n', 'X-F: 1\r\n', '\r\n'], 200);
    expect(r.text).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(r.text).toMatch(/\r\nX-XTrinode-Error: XTN_CLIENT_TIMEOUT\r\n/);
    expect(r.text).toMatch(/\r\nContent-Type: text\/plain/);
    expect(r.text).toContain('xtrinode-gateway: the request was not received within');
    expect(recs.a!.seen).toEqual([]);
  });

  test('a statement body that stalls past the limit gets a 408, and nothing of it reached the coordinator', async () => {
    const { port, recs } = await setup({ a: undefined }, { clientHeadersTimeoutMs: 400, clientRequestTimeoutMs: 800 });
    const head = 'POST /v1/statement HTTP/1.1\r\nHost: g.example.com\r\nX-Trino-User: me\r\nContent-Length: 100\r\n\r\n';
    const r = await slowClient(port, [head, 'SELECT 1', ' ', ' '], 300);
    expect(r.text).toMatch(/^HTTP\/1\.1 408 /);
    expect(r.text).toMatch(/\r\nX-XTrinode-Error: XTN_CLIENT_TIMEOUT\r\n/);
    // Bodies are read whole before a coordinator connection is taken.
    await new Promise((res) => setTimeout(res, 200));
    expect(recs.a!.seen).toEqual([]);
  });

  test('more slow uploads than upstream connections hold none of them: a quick request is answered meanwhile, and the uploads get 408s with their memory back', async () => {
    const { router, port, recs } = await setup({ a: OK }, { clientHeadersTimeoutMs: 400, clientRequestTimeoutMs: 1500, connectionsPerCoordinator: 2 });
    const uploads = ['POST /v1/statement', 'PUT /v1/statement', 'POST /ui/login', 'POST /oauth2/token', 'POST /v1/statement', 'POST /v1/statement'].map((line) =>
      slowClient(port, [`${line} HTTP/1.1\r\nHost: g.example.com\r\nX-Trino-User: me\r\nContent-Length: 64\r\n\r\n`, 'SELECT', ' 1', ' ', ' ', ' ', ' ', ' '], 250));
    await new Promise((res) => setTimeout(res, 300));
    const quick = await slowClient(port, ['GET /v1/info HTTP/1.1\r\nHost: g.example.com\r\nConnection: close\r\n\r\n'], 0);
    expect(quick.text).toMatch(/^HTTP\/1\.1 200 /);
    const answers = await Promise.all(uploads);
    expect(answers.map((a) => /^HTTP\/1\.1 (\d+) /.exec(a.text)?.[1])).toEqual(['408', '408', '408', '408', '408', '408']);
    // The coordinator saw the quick request only; every byte of the uploads was given back.
    expect(recs.a!.seen.map((x) => x.bytes.split('\r\n')[0])).toEqual(['GET /v1/info HTTP/1.1']);
    expect(router.statements.usedBytes).toBe(0);
  });

  test('a client that sends its whole request in time is not cut off by a slow coordinator', async () => {
    const { port, recs } = await setup({ a: undefined }, { clientHeadersTimeoutMs: 300, clientRequestTimeoutMs: 300 });
    const pending = slowClient(port, ['GET /v1/info HTTP/1.1\r\nHost: g.example.com\r\nConnection: close\r\n\r\n'], 0);
    await new Promise((res) => setTimeout(res, 900)); // three times the client limits
    expect(recs.a!.seen.length).toBe(1);
    expect(recs.a!.seen[0]!.closed).toBe(false);
    recs.a!.answerAll(OK);
    const r = await pending;
    expect(r.text).toMatch(/^HTTP\/1\.1 200 /);
  });
});

describe('coordinators that answer wrong or not at all', () => {
  test.each([
    ['099', 'HTTP/1.1 099 Odd\r\nContent-Length: 2\r\n\r\nhi'],
    ['600', 'HTTP/1.1 600 Odd\r\nContent-Length: 2\r\n\r\nhi'],
  ])('status %s becomes a 502 in the router\'s error form, at once', async (_code, answer) => {
    const { port } = await setup({ a: answer }, { headersTimeoutMs: 60_000 });
    const r = await slowClient(port, ['GET /v1/info HTTP/1.1\r\nHost: g.example.com\r\nConnection: close\r\n\r\n'], 0);
    expect(r.text).toMatch(/^HTTP\/1\.1 502 /);
    expect(r.text).toMatch(/\r\nx-xtrinode-error: XTN_BAD_COORDINATOR_RESPONSE\r\n/i);
    expect(r.text).toContain('answered with an invalid HTTP status');
    expect(r.text).not.toContain('127.0.0.1');
  });

  test('a hung coordinator delays a probe by at most the probe timeout; the owner still answers', async () => {
    const owner = 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 47\r\n\r\n{"queryId":"20261203_000000_00001_aaaaa","x":1}';
    const { port, recs } = await setup({ hung: undefined, owner }, { probeTimeoutMs: 500 });
    const r = await slowClient(port, ['GET /v1/query/20261203_000000_00001_aaaaa HTTP/1.1\r\nHost: g.example.com\r\nConnection: close\r\n\r\n'], 0);
    expect(r.text).toMatch(/^HTTP\/1\.1 200 /);
    expect(r.text).toContain('"queryId":"20261203_000000_00001_aaaaa"');
    expect(recs.hung!.seen.length).toBe(1);
    expect(recs.hung!.seen[0]!.closed).toBe(true); // the timed-out probe was aborted, not left open
  });
});
