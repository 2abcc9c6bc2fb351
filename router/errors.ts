/**
 * Errors the router itself answers. Each has a stable code (sent as `X-XTrinode-Error`), an HTTP
 * status a Trino client acts on correctly, and a one-line message a Trino client shows its user.
 * Messages name XTrinodes and selectors, never addresses, stack traces or secrets.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';

export const RouterErrorCode = {
  UnknownSelector: 'XTN_UNKNOWN_SELECTOR',
  NoRoute: 'XTN_NO_ROUTE',
  NoHealthyCoordinator: 'XTN_NO_HEALTHY_COORDINATOR',
  RuntimeSuspended: 'XTN_RUNTIME_SUSPENDED',
  RuntimeNotReady: 'XTN_RUNTIME_NOT_READY',
  BackendUnresolved: 'XTN_BACKEND_UNRESOLVED',
  CoordinatorUnreachable: 'XTN_COORDINATOR_UNREACHABLE',
  CoordinatorTimeout: 'XTN_COORDINATOR_TIMEOUT',
  QueryNotFound: 'XTN_QUERY_NOT_FOUND',
  UnknownCoordinator: 'XTN_UNKNOWN_COORDINATOR',
  Malformed: 'XTN_MALFORMED_REQUEST',
  BadCookie: 'XTN_BAD_ROUTING_COOKIE',
  NoRouteTable: 'XTN_NO_ROUTE_TABLE',
  Draining: 'XTN_DRAINING',
  RuntimeDraining: 'XTN_RUNTIME_DRAINING',
  ClientTimeout: 'XTN_CLIENT_TIMEOUT',
  BadCoordinatorResponse: 'XTN_BAD_COORDINATOR_RESPONSE',
  Overloaded: 'XTN_OVERLOADED',
  MethodNotAllowed: 'XTN_METHOD_NOT_ALLOWED',
} as const;

export type RouterErrorCode = (typeof RouterErrorCode)[keyof typeof RouterErrorCode];

export class RouterError extends Error {
  readonly code: RouterErrorCode;
  readonly status: number;
  /** Seconds; sent as Retry-After for 503s that are expected to clear. */
  readonly retryAfter: number | undefined;
  constructor(code: RouterErrorCode, status: number, message: string, retryAfter?: number) {
    super(message);
    this.name = 'RouterError';
    this.code = code;
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

export const errors = {
  unknownSelector: (v: string, header = 'X-Trino-XTrinode') =>
    new RouterError(RouterErrorCode.UnknownSelector, 404, header === 'X-Trino-XTrinode'
      ? `xtrinode-gateway: no routing group has the selector X-Trino-XTrinode=${clip(v)}. Check the header value (kubectl get xtrinode -A lists the selectors); requests with an unknown selector never fall back to the default route.`
      : `xtrinode-gateway: no routing group is named ${clip(v)} (header ${header}). Check the group name (kubectl get xtrinode -A lists the groups); requests with an unknown selector never fall back to the default route.`),
  noRoute: (host: string) =>
    new RouterError(RouterErrorCode.NoRoute, 404, `xtrinode-gateway: no route for host ${clip(host)} and no default route. Connect with a routing hostname or set the X-Trino-XTrinode header.`),
  noHealthy: (group: string) =>
    new RouterError(RouterErrorCode.NoHealthyCoordinator, 503, `xtrinode-gateway: routing group ${group} has no healthy coordinator (all are starting, unreachable or drained). Retry shortly; check kubectl get xtrinode.`, 5),
  methodNotAllowed: (method: string) =>
    new RouterError(RouterErrorCode.MethodNotAllowed, 405, `xtrinode-gateway: method ${clip(method)} is not part of the Trino client protocol (GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH).`),
  runtimeDraining: (group: string) =>
    new RouterError(RouterErrorCode.RuntimeDraining, 503, `xtrinode-gateway: every Trino runtime of routing group ${group} is being deleted (draining its running queries); it takes no new queries. Connect to another runtime or add a member to the group.`),
  suspended: (id: string) =>
    new RouterError(RouterErrorCode.RuntimeSuspended, 503, `xtrinode-gateway: Trino runtime ${id} is suspended. Resume it (kubectl patch xtrinode) or retry once it is running.`, 10),
  notReady: (id: string) =>
    new RouterError(RouterErrorCode.RuntimeNotReady, 503, `xtrinode-gateway: the coordinator of Trino runtime ${id} is not ready yet (starting or resuming). Retry shortly; check kubectl get xtrinode.`, 5),
  unresolved: (id: string) =>
    new RouterError(RouterErrorCode.BackendUnresolved, 503, `xtrinode-gateway: the coordinator Service of Trino runtime ${id} does not exist or lacks its port; see kubectl describe xtrinode.`, 10),
  unreachable: (id: string) =>
    new RouterError(RouterErrorCode.CoordinatorUnreachable, 502, `xtrinode-gateway: the coordinator of Trino runtime ${id} is unreachable. Retry; if it persists, check the runtime's pods.`),
  timeout: (id: string) =>
    new RouterError(RouterErrorCode.CoordinatorTimeout, 504, `xtrinode-gateway: the coordinator of Trino runtime ${id} did not answer in time.`),
  queryNotFound: (queryId: string) =>
    new RouterError(RouterErrorCode.QueryNotFound, 404, `xtrinode-gateway: query ${queryId} is not known to any coordinator (it finished, was cancelled, or its coordinator restarted).`),
  unknownCoordinator: (prefix: string) =>
    new RouterError(RouterErrorCode.UnknownCoordinator, 404, `xtrinode-gateway: no Trino runtime is routed under ${clip(prefix)}; the URL belongs to a runtime that was deleted or renamed. Start the query again.`),
  malformed: (why: string) => new RouterError(RouterErrorCode.Malformed, 400, `xtrinode-gateway: malformed request: ${why}`),
  badCookie: (why: string) =>
    new RouterError(RouterErrorCode.BadCookie, 400, `xtrinode-gateway: the OAuth2 routing cookie or marker is ${why}; it was cleared. Start the login again.`),
  badResponse: (id: string) =>
    new RouterError(RouterErrorCode.BadCoordinatorResponse, 502, `xtrinode-gateway: the coordinator of Trino runtime ${id} answered with an invalid HTTP status; nothing of it was forwarded. Retry; if it persists, check what listens on the runtime's Service.`),
  overloaded: (what: string) =>
    new RouterError(RouterErrorCode.Overloaded, 503, `xtrinode-gateway: ${what}; the statement was not accepted. Retry in a few seconds.`, 5),
  noTable: () => new RouterError(RouterErrorCode.NoRouteTable, 503, 'xtrinode-gateway: the router has not loaded a route table yet. Retry shortly.', 2),
};

function clip(s: string): string {
  const t = s.length > 128 ? `${s.slice(0, 128)}...` : s;
  return JSON.stringify(t);
}

/**
 * Answers a request with an error in the router's one form: the status, `X-XTrinode-Error`, a
 * one-line text/plain message, `Retry-After` where it helps, and the connection closed when the
 * request body was not read to its end. Nothing else of the error (stack, addresses) is sent.
 */
export function replyWithError(req: FastifyRequest, reply: FastifyReply, e: unknown, log: Logger, clearCookie?: string): void {
  const err = e instanceof RouterError ? e : undefined;
  if (!err) log.error({ err: e, method: req.method, url: req.url.slice(0, 200) }, 'router internal error');
  else if (err.status >= 500) log.warn({ code: err.code, method: req.method, path: req.url.split('?')[0]!.slice(0, 200) }, err.message);
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
  if (err?.code === RouterErrorCode.BadCookie && clearCookie) reply.header('set-cookie', clearCookie);
  reply.send(`${message}\n`);
}
