/**
 * Follow-ups: requests about a query that already exists on one coordinator.
 *
 * - By prefix (`/xtrinode/c/<namespace>/<name>/...`, what Trino writes into nextUri when the
 *   route table gives coordinators prefixes): the URL names the coordinator; sent there with the
 *   prefix stripped and X-Forwarded-Prefix set, as the Gateway's prefix route does.
 * - By query id (the fallback, and URLs clients build themselves: `/v1/query/{id}`,
 *   `/ui/api/query/{id}`, root-path polls, spooled segments): the owner learned from answers
 *   that proved it, else probed inside the group the request resolves to, and only there.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RouteBackend, RouteGroup } from '../routetable/schema.ts';
import type { RouteIndex } from './route-index.ts';
import type { Resumer } from './resume.ts';
import type { RoutingContext } from './router-options.ts';
import type { Affinity } from './trino-paths.ts';
import { RouterError, errors } from './errors.ts';
import { discard, type UpstreamResponse } from './forwarder.ts';
import { clientBase, failedResult } from './failed-result.ts';

export class FollowUps {
  private readonly ctx: RoutingContext;

  constructor(ctx: RoutingContext) {
    this.ctx = ctx;
  }

  /** A request that names its coordinator by prefix. */
  async byPrefix(req: FastifyRequest, reply: FastifyReply, index: RouteIndex, p: { id: string; prefix: string; rest: string }, resumer: Resumer | undefined): Promise<string> {
    const entry = index.backends.get(p.id);
    if (!entry) throw errors.unknownCoordinator(p.prefix);
    const b = entry.backend;
    if (b.state === 'Unresolved') throw errors.unresolved(b.id);
    if (b.state === 'Suspended') {
      if (resumer) void resumer.resume(entry.group);
      throw errors.suspended(b.id);
    }
    if (b.state === 'NotReady') throw errors.notReady(b.id);
    let lost = false;
    await this.ctx.forwarder.forward(req, reply, b, { path: p.rest, prefix: p.prefix, retryNotSentMs: this.ctx.opts.followUpRetryMs, ...this.lostPoll(req, reply, p.rest, () => (lost = true)) });
    return lost ? 'query-not-found' : 'prefix';
  }

  /** Owner known -> straight there; unknown -> probe where the protocol allows. */
  async byQueryId(req: FastifyRequest, reply: FastifyReply, index: RouteIndex, a: Affinity & { kind: 'query' | 'spooled' }, host: string | undefined, selector: string | undefined, routingGroup?: string): Promise<string> {
    const { sticky, metrics, forwarder, opts } = this.ctx;
    // Only inside the groups the request may reach: a client's credentials never go to a
    // coordinator its request could not have been routed to, whatever the router learned. Without
    // a hostname or selector that is the default group and every group a routing rule leads to
    // (a follow-up does not repeat the X-Trino-Source or client tags its statement was placed by).
    const r = index.resolve(host, selector, { routingGroup });
    if (r.kind === 'unknown-selector') throw errors.unknownSelector(r.value, r.header);
    const byDefault = r.kind === 'no-route' || (r.kind === 'group' && r.via === 'default');
    const groups: RouteGroup[] = [...(r.kind === 'group' ? [r.group] : []), ...(byDefault ? index.ruleGroups.filter((g) => r.kind !== 'group' || g !== r.group) : [])];
    if (a.kind === 'query') {
      const owner = sticky.get(a.suffix);
      const entry = owner === undefined ? undefined : index.backends.get(owner);
      if (entry && groups.some((g) => g.name === entry.group.name)) {
        metrics.stickyHit.inc();
        let lost = false;
        await forwarder.forward(req, reply, entry.backend, { retryNotSentMs: opts.followUpRetryMs, ...this.lostPoll(req, reply, req.url, () => (lost = true)) });
        return lost ? 'query-not-found' : 'sticky-hit';
      }
    }
    metrics.stickyMiss.inc();
    const candidates = groups.flatMap((g) => g.backends).filter((b) => b.state === 'Ready');
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
      if (a.kind === 'query') sticky.set(a.suffix, found.backend.id);
      forwarder.writeResponse(req, reply, found.res);
      return 'sticky-probed';
    }
    const lost = a.kind === 'query' ? this.lostPoll(req, reply, req.url, () => undefined).onNotFound : undefined;
    if (lost) {
      lost();
      return 'query-not-found';
    }
    if (a.kind === 'query') throw errors.queryNotFound(a.queryId);
    throw new RouterError('XTN_QUERY_NOT_FOUND', 404, 'xtrinode-gateway: no coordinator knows this spooled segment.');
  }

  /**
   * For a poll of a statement (GET /v1/statement/queued|executing/{id}/...): answers a query that
   * no coordinator knows (its coordinator restarted, it expired) with the query's failure in
   * Trino's own form, a FAILED QueryResults that every client shows as the query's error, instead
   * of a bare 404 its client reports as a broken response. Nothing for other requests.
   */
  private lostPoll(req: FastifyRequest, reply: FastifyReply, path: string, then: () => void): { onNotFound?: () => void } {
    const m = /^\/v1\/statement\/(?:queued|executing)\/([0-9a-z_]+)\//.exec(path);
    if (req.method !== 'GET' || !m) return {};
    const id = m[1]!;
    return {
      onNotFound: () => {
        const e = errors.queryNotFound(id);
        reply.code(200).header('content-type', 'application/json').header('x-xtrinode-error', e.code).send(JSON.stringify(failedResult({ id, base: clientBase(req), message: e.message, name: 'XTRINODE_QUERY_NOT_FOUND', type: 'EXTERNAL' })));
        then();
      },
    };
  }

  /** Sends the (bodiless) request to every candidate, `probeConcurrency` at a time; returns the first non-404 status. */
  private async broadcast(req: FastifyRequest, candidates: RouteBackend[]): Promise<number | undefined> {
    let status: number | undefined;
    for (const batch of batches(candidates, this.ctx.opts.probeConcurrency)) {
      this.ctx.metrics.sticky.inc({ result: 'probe' }, batch.length);
      const results = await Promise.all(batch.map((b) => this.ctx.forwarder.send(req, b).catch(() => undefined)));
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
    for (const batch of batches(candidates, this.ctx.opts.probeConcurrency)) {
      this.ctx.metrics.sticky.inc({ result: 'probe' }, batch.length);
      const results = await Promise.all(batch.map((b) => this.ctx.forwarder.send(req, b).then((res) => ({ b, res }), () => undefined)));
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
}

function batches<T>(xs: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}
