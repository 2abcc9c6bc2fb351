/**
 * The headers of a forwarded request and response: hop-by-hop ones removed (also those a
 * `Connection` header names), and the X-Forwarded-* set that makes Trino build its URLs for the
 * client: the host and scheme the client used, and the coordinator's prefix (never the client's).
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyRequest } from 'fastify';

export type Headers = Record<string, string | string[]>;

const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'trailers', 'transfer-encoding', 'upgrade', 'proxy-connection',
]);

export function firstHeader(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** The end-to-end headers: hop-by-hop ones and those named in Connection removed. */
export function endToEnd(h: IncomingHttpHeaders): Headers {
  const out: Headers = {};
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

export function forwardedProto(req: FastifyRequest): string {
  const p = req.headers['x-forwarded-proto'];
  return (Array.isArray(p) ? p[0] : p)?.split(',')[0]?.trim() || 'http';
}

/** Sets X-Forwarded-Prefix to the coordinator's prefix, or removes a client's own value (in place). */
export function setPrefix(headers: Headers, prefix: string | undefined): Headers {
  delete headers['x-forwarded-prefix'];
  if (prefix !== undefined) headers['x-forwarded-prefix'] = prefix;
  return headers;
}

export function withPrefix(headers: Headers, prefix: string | undefined): Headers {
  return setPrefix({ ...headers }, prefix);
}

/**
 * Request headers for the coordinator: hop-by-hop removed, X-Forwarded-* kept or set, and
 * X-Forwarded-Prefix always the router's (the coordinator's prefix, or none): a client's own
 * value would make Trino write URLs the client chose.
 */
export function upstreamHeaders(req: FastifyRequest, prefix?: string): Headers {
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
