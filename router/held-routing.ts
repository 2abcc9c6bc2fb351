/**
 * The router's side of held queries (held-queries.ts keeps them): polls and cancels of wait URIs,
 * handed to the replica holding the query when it is another one, and the submission of a held
 * statement once its runtime woke, following it until Trino scheduled it (held-submission.ts).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { request as undiciRequest, type Dispatcher } from 'undici';
import type { RouteBackend } from '../routetable/schema.ts';
import { RouterError, errors } from './errors.ts';
import { discard, isNotSent, validStatus, type UpstreamResponse } from './forwarder.ts';
import { endToEnd, upstreamHeaders, withPrefix, type Headers } from './forwarding-headers.ts';
import { NotSentError, type CapturedResponse, type HeldQueries } from './held-queries.ts';
import { submitScheduled } from './held-submission.ts';
import type { RoutingContext } from './router-options.ts';
import { CREDENTIAL_HEADERS, queryIdInBody, querySuffix } from './trino-paths.ts';

export class HeldRouting {
  private readonly ctx: RoutingContext;
  held: HeldQueries | undefined;

  constructor(ctx: RoutingContext) {
    this.ctx = ctx;
  }

  /** A poll or DELETE of a wait URI (`/xtrinode/wait/<id>/<slug>/<token>`). */
  async poll(req: FastifyRequest, reply: FastifyReply, id: string, slug: string): Promise<string> {
    const held = this.held!;
    const holder = held.holderOf(slug);
    if (holder === undefined) throw errors.malformed('the wait URI is not valid (forged or expired)');
    if (holder !== 'self') {
      // Another replica holds this query: forward the poll there.
      const res = await undiciRequest(`http://${holder}${req.url}`, { method: req.method as 'GET', headers: upstreamHeaders(req), headersTimeout: 30_000 }).catch(() => undefined);
      if (!res || !validStatus(res.statusCode)) throw new RouterError('XTN_COORDINATOR_UNREACHABLE', 502, 'xtrinode-gateway: the router holding this query is unreachable; retry.');
      this.ctx.forwarder.writeResponse(req, reply, res as unknown as UpstreamResponse);
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
   * Submits a held statement to a coordinator of its waking runtime, following its first polls
   * until Trino scheduled it; the answer is the page the client gets next.
   */
  async submit(b: RouteBackend, headers: Headers, body: Buffer, deadline: number): Promise<CapturedResponse> {
    const pool = this.ctx.forwarder.pool(b);
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
      poll: async (path) => capture(await pool.request({ method: 'GET', path, headers: pollHeaders, headersTimeout: this.ctx.opts.probeTimeoutMs * 2 })),
    }, { prefix: b.prefix, followMs: 10_000, deadline });
    this.ctx.log.info({ backend: b.id, submissions, states }, 'held statement submitted');
    const id = queryIdInBody(answer.body.subarray(0, 256).toString('latin1'));
    if (id) this.ctx.sticky.set(querySuffix(id), b.id);
    this.ctx.opts.activity?.note(b.id);
    return answer;
  }
}
