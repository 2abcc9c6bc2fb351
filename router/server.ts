/**
 * The router process's HTTP side: fastify wired to the routing modules, the route table in
 * force, listening, the admin port and draining. No Trino logic lives here: where a request
 * goes is request-routing.ts, and the modules it calls own each Trino concern (follow-ups.ts,
 * new-statements.ts, held-routing.ts, oauth2-handshake.ts, forwarder.ts, health-checks.ts).
 *
 * @example
 * const router = new TrinoRouter({ resolveService: (s) => `http://127.0.0.1:${s.port}` });
 * router.setTable(table);
 * await router.listen({ port: 8080, host: '0.0.0.0' });
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import pino, { type Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { RouteBackend, RouteTable } from '../routetable/schema.ts';
import { RouteIndex } from './route-index.ts';
import { StickyMap } from './sticky-map.ts';
import { RouterError, errors, replyWithError } from './errors.ts';
import { TokenSigner } from './signed-token.ts';
import { HeldQueries } from './held-queries.ts';
import { Capacity, limited } from './capacity.ts';
import { clientServer } from './client-connection.ts';
import { StatementBudget } from './statement-budget.ts';
import { serveAdmin } from './admin-endpoints.ts';
import { settle, type RouterOptions, type RouterSettings, type RoutingContext } from './router-options.ts';
import { RouterMetrics } from './router-metrics.ts';
import { Forwarder } from './forwarder.ts';
import { HealthChecks } from './health-checks.ts';
import { OAuth2Handshake } from './oauth2-handshake.ts';
import { FollowUps } from './follow-ups.ts';
import { NewStatements } from './new-statements.ts';
import { HeldRouting } from './held-routing.ts';
import { routeRequest, type RequestKinds } from './request-routing.ts';
import { querySuffix } from './trino-paths.ts';
import type { RequestListener, Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export type { RouterOptions } from './router-options.ts';

export class TrinoRouter {
  readonly app: FastifyInstance;
  readonly metrics: Registry;
  /** Statement bodies buffered (read before forwarding, or held). */
  readonly statements: StatementBudget;
  private readonly opts: RouterSettings;
  private readonly log: Logger;
  private readonly ctx: RoutingContext;
  private readonly kinds: RequestKinds;
  private readonly held: HeldQueries | undefined;
  private readonly capacity: Capacity;
  private index: RouteIndex | undefined;
  private admin: { close(): Promise<void> } | undefined;
  /** Fastify's request handler, also served on the peer port of a worker (workers.ts). */
  private handler: RequestListener | undefined;
  private peerServer: Server | undefined;
  private readonly clientServer: (handler: RequestListener) => Server;
  private activityTimer: NodeJS.Timeout | undefined;
  private draining = false;
  private inFlight = 0;

  constructor(options: RouterOptions = {}) {
    const opts = (this.opts = settle(options));
    const log = (this.log = options.logger ?? pino({ level: process.env.LOG_LEVEL ?? 'info' }));
    this.statements = new StatementBudget(opts.statementBudgetBytes);
    const metrics = new RouterMetrics({ inFlight: () => this.inFlight, statementBytes: () => this.statements.usedBytes, statementBudget: () => this.statements.limitBytes, heldQueries: () => this.held?.size ?? 0, queueDepths: () => this.held?.depths() ?? new Map() });
    this.metrics = metrics.registry;
    const origin = (b: RouteBackend) => opts.resolveService(b.service);
    const sticky = new StickyMap();
    const oauth2 = opts.oauth2 ? new OAuth2Handshake(opts.oauth2) : undefined;
    const health = new HealthChecks({ intervalMs: opts.healthIntervalMs, probeTimeoutMs: opts.probeTimeoutMs, balancing: opts.balancing, origin, index: () => this.index, gauge: metrics.healthy, log });
    const forwarder = new Forwarder(opts, {
      origin,
      learned: (id, backendId) => sticky.set(querySuffix(id), backendId),
      served: (backendId) => opts.activity?.note(backendId),
      unreachable: (backendId) => health.markUnhealthy(backendId),
    }, oauth2, this.statements);
    this.ctx = { opts, log, metrics, index: () => this.index, sticky, forwarder, health, oauth2 };
    const held = new HeldRouting(this.ctx);
    const capacity = new Capacity({ origin, readMs: opts.capacityReadMs, timeoutMs: opts.probeTimeoutMs, up: (b) => health.up(b) });
    this.capacity = capacity;
    // Held statements: for a waking runtime (with a resumer) and for a full group's queue (always).
    const resumer = opts.resumer;
    if (resumer) resumer.counter = metrics.resumes;
    const peer = opts.peer;
    this.held = held.held = new HeldQueries(
      {
        group: (name) => this.index?.table.groups.find((g) => g.name === name),
        limited,
        readyBackend: (g) => (limited(g) ? capacity.admit(g) : health.readyBackend(g)),
        submit: (b, headers, body, deadline) => held.submit(b, headers, body, deadline),
        resume: (g) => void resumer?.resume(g),
      },
      { timeoutMs: opts.resumeTimeoutMs, budget: this.statements, abandonAfterMs: opts.heldAbandonAfterMs, queueTimeoutMs: opts.queueTimeoutMs, queueLimit: opts.queueLimit, ...(opts.queueing ? { queueing: opts.queueing } : {}), waited: (g, s) => metrics.queueWait.observe({ group: g }, s), ...(peer ? { selfAddress: peer.selfAddress, signer: new TokenSigner(peer.secret) } : {}) },
    );
    this.kinds = {
      followUps: new FollowUps(this.ctx),
      statements: new NewStatements(this.ctx, opts.resumer, capacity),
      held,
      budget: this.statements,
      resumer: opts.resumer,
      selfHosts: new Set(opts.selfHosts.map((h) => h.toLowerCase())),
      draining: () => this.draining,
    };

    const frameworkError = (err: { statusCode?: number; message?: string }, req: FastifyRequest, reply: FastifyReply) => {
      const status = err.statusCode ?? 500;
      this.sendError(req, reply, status >= 400 && status < 500 ? new RouterError('XTN_MALFORMED_REQUEST', status, `xtrinode-gateway: malformed request: ${(err.message ?? 'refused').slice(0, 200)}`) : err);
    };
    this.clientServer = clientServer({ headersTimeoutMs: opts.clientHeadersTimeoutMs, requestTimeoutMs: opts.clientRequestTimeoutMs });
    this.app = Fastify({
      logger: process.env.XTN_DEBUG_FASTIFY === '1',
      return503OnClosing: false,
      routerOptions: { maxParamLength: 1000 },
      forceCloseConnections: false,
      serverFactory: (handler) => {
        this.handler = handler;
        return this.clientServer(handler);
      },
      frameworkErrors: frameworkError,
    });
    this.app.removeAllContentTypeParsers();
    this.app.addContentTypeParser('*', (_req, _payload, done) => done(null)); // stream bodies through untouched
    // Every path of the data port is Trino's: health, readiness and metrics are on the admin port.
    this.app.all('/*', (req, reply) => this.handle(req, reply));
    // What fastify itself refuses (a URL it cannot decode, a body it cannot read) gets the same
    // one Trino-shaped error form as everything the router answers.
    this.app.setErrorHandler(frameworkError);
    // A method fastify routes nowhere (PROPFIND, MKCOL, ...): the same error form, not fastify's JSON 404.
    this.app.setNotFoundHandler((req, reply) => this.sendError(req, reply, errors.methodNotAllowed(req.method)));
  }

  /** Applies a validated route table; in-flight requests keep the backend they already have. */
  setTable(table: RouteTable): void {
    this.index = new RouteIndex(table);
    this.ctx.metrics.tableLoads.inc({ result: 'applied' });
    const live = new Set<string>();
    for (const { backend } of this.index.backends.values()) live.add(this.opts.resolveService(backend.service));
    this.ctx.health.retain(live);
    this.ctx.forwarder.retain(live);
    this.capacity.retain(new Set(this.index.backends.keys()));
    this.log.info({ groups: table.groups.length, backends: this.index.backends.size }, 'route table applied');
  }

  /** Counts and logs a refused table; the last good one stays in force. */
  refuseTable(reason: string): void {
    this.ctx.metrics.tableLoads.inc({ result: 'refused' });
    this.log.error({ reason }, 'route table refused; keeping the last good one');
  }

  get table(): RouteTable | undefined {
    return this.index?.table;
  }

  /** Checks the coordinators of groups where the router chooses, now. */
  checkHealth(): Promise<void> {
    return this.ctx.health.check();
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

  /**
   * A worker's own port (workers.ts): the same routes as the data port, never shared with other
   * workers, so a held query's poll handed here reaches the worker that holds it.
   */
  async listenPeer(opts: { port: number; host?: string }): Promise<string> {
    const server = this.clientServer(this.handler!);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: opts.port, host: opts.host ?? '0.0.0.0', exclusive: true }, () => resolve());
    });
    this.peerServer = server;
    const a = server.address() as AddressInfo;
    return `${a.address}:${a.port}`;
  }

  async listen(opts: { port: number; host?: string }): Promise<string> {
    const addr = await this.app.listen({ port: opts.port, host: opts.host ?? '0.0.0.0' });
    this.ctx.health.start();
    const activity = this.opts.activity;
    if (activity && this.opts.activityIntervalMs > 0) {
      this.activityTimer = setInterval(() => void activity.flush(), this.opts.activityIntervalMs);
      this.activityTimer.unref();
    }
    return addr;
  }

  /** Stops taking new requests, lets in-flight ones finish (bounded), closes pools. */
  async drain(): Promise<void> {
    this.draining = true;
    this.ctx.health.stop();
    if (this.activityTimer) clearInterval(this.activityTimer);
    await this.opts.activity?.flush();
    const deadline = Date.now() + this.opts.drainTimeoutMs;
    const closing = this.app.close();
    while (this.inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([closing, new Promise((r) => (timer = setTimeout(r, Math.max(0, deadline - Date.now()))))]);
    clearTimeout(timer);
    // Past the drain deadline, what is still open is cut: the process must be able to exit.
    this.app.server.closeAllConnections();
    this.peerServer?.closeAllConnections();
    this.peerServer?.close();
    await closing;
    await this.ctx.forwarder.destroy();
    this.held?.close();
    await this.admin?.close();
  }

  private async handle(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const start = process.hrtime.bigint();
    this.inFlight++;
    let outcome = 'proxied';
    try {
      outcome = await routeRequest(this.ctx, this.kinds, req, reply);
    } catch (e) {
      outcome = e instanceof RouterError ? e.code : 'internal';
      this.sendError(req, reply, e);
    } finally {
      this.inFlight--;
      const m = this.ctx.metrics.outcome(outcome);
      m.count();
      m.observeSeconds(Number(process.hrtime.bigint() - start) / 1e9);
    }
  }

  private sendError(req: FastifyRequest, reply: FastifyReply, e: unknown): void {
    replyWithError(req, reply, e, this.log, this.ctx.oauth2?.clearing());
  }
}
