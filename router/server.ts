/**
 * The router: a Trino-aware HTTP proxy for what Gateway API cannot express.
 *
 * For every request it re-resolves the routing group (hostname > X-Trino-XTrinode > default),
 * sends follow-ups to the coordinator owning the query (learned suffixes, safe probes on a miss),
 * keeps OAuth2 handshakes on one coordinator (signed cookie and signed route markers), and picks a
 * coordinator for new queries (weighted round-robin or adaptive, healthy ones only).
 *
 * @example
 * const router = new TrinoRouter({ resolveService: (s) => `http://127.0.0.1:${s.port}` });
 * router.setTable(table);
 * await router.listen({ port: 8080, host: '0.0.0.0' });
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { pipeline } from 'node:stream';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { Pool, errors as undiciErrors, request as undiciRequest, type Dispatcher } from 'undici';
import pino, { type Logger } from 'pino';
import { Counter, Histogram, Gauge, Registry } from 'prom-client';
import type { RouteBackend, RouteGroup, RouteTable } from '../routetable/schema.ts';
import { RouteIndex } from './route-index.ts';
import { Balancer, type BackendHealth, type BalancingMode } from './balancer.ts';
import { StickyMap } from './sticky-map.ts';
import { affinityOf, credentialFree, CREDENTIAL_HEADERS, queryIdInBody, querySuffix, type Affinity } from './trino-paths.ts';
import { RouterError, errors } from './errors.ts';
import { TokenSigner } from './signed-token.ts';
import { HeldQueries, NotSentError, WAIT_PATH_PREFIX, WAIT_SLUG_PREFIX, type CapturedResponse } from './held-queries.ts';
import type { Resumer } from './resume.ts';
import { parseCoordinatorPath } from './coordinator-prefix.ts';
import { requestProblem } from './request-checks.ts';
import { clientServer } from './client-connection.ts';
import { CoordinatorHealth } from './coordinator-health.ts';
import { coordinatorLoad } from './coordinator-load.ts';
import { StatementBudget } from './statement-budget.ts';
import { serveAdmin } from './admin-endpoints.ts';
import { submitScheduled } from './held-submission.ts';

export interface OAuth2CookieOptions {
  /** Shared HMAC secret; all router replicas need the same one. Never logged. */
  secret: string;
  routingPaths: string[];
  deletePaths: string[];
  lifetimeMs: number;
  name: string;
}

export interface RouterOptions {
  /** Origin (`http://host:port`) of a coordinator Service. Default: cluster DNS. */
  resolveService?: (s: RouteBackend['service']) => string;
  balancing?: BalancingMode;
  /** OAuth2 cookie stickiness; off when no secret is configured. */
  oauth2?: OAuth2CookieOptions;
  healthIntervalMs?: number;
  /** Coordinators probed at once when the owner of a query is unknown. */
  probeConcurrency?: number;
  /** How long one probe or health check of one coordinator may take. */
  probeTimeoutMs?: number;
  /** How long a client may take to send its request headers, and its whole request (408 past them). */
  clientHeadersTimeoutMs?: number;
  clientRequestTimeoutMs?: number;
  /** The router's own addresses (pod IP, Service IP): a Host naming one is refused, see request-checks.ts. */
  selfHosts?: string[];
  /** Memory for statement bodies being read or held for a waking runtime; over it, 503. */
  statementBudgetBytes?: number;
  /** A held query whose client stopped polling is dropped after this long. */
  heldAbandonAfterMs?: number;
  headersTimeoutMs?: number;
  bodyTimeoutMs?: number;
  connectionsPerCoordinator?: number;
  logger?: Logger;
  /** Max time SIGTERM waits for in-flight requests. */
  drainTimeoutMs?: number;
  /** Resumes suspended runtimes (needs the API server); without it they get a 503. */
  resumer?: Resumer;
  /** How long a new query waits for a waking runtime before it fails. */
  resumeTimeoutMs?: number;
  /** How often served runtimes are reported (for idle suspension). */
  activityIntervalMs?: number;
  /** This replica as its peers reach it, and the secret all replicas share, for held-query polls. */
  peer?: { selfAddress: string; secret: string };
  /** Largest initial statement body the router buffers. */
  maxStatementBytes?: number;
  /** How long a follow-up poll is retried while its coordinator refuses connections (restarting). */
  followUpRetryMs?: number;
}

export const ROUTE_MARKER_PARAM = 'xtrinode_route';

const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'trailers', 'transfer-encoding', 'upgrade', 'proxy-connection',
]);

export class TrinoRouter {
  readonly app: FastifyInstance;
  readonly metrics = new Registry();
  private index: RouteIndex | undefined;
  private readonly pools = new Map<string, Pool>();
  private readonly sticky = new StickyMap();
  private readonly health = new Map<string, BackendHealth>();
  private readonly balancer: Balancer;
  private readonly signer: TokenSigner | undefined;
  private readonly opts: Required<Omit<RouterOptions, 'oauth2' | 'logger' | 'resumer' | 'peer'>> & Pick<RouterOptions, 'oauth2' | 'resumer' | 'peer'>;
  private readonly held: HeldQueries | undefined;
  private readonly coordinatorHealth: CoordinatorHealth;
  /** Statement bodies buffered (read before forwarding, or held). */
  readonly statements: StatementBudget;
  private admin: { close(): Promise<void> } | undefined;
  private readonly selfHosts: ReadonlySet<string>;
  private activityTimer: NodeJS.Timeout | undefined;
  private readonly mResumes: Counter<'result'>;
  private readonly log: Logger;
  private healthTimer: NodeJS.Timeout | undefined;
  private draining = false;
  private inFlight = 0;

  private readonly mRequests: Counter<'outcome'>;
  private readonly mLatency: Histogram<'outcome'>;
  private readonly mSticky: Counter<'result'>;
  private readonly mTable: Counter<'result'>;
  private readonly mHealthy: Gauge<'backend'>;

  constructor(options: RouterOptions = {}) {
    this.opts = {
      resolveService: options.resolveService ?? ((s) => `http://${s.name}.${s.namespace}.svc.cluster.local:${s.port}`),
      balancing: options.balancing ?? 'round-robin',
      healthIntervalMs: options.healthIntervalMs ?? 5000,
      probeConcurrency: options.probeConcurrency ?? 8,
      probeTimeoutMs: options.probeTimeoutMs ?? 5000,
      clientHeadersTimeoutMs: options.clientHeadersTimeoutMs ?? 30_000,
      clientRequestTimeoutMs: options.clientRequestTimeoutMs ?? 120_000,
      statementBudgetBytes: options.statementBudgetBytes ?? 160 * 1024 * 1024,
      heldAbandonAfterMs: options.heldAbandonAfterMs ?? 300_000,
      selfHosts: options.selfHosts ?? [],
      headersTimeoutMs: options.headersTimeoutMs ?? 300_000,
      bodyTimeoutMs: options.bodyTimeoutMs ?? 300_000,
      connectionsPerCoordinator: options.connectionsPerCoordinator ?? 128,
      drainTimeoutMs: options.drainTimeoutMs ?? 30_000,
      resumeTimeoutMs: options.resumeTimeoutMs ?? 300_000,
      activityIntervalMs: options.activityIntervalMs ?? 30_000,
      maxStatementBytes: options.maxStatementBytes ?? 16 * 1024 * 1024,
      followUpRetryMs: options.followUpRetryMs ?? 10_000,
      ...(options.oauth2 ? { oauth2: options.oauth2 } : {}),
      ...(options.resumer ? { resumer: options.resumer } : {}),
      ...(options.peer ? { peer: options.peer } : {}),
    };
    this.log = options.logger ?? pino({ level: process.env.LOG_LEVEL ?? 'info' });
    this.balancer = new Balancer(this.opts.balancing);
    this.signer = options.oauth2 ? new TokenSigner(options.oauth2.secret) : undefined;
    this.selfHosts = new Set(this.opts.selfHosts.map((h) => h.toLowerCase()));
    this.coordinatorHealth = new CoordinatorHealth({ timeoutMs: this.opts.probeTimeoutMs });
    this.statements = new StatementBudget(this.opts.statementBudgetBytes);

    this.mRequests = new Counter({ name: 'xtrinode_router_requests_total', help: 'Requests by outcome', labelNames: ['outcome'], registers: [this.metrics] });
    this.mLatency = new Histogram({ name: 'xtrinode_router_request_duration_seconds', help: 'Time to response headers', labelNames: ['outcome'], buckets: [0.0005, 0.001, 0.005, 0.025, 0.1, 0.5, 2, 10], registers: [this.metrics] });
    this.mSticky = new Counter({ name: 'xtrinode_router_sticky_total', help: 'Query-id routing: hit (owner known), miss (probed), probe (requests sent while probing)', labelNames: ['result'], registers: [this.metrics] });
    this.mTable = new Counter({ name: 'xtrinode_router_route_table_loads_total', help: 'Route table loads: applied or refused', labelNames: ['result'], registers: [this.metrics] });
    this.mResumes = new Counter({ name: 'xtrinode_router_resumes_total', help: 'Resume operations: issued (this replica resumed a runtime), lease-held-elsewhere, error', labelNames: ['result'], registers: [this.metrics] });
    if (options.resumer) {
      options.resumer.counter = this.mResumes;
      const peerSigner = options.peer ? new TokenSigner(options.peer.secret) : undefined;
      this.held = new HeldQueries(
        {
          group: (name) => this.index?.table.groups.find((g) => g.name === name),
          readyBackend: (g) => this.readyBackend(g),
          submit: (b, headers, body, deadline) => this.submitHeld(b, headers, body, deadline),
          resume: (g) => void options.resumer!.resume(g),
        },
        { timeoutMs: this.opts.resumeTimeoutMs, budget: this.statements, abandonAfterMs: this.opts.heldAbandonAfterMs, ...(options.peer && peerSigner ? { selfAddress: options.peer.selfAddress, signer: peerSigner } : {}) },
      );
    }
    this.mHealthy = new Gauge({ name: 'xtrinode_router_backend_healthy', help: '1 when a coordinator takes new queries', labelNames: ['backend'], registers: [this.metrics] });
    const inFlight = () => this.inFlight;
    new Gauge({ name: 'xtrinode_router_in_flight', help: 'Requests in flight', registers: [this.metrics], collect() { this.set(inFlight()); } });
    const statements = this.statements;
    new Gauge({ name: 'xtrinode_router_statement_bytes', help: 'Statement bodies buffered or held, in bytes (limit: xtrinode_router_statement_budget_bytes)', registers: [this.metrics], collect() { this.set(statements.usedBytes); } });
    new Gauge({ name: 'xtrinode_router_statement_budget_bytes', help: 'Memory budget for buffered and held statements', registers: [this.metrics], collect() { this.set(statements.limitBytes); } });
    const held = () => this.held?.size ?? 0;
    new Gauge({ name: 'xtrinode_router_held_queries', help: 'Statements held for a waking runtime', registers: [this.metrics], collect() { this.set(held()); } });

    const frameworkError = (err: { statusCode?: number; message?: string }, req: FastifyRequest, reply: FastifyReply) => {
      const status = err.statusCode ?? 500;
      this.sendError(req, reply, status >= 400 && status < 500 ? new RouterError('XTN_MALFORMED_REQUEST', status, `xtrinode-gateway: malformed request: ${(err.message ?? 'refused').slice(0, 200)}`) : err);
    };
    this.app = Fastify({
      logger: process.env.XTN_DEBUG_FASTIFY === '1',
      return503OnClosing: false,
      routerOptions: { maxParamLength: 1000 },
      forceCloseConnections: false,
      serverFactory: clientServer({ headersTimeoutMs: this.opts.clientHeadersTimeoutMs, requestTimeoutMs: this.opts.clientRequestTimeoutMs }),
      frameworkErrors: frameworkError,
    });
    this.app.removeAllContentTypeParsers();
    this.app.addContentTypeParser('*', (_req, _payload, done) => done(null)); // stream bodies through untouched
    // Every path of the data port is Trino's: health, readiness and metrics are on the admin port.
    this.app.all('/*', (req, reply) => this.handle(req, reply));
    // What fastify itself refuses (a URL it cannot decode, a body it cannot read) gets the same
    // one Trino-shaped error form as everything the router answers.
    this.app.setErrorHandler(frameworkError);
  }

  /** Applies a validated route table; in-flight requests keep the backend they already have. */
  setTable(table: RouteTable): void {
    this.index = new RouteIndex(table);
    this.mTable.inc({ result: 'applied' });
    const live = new Set<string>();
    for (const { backend } of this.index.backends.values()) live.add(this.opts.resolveService(backend.service));
    this.coordinatorHealth.retain(live);
    for (const [origin, pool] of this.pools) {
      if (!live.has(origin)) {
        this.pools.delete(origin);
        void pool.close(); // finishes in-flight requests first
      }
    }
    this.log.info({ groups: table.groups.length, backends: this.index.backends.size }, 'route table applied');
  }

  /** Counts and logs a refused table; the last good one stays in force. */
  refuseTable(reason: string): void {
    this.mTable.inc({ result: 'refused' });
    this.log.error({ reason }, 'route table refused; keeping the last good one');
  }

  get table(): RouteTable | undefined {
    return this.index?.table;
  }

  /** Why this replica should get no traffic now, or undefined when it is ready. */
  notReadyReason(): string | undefined {
    if (this.draining) return 'draining';
    if (!this.index) return 'no route table yet';
    return undefined;
  }

  /** Serves /healthz, /readyz and /metrics on their own port (never on the data port). */
  async listenAdmin(opts: { port: number; host?: string }): Promise<string> {
    const admin = await serveAdmin(this, opts.port, opts.host ?? '0.0.0.0');
    this.admin = admin;
    return admin.url;
  }

  async listen(opts: { port: number; host?: string }): Promise<string> {
    const addr = await this.app.listen({ port: opts.port, host: opts.host ?? '0.0.0.0' });
    this.startHealthChecks();
    const resumer = this.opts.resumer;
    if (resumer && this.opts.activityIntervalMs > 0) {
      this.activityTimer = setInterval(() => void resumer.flushActivity(), this.opts.activityIntervalMs);
      this.activityTimer.unref();
    }
    return addr;
  }

  /** Stops taking new requests, lets in-flight ones finish (bounded), closes pools. */
  async drain(): Promise<void> {
    this.draining = true;
    if (this.healthTimer) clearInterval(this.healthTimer);
    if (this.activityTimer) clearInterval(this.activityTimer);
    await this.opts.resumer?.flushActivity();
    const deadline = Date.now() + this.opts.drainTimeoutMs;
    const closing = this.app.close();
    while (this.inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await Promise.race([closing, new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())))]);
    await Promise.all([...this.pools.values()].map((p) => p.destroy()));
    this.pools.clear();
    this.held?.close();
    await this.admin?.close();
  }

  // ---------------------------------------------------------------------------------------------

  private pool(origin: string): Pool {
    let p = this.pools.get(origin);
    if (!p) {
      p = new Pool(origin, {
        connections: this.opts.connectionsPerCoordinator,
        headersTimeout: this.opts.headersTimeoutMs,
        bodyTimeout: this.opts.bodyTimeoutMs,
        keepAliveTimeout: 30_000,
        pipelining: 1,
      });
      this.pools.set(origin, p);
    }
    return p;
  }

  private async handle(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const start = process.hrtime.bigint();
    this.inFlight++;
    let outcome = 'proxied';
    try {
      outcome = await this.route(req, reply);
    } catch (e) {
      outcome = e instanceof RouterError ? e.code : 'internal';
      this.sendError(req, reply, e);
    } finally {
      this.inFlight--;
      this.mRequests.inc({ outcome });
      this.mLatency.observe({ outcome }, Number(process.hrtime.bigint() - start) / 1e9);
    }
  }

  private async route(req: FastifyRequest, reply: FastifyReply): Promise<string> {
    if (this.draining) throw new RouterError('XTN_DRAINING', 503, 'xtrinode-gateway: this router is shutting down; retry.', 1);
    const index = this.index;
    if (!index) throw errors.noTable();
    const url = req.url;
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const problem = requestProblem(req.raw.rawHeaders, path, this.selfHosts);
    if (problem) throw errors.malformed(problem);

    const coordinatorPath = parseCoordinatorPath(url);
    if (coordinatorPath) {
      if ('malformed' in coordinatorPath) throw errors.malformed(coordinatorPath.malformed);
      return this.routeByPrefix(req, reply, index, coordinatorPath);
    }
    if (path.startsWith(WAIT_PATH_PREFIX)) {
      const parts = path.split('/'); // ['', 'xtrinode', 'wait', id, slug, token]
      if (!this.held || !parts[4]?.startsWith(WAIT_SLUG_PREFIX)) throw errors.malformed('not a wait URI of this gateway');
      return this.routeHeldPoll(req, reply, parts[3]!, parts[4]);
    }
    const affinity = affinityOf(req.method, path);
    if (affinity.kind === 'malformed') throw errors.malformed(affinity.reason);
    const selectorHeader = req.headers['x-trino-xtrinode'];
    const selector = Array.isArray(selectorHeader) ? selectorHeader[0] : selectorHeader;
    const host = req.headers.host;

    if (affinity.kind === 'query' || affinity.kind === 'spooled') {
      return this.routeFollowUp(req, reply, index, affinity, host, selector);
    }

    // OAuth2: signed route marker or cookie first.
    const oauth = this.opts.oauth2;
    let setCookieFor: RouteBackend | undefined;
    let deleteCookie = false;
    if (oauth && this.signer) {
      const routing = oauth.routingPaths.some((p) => path.startsWith(p));
      deleteCookie = oauth.deletePaths.some((p) => path.startsWith(p));
      if (routing || deleteCookie) {
        const pinned = this.pinnedBackend(req, url, index, oauth);
        if (pinned) {
          await this.forward(req, reply, pinned.backend, { deleteCookie, setCookieFor: pinned.fromMarker && routing ? pinned.backend : undefined });
          return 'oauth2-pinned';
        }
      }
    }

    const r = index.resolve(host, selector);
    if (r.kind === 'unknown-selector') throw errors.unknownSelector(r.value);
    if (r.kind === 'no-route') throw errors.noRoute(host ?? '');
    if (req.method === 'POST' && path === '/v1/statement' && this.held) return this.routeStatement(req, reply, r.group);
    const backend = this.choose(r.group);
    if (oauth && this.signer && oauth.routingPaths.some((p) => path.startsWith(p))) setCookieFor = backend;
    await this.forward(req, reply, backend, { setCookieFor, deleteCookie, learnFromBody: req.method === 'POST' && path === '/v1/statement' });
    return 'proxied';
  }

  /**
   * A request that names its coordinator by prefix (`/xtrinode/c/<namespace>/<name>/...`): sent
   * there with the prefix stripped and X-Forwarded-Prefix set, as the Gateway's prefix route does.
   */
  private async routeByPrefix(req: FastifyRequest, reply: FastifyReply, index: RouteIndex, p: { id: string; prefix: string; rest: string }): Promise<string> {
    const entry = index.backends.get(p.id);
    if (!entry) throw errors.unknownCoordinator(p.prefix);
    const b = entry.backend;
    if (b.state === 'Unresolved') throw errors.unresolved(b.id);
    if (b.state === 'Suspended') {
      if (this.opts.resumer) void this.opts.resumer.resume(entry.group);
      throw errors.suspended(b.id);
    }
    await this.forward(req, reply, b, { path: p.rest, prefix: p.prefix, retryNotSentMs: this.opts.followUpRetryMs });
    return 'prefix';
  }

  /**
   * A new statement when the router can resume runtimes: the body is buffered (statements are
   * small) so that, if the group is asleep or its coordinator unreachable, the query is held and
   * submitted once, later, instead of failing a client that never retries a POST.
   */
  private async routeStatement(req: FastifyRequest, reply: FastifyReply, group: RouteGroup): Promise<string> {
    const body = await this.statements.read(req, this.opts.maxStatementBytes);
    let budgeted = true; // until the bytes pass to a held query or the statement is forwarded
    try {
      return await this.placeStatement(req, reply, group, body, () => (budgeted = false));
    } finally {
      if (budgeted) this.statements.give(body.length);
    }
  }

  private async placeStatement(req: FastifyRequest, reply: FastifyReply, group: RouteGroup, body: Buffer, handedOver: () => void): Promise<string> {
    const headers = upstreamHeaders(req);
    const base = `${forwardedProto(req)}://${firstHeader(req.headers['x-forwarded-host']) ?? req.headers.host ?? 'localhost'}`;
    const hold = (): string => {
      const text = this.held!.hold(group, headers, body, base, true);
      handedOver();
      reply.code(200).header('content-type', 'application/json').send(text);
      return 'held-for-resume';
    };
    if (!group.backends.some((b) => b.state === 'Ready' && b.weight > 0) && group.backends.some((b) => b.state === 'Suspended')) return hold();
    let backend: RouteBackend;
    try {
      backend = this.choose(group);
    } catch (e) {
      // Every coordinator unhealthy (unreachable, starting): wait for one rather than fail a POST.
      if (e instanceof RouterError && e.code === 'XTN_NO_HEALTHY_COORDINATOR') return hold();
      throw e;
    }
    await this.forward(req, reply, backend, { learnFromBody: true, body, onNotSent: () => {
      this.markUnhealthy(backend.id);
      return hold();
    } });
    return 'proxied';
  }

  private async routeHeldPoll(req: FastifyRequest, reply: FastifyReply, id: string, slug: string): Promise<string> {
    const held = this.held!;
    const holder = held.holderOf(slug);
    if (holder === undefined) throw errors.malformed('the wait URI is not valid (forged or expired)');
    if (holder !== 'self') {
      // Another replica holds this query: forward the poll there.
      const res = await undiciRequest(`http://${holder}${req.url}`, { method: req.method as 'GET', headers: upstreamHeaders(req), headersTimeout: 30_000 }).catch(() => undefined);
      if (!res || !validStatus(res.statusCode)) throw new RouterError('XTN_COORDINATOR_UNREACHABLE', 502, 'xtrinode-gateway: the router holding this query is unreachable; retry.');
      this.writeResponse(req, reply, res as unknown as UpstreamResponse, {});
      return 'held-forwarded';
    }
    if (req.method === 'DELETE') {
      if (!held.cancel(id, slug)) throw errors.queryNotFound(id);
      reply.code(204).send();
      return 'held-cancelled';
    }
    const answer = await held.poll(id, slug);
    if (!answer) throw errors.queryNotFound(id);
    reply.hijack();
    reply.raw.writeHead(answer.status, { ...answer.headers, 'content-length': answer.body.length });
    reply.raw.end(answer.body);
    return 'held-poll';
  }

  /**
   * For held queries: a backend marked Ready in the table whose /v1/info says it is up (probed
   * here, whatever the last health check said; a success marks it healthy again).
   */
  private async readyBackend(group: RouteGroup): Promise<RouteBackend | undefined> {
    for (const b of group.backends.filter((x) => x.state === 'Ready' && x.weight > 0)) {
      // One check per coordinator every 250 ms, whatever the number of held queries asking.
      if (await this.coordinatorHealth.up(this.opts.resolveService(b.service), 250)) {
        this.health.set(b.id, { healthy: true });
        return b;
      }
    }
    return undefined;
  }

  /**
   * Submits a held statement to a coordinator of its waking runtime, following its first polls
   * until Trino scheduled it (held-submission.ts); the answer is the page the client gets next.
   */
  private async submitHeld(b: RouteBackend, headers: Record<string, string | string[]>, body: Buffer, deadline: number): Promise<CapturedResponse> {
    const pool = this.pool(this.opts.resolveService(b.service));
    const capture = async (res: Dispatcher.ResponseData): Promise<CapturedResponse> => {
      if (!validStatus(res.statusCode)) {
        discard(res as unknown as UpstreamResponse);
        throw errors.badResponse(b.id);
      }
      const chunks: Buffer[] = [];
      for await (const c of res.body) chunks.push(c as Buffer);
      const h = endToEnd(res.headers);
      delete h['content-length']; // re-set for the buffered body when answered
      return { status: res.statusCode, headers: h, body: Buffer.concat(chunks) };
    };
    // The router reads these pages (held-submission.ts): plain JSON, whatever the client accepts.
    const submitHeaders = withPrefix(headers, b.prefix);
    submitHeaders['accept-encoding'] = 'identity';
    // Polls are bodiless and need no credentials (Trino serves them by their secret URL).
    const pollHeaders = { ...submitHeaders };
    for (const h of [...CREDENTIAL_HEADERS, 'content-length', 'content-type', 'transfer-encoding']) delete pollHeaders[h];
    const { answer, submissions, states } = await submitScheduled({
      submit: async () => {
        let res: Dispatcher.ResponseData;
        try {
          res = await pool.request({ method: 'POST', path: '/v1/statement', headers: submitHeaders, body });
        } catch (e) {
          if (isNotSent(e)) throw new NotSentError(String(e));
          throw e;
        }
        return capture(res);
      },
      poll: async (path) => capture(await pool.request({ method: 'GET', path, headers: pollHeaders, headersTimeout: this.opts.probeTimeoutMs * 2 })),
    }, { prefix: b.prefix, followMs: 10_000, deadline });
    this.log.info({ backend: b.id, submissions, states }, 'held statement submitted');
    const id = queryIdInBody(answer.body.subarray(0, 256).toString('latin1'));
    if (id) this.sticky.set(querySuffix(id), b.id);
    this.opts.resumer?.noteActivity(b.id);
    return answer;
  }

  private choose(group: RouteGroup): RouteBackend {
    if (group.backends.length === 1) {
      const b = group.backends[0]!;
      if (b.state === 'Suspended') {
        if (this.opts.resumer) void this.opts.resumer.resume(group);
        throw errors.suspended(b.id);
      }
      if (b.state === 'Unresolved') throw errors.unresolved(b.id);
      return b;
    }
    const b = this.balancer.choose(group, (id) => this.health.get(id));
    if (!b) {
      const suspended = group.backends.find((x) => x.state === 'Suspended');
      if (suspended && group.backends.every((x) => x.state !== 'Ready')) {
        if (this.opts.resumer) void this.opts.resumer.resume(group);
        throw errors.suspended(suspended.id);
      }
      throw errors.noHealthy(group.name);
    }
    return b;
  }

  private pinnedBackend(req: FastifyRequest, url: string, index: RouteIndex, oauth: OAuth2CookieOptions): { backend: RouteBackend; fromMarker: boolean } | undefined {
    const now = Date.now();
    const q = url.indexOf('?');
    if (q >= 0) {
      const marker = new URLSearchParams(url.slice(q + 1)).get(ROUTE_MARKER_PARAM);
      if (marker !== null) {
        const v = this.signer!.verify(marker, now);
        if (!v.ok) throw errors.badCookie(v.reason === 'expired' ? 'expired' : 'not valid');
        const entry = index.backends.get(v.backendId);
        if (entry) return { backend: entry.backend, fromMarker: true };
      }
    }
    const cookie = readCookie(req.headers.cookie, oauth.name);
    if (cookie === undefined) return undefined;
    const v = this.signer!.verify(cookie, now);
    if (!v.ok) throw errors.badCookie(v.reason === 'expired' ? 'expired' : 'not valid');
    const entry = index.backends.get(v.backendId);
    return entry ? { backend: entry.backend, fromMarker: false } : undefined;
  }

  /** Follow-ups: owner known -> straight there; unknown -> probe where the protocol allows. */
  private async routeFollowUp(req: FastifyRequest, reply: FastifyReply, index: RouteIndex, a: Affinity & { kind: 'query' | 'spooled' }, host: string | undefined, selector: string | undefined): Promise<string> {
    // Only inside the group the request resolves to: a client's credentials never go to a
    // coordinator its request was not routed to, whatever the router learned.
    const r = index.resolve(host, selector);
    if (r.kind === 'unknown-selector') throw errors.unknownSelector(r.value);
    if (a.kind === 'query') {
      const owner = this.sticky.get(a.suffix);
      const entry = owner === undefined ? undefined : index.backends.get(owner);
      if (entry && r.kind === 'group' && entry.group.name === r.group.name) {
        this.mSticky.inc({ result: 'hit' });
        await this.forward(req, reply, entry.backend, { retryNotSentMs: this.opts.followUpRetryMs });
        return 'sticky-hit';
      }
    }
    this.mSticky.inc({ result: 'miss' });
    const candidates = (r.kind === 'group' ? r.group.backends : []).filter((b) => b.state === 'Ready');
    if (candidates.length === 0) throw a.kind === 'query' ? errors.queryNotFound(a.queryId) : errors.malformed('no coordinator to serve this segment');
    const method = req.method;
    if (method !== 'GET' && method !== 'HEAD' && method !== 'DELETE') throw errors.malformed(`${method} is not a follow-up method`);
    if (a.kind === 'query' && !a.probeSafe) {
      // Its answer does not tell the owner (DELETE /v1/query is 204 everywhere): send it to every
      // coordinator, learn nothing, answer with the first status that is not a 404.
      const status = await this.broadcast(req, candidates);
      reply.code(status ?? 404).send();
      return 'sticky-broadcast';
    }
    const found = await this.probe(req, candidates);
    if (found) {
      if (a.kind === 'query') this.sticky.set(a.suffix, found.backend.id);
      this.writeResponse(req, reply, found.res, {});
      return 'sticky-probed';
    }
    if (a.kind === 'query') throw errors.queryNotFound(a.queryId);
    throw new RouterError('XTN_QUERY_NOT_FOUND', 404, 'xtrinode-gateway: no coordinator knows this spooled segment.');
  }

  /** Sends the (bodiless) request to every candidate, `probeConcurrency` at a time; returns the first non-404 status. */
  private async broadcast(req: FastifyRequest, candidates: RouteBackend[]): Promise<number | undefined> {
    let status: number | undefined;
    for (let i = 0; i < candidates.length; i += this.opts.probeConcurrency) {
      const batch = candidates.slice(i, i + this.opts.probeConcurrency);
      this.mSticky.inc({ result: 'probe' }, batch.length);
      const results = await Promise.all(batch.map((b) => this.send(req, b).catch(() => undefined)));
      for (const res of results) {
        if (!res) continue;
        if (status === undefined && res.statusCode !== 404) status = res.statusCode;
        discard(res);
      }
    }
    return status;
  }

  /**
   * Sends the (bodiless) request to candidates, `probeConcurrency` at a time; the first answer in
   * order that proves ownership (2xx) wins. Trino answers 404 or 410 for queries it does not know;
   * 401/403 and 5xx prove nothing either.
   */
  private async probe(req: FastifyRequest, candidates: RouteBackend[]): Promise<{ backend: RouteBackend; res: UpstreamResponse } | undefined> {
    for (let i = 0; i < candidates.length; i += this.opts.probeConcurrency) {
      const batch = candidates.slice(i, i + this.opts.probeConcurrency);
      this.mSticky.inc({ result: 'probe' }, batch.length);
      const results = await Promise.all(batch.map((b) => this.send(req, b).then((res) => ({ b, res }), () => undefined)));
      let winner: { backend: RouteBackend; res: UpstreamResponse } | undefined;
      for (const r of results) {
        if (!r) continue;
        if (!winner && r.res.statusCode >= 200 && r.res.statusCode < 300) winner = { backend: r.b, res: r.res };
        else discard(r.res);
      }
      if (winner) return winner;
    }
    return undefined;
  }

  /**
   * A bodiless request whose whole response the caller decides about (probes), bounded by the
   * probe timeout. Where Trino needs no credentials (the URL is the secret), none are sent to a
   * coordinator that may not own the query.
   */
  private async send(req: FastifyRequest, backend: RouteBackend): Promise<UpstreamResponse> {
    const t = this.opts.probeTimeoutMs;
    const headers = upstreamHeaders(req, backend.prefix);
    if (credentialFree(req.url)) for (const h of CREDENTIAL_HEADERS) delete headers[h];
    const res = (await this.pool(this.opts.resolveService(backend.service)).request({ method: req.method as 'GET', path: req.url, headers, headersTimeout: t, bodyTimeout: t })) as UpstreamResponse;
    if (!validStatus(res.statusCode)) {
      discard(res);
      throw errors.badResponse(backend.id);
    }
    return res;
  }

  /**
   * Proxies one request to a coordinator and streams the answer back: undici's dispatch API
   * straight into the client's socket, with backpressure (pause upstream while the client's
   * buffer is full). Resolves once response headers are sent. A bodiless request whose
   * connection is refused is retried for `retryNotSentMs` (a restarting coordinator).
   */
  private async forward(req: FastifyRequest, reply: FastifyReply, backend: RouteBackend, o: WriteOptions & ForwardTarget & { learnFromBody?: boolean; body?: Buffer; onNotSent?: () => string; retryNotSentMs?: number }): Promise<void> {
    const hasBody = o.body !== undefined || (req.method !== 'GET' && req.method !== 'HEAD' && (req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined));
    const deadline = o.retryNotSentMs && !hasBody ? Date.now() + o.retryNotSentMs : 0;
    for (let delay = 100; ; delay = Math.min(delay * 2, 2000)) {
      try {
        await this.dispatchOnce(req, reply, backend, hasBody, o);
        this.opts.resumer?.noteActivity(backend.id);
        return;
      } catch (e) {
        if (e instanceof RouterError) throw e;
        if (isNotSent(e) && Date.now() + delay < deadline && !reply.raw.destroyed) {
          await new Promise((r) => setTimeout(r, delay));
          continue;
        }
        if (o.onNotSent && isNotSent(e)) {
          o.onNotSent();
          return;
        }
        if (e instanceof undiciErrors.HeadersTimeoutError) throw errors.timeout(backend.id);
        this.markUnhealthy(backend.id);
        throw errors.unreachable(backend.id);
      }
    }
  }

  private dispatchOnce(req: FastifyRequest, reply: FastifyReply, backend: RouteBackend, hasBody: boolean, o: WriteOptions & ForwardTarget & { learnFromBody?: boolean; body?: Buffer }): Promise<void> {
    const res = reply.raw;
    return new Promise<void>((resolve, reject) => {
      let started = false;
      let controller: Dispatcher.DispatchController | undefined;
      // The response closing before it finished means the client went away: cancel upstream.
      // (IncomingMessage 'close' fires as soon as the request body is read, so it can't tell.)
      const onClose = () => {
        if (!res.writableFinished) controller?.abort(new Error('client closed the request'));
      };
      res.once('close', onClose);
      let learn = false;
      this.pool(this.opts.resolveService(backend.service)).dispatch(
        { method: req.method as Dispatcher.HttpMethod, path: o.path ?? req.url, headers: upstreamHeaders(req, o.prefix ?? backend.prefix), body: o.body ?? (hasBody ? req.raw : null) },
        {
          onRequestStart: (c) => {
            controller = c;
            if (res.destroyed) c.abort(new Error('client closed the request'));
          },
          onResponseStart: (c, statusCode, headers) => {
            if (!validStatus(statusCode)) {
              // Node cannot even write it (099, 600): nothing of this response goes to the client.
              res.off('close', onClose);
              reject(errors.badResponse(backend.id));
              c.abort(new Error('invalid status'));
              return;
            }
            started = true;
            const marked = statusCode === 401 && this.signer && this.opts.oauth2 ? { ...o, markChallengeFor: backend } : o;
            reply.hijack();
            res.writeHead(statusCode, this.responseHeaders(req, headers, marked));
            learn = o.learnFromBody === true && statusCode === 200;
            resolve();
          },
          onResponseData: (c, chunk) => {
            if (learn) {
              learn = false;
              const id = queryIdInBody(chunk.subarray(0, 256).toString('latin1'));
              if (id) this.sticky.set(querySuffix(id), backend.id);
            }
            if (!res.write(chunk)) {
              c.pause();
              res.once('drain', () => c.resume());
            }
          },
          onResponseEnd: () => {
            res.off('close', onClose);
            res.end();
          },
          onResponseError: (_c, err) => {
            res.off('close', onClose);
            if (!started) reject(res.destroyed ? new RouterError('XTN_MALFORMED_REQUEST', 499, 'client closed the request') : err);
            else res.destroy();
          },
        },
      );
    });
  }

  /** Response headers for the client: hop-by-hop removed, OAuth2 cookie and challenge marker added. */
  private responseHeaders(req: FastifyRequest, upstream: IncomingHttpHeaders, o: WriteOptions): OutgoingHttpHeaders {
    const headers: OutgoingHttpHeaders = endToEnd(upstream);
    const oauth = this.opts.oauth2;
    if (oauth && this.signer) {
      const cookies: string[] = [];
      const secure = forwardedProto(req) === 'https' ? '; Secure' : '';
      if (o.setCookieFor) {
        const token = this.signer.sign(o.setCookieFor.id, Date.now() + oauth.lifetimeMs);
        cookies.push(`${oauth.name}=${token}; Path=/; Max-Age=${Math.floor(oauth.lifetimeMs / 1000)}; HttpOnly; SameSite=Lax${secure}`);
      }
      if (o.deleteCookie) cookies.push(`${oauth.name}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax${secure}`);
      if (cookies.length > 0) {
        const prev = headers['set-cookie'];
        headers['set-cookie'] = [...(prev === undefined ? [] : Array.isArray(prev) ? prev : [String(prev)]), ...cookies];
      }
      if (o.markChallengeFor && headers['www-authenticate'] !== undefined) {
        const token = this.signer.sign(o.markChallengeFor.id, Date.now() + oauth.lifetimeMs);
        headers['www-authenticate'] = markChallenge(headers['www-authenticate'] as string | string[], token);
      }
    }
    return headers;
  }

  /** Streams a response obtained with request() (probes, peer-forwarded polls) to the client. */
  private writeResponse(req: FastifyRequest, reply: FastifyReply, res: UpstreamResponse, o: WriteOptions): void {
    reply.hijack();
    reply.raw.writeHead(res.statusCode, this.responseHeaders(req, res.headers, o));
    pipeline(res.body, reply.raw, (err) => {
      if (err && !reply.raw.destroyed) reply.raw.destroy();
    });
  }

  private sendError(req: FastifyRequest, reply: FastifyReply, e: unknown): void {
    const err = e instanceof RouterError ? e : undefined;
    if (!err) this.log.error({ err: e, method: req.method, url: req.url.slice(0, 200) }, 'router internal error');
    else if (err.status >= 500) this.log.warn({ code: err.code, method: req.method, path: req.url.split('?')[0]!.slice(0, 200) }, err.message);
    if (reply.sent || reply.raw.headersSent) {
      reply.raw.destroy();
      return;
    }
    const status = err?.status ?? 500;
    if (status === 499) {
      reply.raw.destroy();
      return;
    }
    const message = err?.message ?? 'xtrinode-gateway: internal router error; the request was not forwarded. Retry; report it if it persists.';
    reply.code(status).header('content-type', 'text/plain; charset=utf-8').header('x-xtrinode-error', err?.code ?? 'XTN_INTERNAL');
    // A body the router stopped reading (too large, over budget) is not drained: close instead.
    if (!req.raw.complete) reply.header('connection', 'close');
    if (err?.retryAfter !== undefined) reply.header('retry-after', String(err.retryAfter));
    if (err?.code === 'XTN_BAD_ROUTING_COOKIE' && this.opts.oauth2) reply.header('set-cookie', `${this.opts.oauth2.name}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax`);
    reply.send(`${message}\n`);
  }

  // --- health -----------------------------------------------------------------------------------

  private markUnhealthy(id: string): void {
    const h = this.health.get(id);
    if (h) h.healthy = false;
    else this.health.set(id, { healthy: false });
  }

  private startHealthChecks(): void {
    if (this.healthTimer || this.opts.healthIntervalMs <= 0) return;
    const tick = () => void this.checkHealth().catch((e: unknown) => this.log.warn({ err: String(e) }, 'health check round failed'));
    tick();
    this.healthTimer = setInterval(tick, this.opts.healthIntervalMs);
    this.healthTimer.unref();
  }

  /** Checks coordinators of groups where the router chooses (more than one backend). */
  async checkHealth(): Promise<void> {
    const index = this.index;
    if (!index) return;
    const targets = [...index.backends.values()].filter((e) => e.group.backends.length > 1 && e.backend.state === 'Ready').map((e) => e.backend);
    await Promise.all(targets.map(async (b) => {
      const origin = this.opts.resolveService(b.service);
      const h: BackendHealth = { healthy: await this.coordinatorHealth.up(origin, this.opts.healthIntervalMs / 2) };
      if (h.healthy && this.opts.balancing === 'adaptive') {
        const load = await coordinatorLoad(origin, this.opts.probeTimeoutMs);
        if (load !== undefined) h.load = load; // else round-robin decides
      }
      this.health.set(b.id, h);
      this.mHealthy.set({ backend: b.id }, h.healthy ? 1 : 0);
    }));
  }
}

/** Where a forwarded request goes on the coordinator: its path (default: as received) and X-Forwarded-Prefix. */
interface ForwardTarget {
  path?: string;
  prefix?: string;
}

interface WriteOptions {
  setCookieFor?: RouteBackend | undefined;
  deleteCookie?: boolean;
  markChallengeFor?: RouteBackend;
}

interface UpstreamResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: NodeJS.ReadableStream & { destroy(): void; dump?: () => Promise<void> };
}

const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);
/** True when a request failed before anything reached the coordinator (safe to retry or hold). */
function isNotSent(e: unknown): boolean {
  const code = (e as { code?: string } | undefined)?.code ?? (e as { cause?: { code?: string } } | undefined)?.cause?.code;
  return code !== undefined && NOT_SENT_CODES.has(code);
}

/** A final status Node can write back: 200-599 (1xx never reach a response handler). */
function validStatus(code: number): boolean {
  return Number.isInteger(code) && code >= 200 && code <= 599;
}

function firstHeader(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** Reads and drops a response body we won't forward (keeps the connection reusable). */
function discard(res: UpstreamResponse): void {
  res.body.on('error', () => undefined);
  if (res.body.dump) void res.body.dump().catch(() => undefined);
  else res.body.destroy();
}

/** The end-to-end headers: hop-by-hop ones and those named in Connection removed. */
function endToEnd(h: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const connectionTokens = connectionHeaderTokens(h.connection);
  for (const k in h) {
    const v = h[k];
    if (v === undefined || HOP_BY_HOP.has(k) || connectionTokens?.has(k)) continue;
    out[k] = v;
  }
  return out;
}

function connectionHeaderTokens(v: string | string[] | undefined): Set<string> | undefined {
  if (v === undefined) return undefined;
  return new Set((Array.isArray(v) ? v.join(',') : v).split(',').map((t) => t.trim().toLowerCase()));
}

function forwardedProto(req: FastifyRequest): string {
  const p = req.headers['x-forwarded-proto'];
  return (Array.isArray(p) ? p[0] : p)?.split(',')[0]?.trim() || 'http';
}

/** Sets X-Forwarded-Prefix to the coordinator's prefix, or removes a client's own value (in place). */
function setPrefix(headers: Record<string, string | string[]>, prefix: string | undefined): Record<string, string | string[]> {
  delete headers['x-forwarded-prefix'];
  if (prefix !== undefined) headers['x-forwarded-prefix'] = prefix;
  return headers;
}

function withPrefix(headers: Record<string, string | string[]>, prefix: string | undefined): Record<string, string | string[]> {
  return setPrefix({ ...headers }, prefix);
}

/**
 * Request headers for the coordinator: hop-by-hop removed, X-Forwarded-* kept or set, and
 * X-Forwarded-Prefix always the router's (the coordinator's prefix, or none): a client's own
 * value would make Trino write URLs the client chose.
 */
function upstreamHeaders(req: FastifyRequest, prefix?: string): Record<string, string | string[]> {
  const h = req.headers;
  const out = setPrefix(endToEnd(h), prefix);
  // The router already answered `Expect: 100-continue` itself (Node does); the coordinator gets the body.
  delete out.expect;
  const host = h.host ?? '';
  const proto = forwardedProto(req);
  // Checked on what is forwarded, not on what arrived: `Connection: x-forwarded-host` removes the
  // client's value, and Trino must still build URLs with the client's host, never its own address.
  if (out['x-forwarded-proto'] === undefined) out['x-forwarded-proto'] = proto;
  if (out['x-forwarded-host'] === undefined && host) out['x-forwarded-host'] = host;
  if (out['x-forwarded-port'] === undefined) {
    const m = /:(\d+)$/.exec(host);
    out['x-forwarded-port'] = m ? m[1]! : proto === 'https' ? '443' : '80';
  }
  const ip = req.raw.socket.remoteAddress ?? '';
  const xff = h['x-forwarded-for'];
  out['x-forwarded-for'] = xff ? `${Array.isArray(xff) ? xff.join(', ') : xff}, ${ip}` : ip;
  return out;
}

function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Adds the signed route marker to the x_redirect_server / x_token_server URLs of a challenge. */
export function markChallenge(v: string | string[], token: string): string | string[] {
  const mark = (s: string) =>
    s.replace(/(x_redirect_server|x_token_server)="([^"]*)"/g, (_m, k: string, u: string) => `${k}="${u}${u.includes('?') ? '&' : '?'}${ROUTE_MARKER_PARAM}=${token}"`);
  return Array.isArray(v) ? v.map(mark) : mark(v);
}
