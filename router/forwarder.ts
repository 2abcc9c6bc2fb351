/**
 * The one streaming forwarder: a connection pool per coordinator, and one request's trip to a
 * coordinator and back. Bodies are never parsed: undici's dispatch API writes the answer straight
 * into the client's socket with backpressure. The only byte it reads is the start of a new
 * statement's answer, to learn which coordinator owns the query id (when asked to).
 */
import { pipeline } from 'node:stream';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Pool, errors as undiciErrors, type Dispatcher } from 'undici';
import type { RouteBackend } from '../routetable/schema.ts';
import { RouterError, errors } from './errors.ts';
import { endToEnd, upstreamHeaders, type Headers } from './forwarding-headers.ts';
import { credentialFree, CREDENTIAL_HEADERS, queryIdInBody } from './trino-paths.ts';
import type { HandshakeMarks, OAuth2Handshake } from './oauth2-handshake.ts';
import type { StatementBudget } from './statement-budget.ts';

/** A response read with request() (probes, peer polls, held submissions). */
export interface UpstreamResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: NodeJS.ReadableStream & { destroy(): void; dump?: () => Promise<void> };
}

export interface ForwardOptions extends HandshakeMarks {
  /** The path on the coordinator (default: as received) and its X-Forwarded-Prefix (default: the backend's). */
  path?: string;
  prefix?: string;
  /** Learn the query id's owner from a 200 answer's first bytes (new statements). */
  learnFromBody?: boolean;
  /** A buffered body to send instead of the request's stream. */
  body?: Buffer;
  /** Called instead of failing when the connection was refused before anything was sent. */
  onNotSent?: () => string;
  /** How long a bodiless request is retried while connections are refused (a restarting coordinator). */
  retryNotSentMs?: number;
  /**
   * Called instead of forwarding a 404 (nothing of it reaches the client): for polls of a query
   * the coordinator no longer knows (it restarted), which the caller answers in Trino's form.
   */
  onNotFound?: () => void;
}

export interface ForwarderHooks {
  /** The origin of a coordinator Service. */
  origin(b: RouteBackend): string;
  /** A query id seen in a coordinator's answer. */
  learned(queryId: string, backendId: string): void;
  /** A coordinator served a request (for idle suspension). */
  served(backendId: string): void;
  /** A coordinator could not be reached. */
  unreachable(backendId: string): void;
}

const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);
/** True when a request failed before anything reached the coordinator (safe to retry or hold). */
export function isNotSent(e: unknown): boolean {
  const code = (e as { code?: string } | undefined)?.code ?? (e as { cause?: { code?: string } } | undefined)?.cause?.code;
  return code !== undefined && NOT_SENT_CODES.has(code);
}

/** A final status Node can write back: 200-599 (1xx never reach a response handler). */
export function validStatus(code: number): boolean {
  return Number.isInteger(code) && code >= 200 && code <= 599;
}

/** Reads and drops a response body we won't forward (keeps the connection reusable). */
export function discard(res: UpstreamResponse): void {
  res.body.on('error', () => undefined);
  if (res.body.dump) void res.body.dump().catch(() => undefined);
  else res.body.destroy();
}

export class Forwarder {
  private readonly pools = new Map<string, Pool>();
  private readonly o: { connectionsPerCoordinator: number; headersTimeoutMs: number; bodyTimeoutMs: number; probeTimeoutMs: number; maxStatementBytes: number };
  private readonly hooks: ForwarderHooks;
  private readonly oauth2: OAuth2Handshake | undefined;
  private readonly budget: StatementBudget;

  /**
   * Request bodies are read whole, inside `budget` (at most maxStatementBytes each), before a
   * coordinator connection is taken: a client that uploads slowly holds router memory for at most
   * its CLIENT_REQUEST_TIMEOUT, never one of the connectionsPerCoordinator upstream connections.
   */
  constructor(o: Forwarder['o'], hooks: ForwarderHooks, oauth2: OAuth2Handshake | undefined, budget: StatementBudget) {
    this.o = o;
    this.hooks = hooks;
    this.oauth2 = oauth2;
    this.budget = budget;
  }

  pool(b: RouteBackend): Pool {
    const origin = this.hooks.origin(b);
    let p = this.pools.get(origin);
    if (!p) {
      p = new Pool(origin, { connections: this.o.connectionsPerCoordinator, headersTimeout: this.o.headersTimeoutMs, bodyTimeout: this.o.bodyTimeoutMs, keepAliveTimeout: 30_000, pipelining: 1 });
      this.pools.set(origin, p);
    }
    return p;
  }

  /** Closes the pools of coordinators no longer in the route table (in-flight requests finish first). */
  retain(origins: Set<string>): void {
    for (const [origin, pool] of this.pools) {
      if (!origins.has(origin)) {
        this.pools.delete(origin);
        void pool.close();
      }
    }
  }

  async destroy(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.destroy()));
    this.pools.clear();
  }

  /**
   * Proxies one request to a coordinator and streams the answer back. Resolves once response
   * headers are sent. A bodiless request whose connection is refused is retried for
   * `retryNotSentMs` (a restarting coordinator).
   */
  async forward(req: FastifyRequest, reply: FastifyReply, backend: RouteBackend, o: ForwardOptions = {}): Promise<void> {
    const hasBody = o.body !== undefined || (req.method !== 'GET' && req.method !== 'HEAD' && (req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined));
    if (hasBody && o.body === undefined) {
      const body = await this.budget.read(req, this.o.maxStatementBytes);
      try {
        return await this.forward(req, reply, backend, { ...o, body });
      } finally {
        this.budget.give(body.length);
      }
    }
    const deadline = o.retryNotSentMs && !hasBody ? Date.now() + o.retryNotSentMs : 0;
    for (let delay = 100; ; delay = Math.min(delay * 2, 2000)) {
      try {
        await this.dispatchOnce(req, reply, backend, o);
        this.hooks.served(backend.id);
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
        this.hooks.unreachable(backend.id);
        throw errors.unreachable(backend.id);
      }
    }
  }

  private dispatchOnce(req: FastifyRequest, reply: FastifyReply, backend: RouteBackend, o: ForwardOptions): Promise<void> {
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
      this.pool(backend).dispatch(
        { method: req.method as Dispatcher.HttpMethod, path: o.path ?? req.url, headers: upstreamHeaders(req, o.prefix ?? backend.prefix), body: o.body ?? null },
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
            if (statusCode === 404 && o.onNotFound) {
              res.off('close', onClose);
              c.abort(new Error('answered by the router'));
              resolve();
              o.onNotFound();
              return;
            }
            started = true;
            const marks = statusCode === 401 && this.oauth2 ? { ...o, markChallengeFor: backend } : o;
            reply.hijack();
            res.writeHead(statusCode, this.responseHeaders(req, headers, marks));
            learn = o.learnFromBody === true && statusCode === 200;
            resolve();
          },
          onResponseData: (c, chunk) => {
            if (learn) {
              learn = false;
              const id = queryIdInBody(chunk.subarray(0, 256).toString('latin1'));
              if (id) this.hooks.learned(id, backend.id);
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

  /**
   * A bodiless request whose whole response the caller decides about (probes), bounded by the
   * probe timeout. Where Trino needs no credentials (the URL is the secret), none are sent to a
   * coordinator that may not own the query.
   */
  async send(req: FastifyRequest, backend: RouteBackend): Promise<UpstreamResponse> {
    const t = this.o.probeTimeoutMs;
    const headers: Headers = upstreamHeaders(req, backend.prefix);
    if (credentialFree(req.url)) for (const h of CREDENTIAL_HEADERS) delete headers[h];
    const res = (await this.pool(backend).request({ method: req.method as 'GET', path: req.url, headers, headersTimeout: t, bodyTimeout: t })) as UpstreamResponse;
    if (!validStatus(res.statusCode)) {
      discard(res);
      throw errors.badResponse(backend.id);
    }
    return res;
  }

  /** Streams a response obtained with request() (probes, peer-forwarded polls) to the client. */
  writeResponse(req: FastifyRequest, reply: FastifyReply, res: UpstreamResponse, marks: HandshakeMarks = {}): void {
    reply.hijack();
    reply.raw.writeHead(res.statusCode, this.responseHeaders(req, res.headers, marks));
    pipeline(res.body, reply.raw, (err) => {
      if (err && !reply.raw.destroyed) reply.raw.destroy();
    });
  }

  /** Response headers for the client: hop-by-hop removed, OAuth2 cookie and challenge marker added. */
  private responseHeaders(req: FastifyRequest, upstream: IncomingHttpHeaders, marks: HandshakeMarks): OutgoingHttpHeaders {
    const headers: OutgoingHttpHeaders = endToEnd(upstream);
    this.oauth2?.mark(req, headers, marks);
    return headers;
  }
}
