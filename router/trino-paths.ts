/**
 * What the Trino protocol tells a router from a request path alone.
 *
 * A query id is `YYYYMMDD_HHMMSS_NNNNN_xxxxx`; the last part is random per coordinator process.
 * Follow-ups carry the id in their path; spooled segments and OAuth2 token polls carry none.
 */

const QUERY_ID = /^[0-9]{8}_[0-9]{6}_[0-9]{5}_[a-z0-9]{5}$/;

/** How a request relates to state held on one coordinator. */
export type Affinity =
  /** A new statement or a stateless call: choose a coordinator. */
  | { kind: 'none' }
  /** A follow-up of a query: go to the coordinator that owns the query id. */
  | { kind: 'query'; queryId: string; suffix: string; probeSafe: boolean }
  /** Spooled segment download/ack: owned by the issuing coordinator, id not a query id. */
  | { kind: 'spooled' }
  /** Malformed: a follow-up path whose query id is not a query id. */
  | { kind: 'malformed'; reason: string };

export function querySuffix(queryId: string): string {
  return queryId.slice(queryId.lastIndexOf('_') + 1);
}

function query(id: string | undefined, probeSafe: boolean): Affinity {
  if (id === undefined || !QUERY_ID.test(id)) return { kind: 'malformed', reason: `"${(id ?? '').slice(0, 64)}" is not a Trino query id` };
  return { kind: 'query', queryId: id, suffix: querySuffix(id), probeSafe };
}

/**
 * Classifies a request path (without query string). `probeSafe` says whether sending the request
 * to a coordinator that does not own the query is harmless AND tells (it answers 404 with no side
 * effect). Follow-ups that are not probe-safe are broadcast when their owner is unknown.
 */
export function affinityOf(method: string, path: string): Affinity {
  if (path.startsWith('/v1/statement/')) {
    const parts = path.split('/'); // ['', 'v1', 'statement', kind, ...]
    const kind = parts[3];
    if (kind === 'queued' || kind === 'executing') {
      if (parts[4] === 'partialCancel') return query(parts[5], false);
      return query(parts[4], method === 'GET' || method === 'DELETE' || method === 'HEAD');
    }
    return { kind: 'none' };
  }
  if (path.startsWith('/v1/query/')) {
    const id = path.split('/')[3];
    // DELETE answers 204 even for an unknown id: safe, but a 204 does not reveal the owner.
    return query(id, method === 'GET' || method === 'HEAD');
  }
  if (path.startsWith('/v1/spooled/')) return { kind: 'spooled' };
  if (path.startsWith('/ui/api/query/')) {
    const id = path.split('/')[4];
    return query(id, method === 'GET' || method === 'HEAD');
  }
  return { kind: 'none' };
}

/** Finds a query id in the beginning of a QueryResults JSON body (`{"id":"...`), without parsing it. */
export function queryIdInBody(head: string): string | undefined {
  const m = /"id"\s*:\s*"([0-9]{8}_[0-9]{6}_[0-9]{5}_[a-z0-9]{5})"/.exec(head);
  return m?.[1];
}

/**
 * Paths a coordinator serves without authentication, the URL itself being the credential (Trino
 * marks them `@ResourceSecurity(PUBLIC)`): statement polls carry the query's secret slug, spooled
 * segments their handle. A probe of them needs none of the client's credentials.
 */
export function credentialFree(path: string): boolean {
  return path.startsWith('/v1/statement/queued/') || path.startsWith('/v1/statement/executing/') || path.startsWith('/v1/spooled/');
}

/** Request headers that carry a client's identity or secrets to a coordinator. */
export const CREDENTIAL_HEADERS = ['authorization', 'cookie', 'x-trino-extra-credential', 'x-trino-original-user'] as const;
