/**
 * Where one request goes, from what the Trino protocol and the route table say about it:
 * checked first (one Host, no dot segments), then by kind: a coordinator prefix, a held query's
 * wait URI, a follow-up by query id, an OAuth2 step pinned to its coordinator, or a request of
 * the group its hostname, `X-Trino-XTrinode` header or the default route selects (a new statement
 * among them). Returns the outcome label counted in metrics.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RouteBackend } from '../routetable/schema.ts';
import { parseCoordinatorPath } from './coordinator-prefix.ts';
import { RouterError, errors } from './errors.ts';
import type { FollowUps } from './follow-ups.ts';
import type { HeldRouting } from './held-routing.ts';
import { WAIT_PATH_PREFIX, WAIT_SLUG_PREFIX } from './held-queries.ts';
import type { NewStatements } from './new-statements.ts';
import { requestProblem } from './request-checks.ts';
import type { Resumer } from './resume.ts';
import type { RoutingContext } from './router-options.ts';
import type { StatementBudget } from './statement-budget.ts';
import { limited } from './capacity.ts';
import { ruleRequest } from './routing-rules.ts';
import { affinityOf } from './trino-paths.ts';

export interface RequestKinds {
  followUps: FollowUps;
  statements: NewStatements;
  held: HeldRouting;
  budget: StatementBudget;
  resumer: Resumer | undefined;
  selfHosts: ReadonlySet<string>;
  draining(): boolean;
}

export async function routeRequest(ctx: RoutingContext, k: RequestKinds, req: FastifyRequest, reply: FastifyReply): Promise<string> {
  if (k.draining()) throw new RouterError('XTN_DRAINING', 503, 'xtrinode-gateway: this router is shutting down; retry.', 1);
  const index = ctx.index();
  if (!index) throw errors.noTable();
  const url = req.url;
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const problem = requestProblem(req.raw.rawHeaders, path, k.selfHosts);
  if (problem) throw errors.malformed(problem);

  const coordinatorPath = parseCoordinatorPath(url);
  if (coordinatorPath) {
    if ('malformed' in coordinatorPath) throw errors.malformed(coordinatorPath.malformed);
    return k.followUps.byPrefix(req, reply, index, coordinatorPath, k.resumer);
  }
  if (path.startsWith(WAIT_PATH_PREFIX)) {
    const parts = path.split('/'); // ['', 'xtrinode', 'wait', id, slug, token]
    if (!k.held.held || !parts[4]?.startsWith(WAIT_SLUG_PREFIX)) throw errors.malformed('not a wait URI of this gateway');
    return k.held.poll(req, reply, parts[3]!, parts[4]);
  }
  const affinity = affinityOf(req.method, path);
  if (affinity.kind === 'malformed') throw errors.malformed(affinity.reason);
  const selectorHeader = req.headers['x-trino-xtrinode'];
  const selector = Array.isArray(selectorHeader) ? selectorHeader[0] : selectorHeader;
  const host = req.headers.host;
  const routingGroup = oneHeader(req.headers['x-trino-routing-group']);
  if (affinity.kind === 'query' || affinity.kind === 'spooled') return k.followUps.byQueryId(req, reply, index, affinity, host, selector, routingGroup);

  // OAuth2: a signed route marker or cookie pins the request to the coordinator of its handshake.
  const oauth2 = ctx.oauth2;
  const routingPath = oauth2?.isRoutingPath(path) === true;
  const deleteCookie = oauth2?.isDeletePath(path) === true;
  if (oauth2 && (routingPath || deleteCookie)) {
    const pinned = oauth2.pinned(req, url, index);
    if (pinned) {
      await ctx.forwarder.forward(req, reply, pinned.backend, { deleteCookie, setCookieFor: pinned.fromMarker && routingPath ? pinned.backend : undefined });
      return 'oauth2-pinned';
    }
  }

  // Routing rules place new statements only; everything else of the entry point goes by default.
  const newStatement = req.method === 'POST' && path === '/v1/statement';
  const r = index.resolve(host, selector, { routingGroup, rules: newStatement ? ruleRequest(req.headers) : undefined });
  if (r.kind === 'unknown-selector') throw errors.unknownSelector(r.value, r.header);
  if (r.kind === 'no-route') throw errors.noRoute(host ?? '');
  if (newStatement && k.held.held && (k.resumer || limited(r.group))) return k.statements.place(req, reply, r.group, k.held.held, k.budget);
  const backend: RouteBackend = k.statements.choose(r.group);
  await ctx.forwarder.forward(req, reply, backend, { setCookieFor: routingPath ? backend : undefined, deleteCookie, learnFromBody: newStatement });
  return 'proxied';
}

function oneHeader(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
