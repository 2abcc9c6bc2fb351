/**
 * A protocol-faithful fake Trino coordinator for fast tests (beside real Trino, not instead):
 * query ids with a per-process suffix, QUEUED -> RUNNING -> FINISHED, nextUri built from
 * X-Forwarded-Proto/Host/Port/Prefix, /v1/info with `starting`, and an optional OAuth2
 * challenge whose token only this coordinator honours.
 *
 * It answers what it does not know exactly as Trino 476 does (checked against a real coordinator
 * in conformance/conformance.test.ts, `UNKNOWN_QUERY_ANSWERS`): 404 `Query not found` on
 * queued/executing URIs (GET and DELETE), 410 on `/v1/query/{id}`, 204 to DELETE `/v1/query/{id}`
 * always, 401 on `/ui/api/...` without a `Trino-UI-Token` cookie and 410 with one; errors are
 * text/plain `Error <status> <reason>: <message>`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';

export interface FakeCoordinatorOptions {
  name: string;
  /** Rows of the final page; each row is [i, payload] with payload of `rowBytes` characters. */
  rows?: number;
  rowBytes?: number;
  /** Polls in QUEUED before RUNNING. */
  queuedPolls?: number;
  oauth2?: boolean;
  starting?: boolean;
}

interface Query {
  id: string;
  slug: string;
  token: number;
  state: 'QUEUED' | 'RUNNING' | 'FINISHED';
  polls: number;
  sql: string;
  /** Fails at scheduling, as Trino does in the seconds after it stops `starting`. */
  noNodes: boolean;
}

export class FakeCoordinator {
  readonly name: string;
  readonly suffix: string;
  readonly queries = new Map<string, Query>();
  /** Queries started so far (the MBean's StartedQueries.TotalCount). */
  private started = 0;
  /** Every request seen: method and path. */
  readonly seen: Array<{ method: string; path: string; headers: IncomingMessage['headers'] }> = [];
  starting: boolean;
  /**
   * How many of the next statements fail on their first poll with `NO_NODES_AVAILABLE`, as Trino
   * 476 does for 4-9 s after `/v1/info` stops saying `starting` (before it announced its catalogs).
   */
  noNodesFor = 0;
  /** How those failures look: Trino 476 says NO_NODES_AVAILABLE, or (some queries) GENERIC_INTERNAL_ERROR "nodes is empty". */
  noNodesForm: 'NO_NODES_AVAILABLE' | 'nodes is empty' = 'NO_NODES_AVAILABLE';
  /** Requests whose client went away before the response finished. */
  aborted = 0;
  /** Spooled segment ids this coordinator serves (`/v1/spooled/download|ack/{id}`). */
  readonly segments = new Set<string>();
  private server: Server | undefined;
  private listenPort = 0;
  private seq = 0;
  private readonly opts: FakeCoordinatorOptions;
  private readonly authIds = new Set<string>();
  private page: Buffer | undefined;

  constructor(opts: FakeCoordinatorOptions) {
    this.opts = opts;
    this.name = opts.name;
    this.starting = opts.starting ?? false;
    this.suffix = randomBytes(8).toString('hex').replace(/[^a-z0-9]/g, '').slice(0, 5).padEnd(5, 'x');
  }

  async start(port = 0, host = '127.0.0.1'): Promise<number> {
    this.server = createServer((req, res) => this.handle(req, res));
    this.server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, host, () => resolve());
    });
    this.listenPort = (this.server.address() as AddressInfo).port;
    return this.listenPort;
  }

  /** The port it listens (or last listened) on. */
  get port(): number {
    return this.listenPort;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise((r) => this.server!.close(r));
  }

  /** The URL base Trino builds: forwarded scheme, host and port, and (unless `prefix` is false) X-Forwarded-Prefix. */
  private base(req: IncomingMessage, prefix = true): string {
    const proto = (req.headers['x-forwarded-proto'] as string | undefined) ?? 'http';
    const fhost = req.headers['x-forwarded-host'] as string | undefined;
    const fport = req.headers['x-forwarded-port'] as string | undefined;
    let host = fhost ?? req.headers.host ?? `127.0.0.1:${this.listenPort}`;
    if (fhost && fport && !/:\d+$/.test(host) && !((proto === 'http' && fport === '80') || (proto === 'https' && fport === '443'))) host = `${host}:${fport}`;
    // Trino 452+ (http-server.process-forwarded=true) puts X-Forwarded-Prefix in every URL it builds.
    const p = prefix ? ((req.headers['x-forwarded-prefix'] as string | undefined) ?? '').replace(/\/+$/, '') : '';
    return `${proto}://${host}${p}`;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    const path = url.split('?')[0]!;
    this.seen.push({ method: req.method ?? '', path, headers: req.headers });
    res.on('close', () => {
      if (!res.writableFinished) this.aborted++;
    });
    res.setHeader('x-fake-coordinator', this.name);
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
      res.end(text);
    };
    const error = (status: number, reason: string, message: string) => {
      const text = `Error ${status} ${reason}: ${message}`;
      res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    const parts = path.split('/');
    if (path.startsWith('/ui/api/') && !/(?:^|;\s*)Trino-UI-Token=[^;]+/.test(req.headers.cookie ?? '')) {
      res.writeHead(401, { 'content-type': 'text/plain;charset=utf-8', 'content-length': 12 });
      return void res.end('Unauthorized');
    }

    if (path === '/v1/info') return json(200, { nodeVersion: { version: 'fake' }, environment: 'test', coordinator: true, starting: this.starting, uptime: '1s' });
    const running = () => this.running;
    if (path === '/ui/api/stats') return json(200, { runningQueries: running(), queuedQueries: 0, blockedQueries: 0 });
    if (path === '/v1/jmx/mbean/trino.execution:name=QueryManager') {
      if (!req.headers['x-trino-user'] && !req.headers.authorization) {
        res.writeHead(401, { 'content-type': 'text/plain;charset=utf-8' });
        return void res.end('Basic authentication or X-Trino-Original-User or X-Trino-User must be sent');
      }
      const attribute = (name: string, value: number) => ({ name, type: 'long', description: '', readable: true, writable: false, value });
      return json(200, { objectName: 'trino.execution:name=QueryManager', className: 'io.trino.dispatcher.DispatchManager', description: '', attributes: [attribute('QueuedQueries', 0), attribute('RunningQueries', running()), attribute('StartedQueries.TotalCount', this.started), attribute('SubmittedQueries.TotalCount', this.started), attribute('CompletedQueries.TotalCount', this.started - running())] });
    }
    if (this.opts.oauth2 && path.startsWith('/oauth2/token/')) {
      if (parts[3] === 'initiate') {
        res.writeHead(302, { location: `https://idp.invalid/authorize?state=${parts[4]}` });
        return void res.end();
      }
      const authId = parts[3]!;
      if (!this.authIds.has(authId)) return json(404, { error: 'unknown auth id' });
      return json(200, { token: `token-of-${this.name}` });
    }
    if (path === '/oauth2/callback' || path === '/oauth2/logout') return json(200, { coordinator: this.name });
    if (path.startsWith('/v1/spooled/download/') || path.startsWith('/v1/spooled/ack/')) {
      const id = parts[4]!;
      if (!this.segments.has(id)) return error(404, 'Not Found', 'HTTP 404 Not Found');
      if (parts[3] === 'ack') {
        this.segments.delete(id);
        res.writeHead(200);
        return void res.end();
      }
      return json(200, { segment: id, coordinator: this.name });
    }
    // Benchmark helpers (not Trino paths): a large result page, and a response held open.
    if (path === '/bench/large') {
      const page = this.largePage();
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': page.length });
      return void res.end(page);
    }
    if (path === '/bench/hold') {
      const ms = Number(new URLSearchParams(url.split('?')[1] ?? '').get('ms') ?? '1000');
      setTimeout(() => json(200, { held: ms }), ms);
      return;
    }

    if (req.method === 'POST' && path === '/v1/statement') {
      // Tokens come from the shared identity provider: any coordinator accepts any of them.
      if (this.opts.oauth2 && !req.headers.authorization?.startsWith('Bearer token-of-')) {
        const authId = randomBytes(8).toString('hex');
        this.authIds.add(authId);
        const b = this.base(req, false); // Trino's OAuth2 challenge URLs ignore X-Forwarded-Prefix
        res.writeHead(401, { 'www-authenticate': `Bearer x_redirect_server="${b}/oauth2/token/initiate/${authId}", x_token_server="${b}/oauth2/token/${authId}"`, 'content-length': '0' });
        return void res.end();
      }
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const sql = Buffer.concat(chunks).toString('utf8');
        if (!sql.trim()) return json(400, { error: 'SQL statement is empty' });
        const now = new Date();
        const stamp = now.toISOString().replace(/[-:T]/g, '').slice(0, 15).replace(/^(\d{8})(\d{6})$/, '$1_$2');
        const id = `${stamp.slice(0, 8)}_${stamp.slice(8, 14).padEnd(6, '0')}_${String(this.seq++).padStart(5, '0')}_${this.suffix}`;
        const q: Query = { id, slug: `y${randomBytes(4).toString('hex')}`, token: 1, state: 'QUEUED', polls: 0, sql, noNodes: this.noNodesFor > 0 };
        if (q.noNodes) this.noNodesFor--;
        this.queries.set(id, q);
        this.started++;
        json(200, this.results(req, q));
      });
      return;
    }
    if (path.startsWith('/v1/statement/queued/') || path.startsWith('/v1/statement/executing/')) {
      const id = parts[4]!;
      const q = this.queries.get(id);
      if (!q || parts[5] !== q.slug) return error(404, 'Not Found', 'Query not found');
      if (req.method === 'DELETE') {
        this.queries.delete(id);
        res.writeHead(204);
        return void res.end();
      }
      q.polls++;
      if (q.noNodes) {
        this.queries.delete(id);
        const form = this.noNodesForm === 'NO_NODES_AVAILABLE'
          ? { message: 'No nodes available to run query', errorCode: 65541, errorName: 'NO_NODES_AVAILABLE', type: 'io.trino.spi.TrinoException' }
          : { message: 'nodes is empty', errorCode: 65536, errorName: 'GENERIC_INTERNAL_ERROR', type: 'java.lang.IllegalArgumentException' };
        return json(200, { id, infoUri: `${this.base(req)}/ui/query.html?${id}`, stats: { state: 'FAILED', queued: false, scheduled: false, nodes: 0, totalSplits: 0, queuedSplits: 0, runningSplits: 0, completedSplits: 0, cpuTimeMillis: 0, wallTimeMillis: 0, queuedTimeMillis: 0, elapsedTimeMillis: 0, processedRows: 0, processedBytes: 0, physicalInputBytes: 0, peakMemoryBytes: 0, spilledBytes: 0 }, error: { message: form.message, errorCode: form.errorCode, errorName: form.errorName, errorType: 'INTERNAL_ERROR', failureInfo: { type: form.type, message: form.message, suppressed: [], stack: [] } }, warnings: [] });
      }
      if (q.state === 'QUEUED' && q.polls > (this.opts.queuedPolls ?? 1)) q.state = 'RUNNING';
      else if (q.state === 'RUNNING') q.state = 'FINISHED';
      if (q.state === 'FINISHED') return this.finalPage(req, res, q);
      return json(200, this.results(req, q));
    }
    if (path.startsWith('/v1/query/') || path.startsWith('/ui/api/query/')) {
      const id = path.startsWith('/ui/') ? parts[4]! : parts[3]!;
      if (req.method === 'DELETE' && !path.startsWith('/ui/')) {
        this.queries.delete(id);
        res.writeHead(204);
        return void res.end();
      }
      const q = this.queries.get(id);
      // Trino 476 answers 410 Gone (not 404) for a query id it does not know here.
      if (!q) return error(410, 'Gone', 'HTTP 410 Gone');
      return json(200, { queryId: id, state: q.state, coordinator: this.name });
    }
    error(404, 'Not Found', 'HTTP 404 Not Found');
  }

  private results(req: IncomingMessage, q: Query): unknown {
    const b = this.base(req);
    const kind = q.state === 'QUEUED' ? 'queued' : 'executing';
    return {
      id: q.id,
      infoUri: `${b}/ui/query.html?${q.id}`,
      nextUri: `${b}/v1/statement/${kind}/${q.id}/${q.slug}/${q.token++}`,
      stats: { state: q.state, queued: q.state === 'QUEUED', scheduled: q.state !== 'QUEUED', nodes: 1, totalSplits: 0, queuedSplits: 0, runningSplits: 0, completedSplits: 0, cpuTimeMillis: 0, wallTimeMillis: 0, queuedTimeMillis: 0, elapsedTimeMillis: 0, processedRows: 0, processedBytes: 0, physicalInputBytes: 0, peakMemoryBytes: 0, spilledBytes: 0 },
      warnings: [],
    };
  }

  /** Queries its clients have not polled to the end: what its QueryManager MBean reports as running. */
  get running(): number {
    return [...this.queries.values()].filter((q) => q.state !== 'FINISHED').length;
  }

  private large: Buffer | undefined;
  private largePage(): Buffer {
    this.large ??= Buffer.from(JSON.stringify({ data: Array.from({ length: 16384 }, (_, i) => [i, 'x'.repeat(500)]) }));
    return this.large;
  }

  private finalPage(req: IncomingMessage, res: ServerResponse, q: Query): void {
    const b = this.base(req);
    this.queries.delete(q.id);
    if (!this.page) {
      const rows = this.opts.rows ?? 1;
      const payload = this.opts.rowBytes ? 'x'.repeat(this.opts.rowBytes) : this.name;
      const data = Array.from({ length: rows }, (_, i) => [i, payload]);
      this.page = Buffer.from(JSON.stringify(data));
    }
    const head = JSON.stringify({
      id: q.id,
      infoUri: `${b}/ui/query.html?${q.id}`,
      columns: [
        { name: 'n', type: 'bigint', typeSignature: { rawType: 'bigint', arguments: [] } },
        // as real Trino sends it: unbounded varchar carries its length argument (JDBC reads it)
        { name: 'coordinator', type: 'varchar', typeSignature: { rawType: 'varchar', arguments: [{ kind: 'LONG', value: 2147483647 }] } },
      ],
      stats: { state: 'FINISHED', queued: false, scheduled: true, nodes: 1, totalSplits: 1, queuedSplits: 0, runningSplits: 0, completedSplits: 1, cpuTimeMillis: 1, wallTimeMillis: 1, queuedTimeMillis: 0, elapsedTimeMillis: 1, processedRows: 1, processedBytes: 1, physicalInputBytes: 0, peakMemoryBytes: 0, spilledBytes: 0 },
      warnings: [],
    });
    // data goes last so the page is built once and streamed as-is
    const prefix = Buffer.from(`${head.slice(0, -1)},"data":`);
    const len = prefix.length + this.page.length + 1;
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': len, 'x-fake-coordinator': this.name });
    res.write(prefix);
    res.write(this.page);
    res.end('}');
  }
}
