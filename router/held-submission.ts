/**
 * Submitting a held statement to a coordinator that just started.
 *
 * Trino's `/v1/info` stops saying `starting` a few seconds before the coordinator can schedule
 * queries: a statement submitted in that window is accepted (QUEUED) and then fails with
 * `NO_NODES_AVAILABLE` (measured on Trino 476: for 4 to 9 s after start). That failure happens at
 * scheduling, before anything ran, so submitting the statement again is safe. The router follows
 * the first polls of a held statement itself (they carry no rows) until Trino has scheduled it,
 * a page carries data, or `followMs` passed, and resubmits after `NO_NODES_AVAILABLE` (or the
 * `GENERIC_INTERNAL_ERROR` "nodes is empty" Trino 476 raises for some queries in the same window,
 * also at scheduling, also before anything ran); the client
 * then gets the latest page as the answer to its poll and follows it from there. A query waiting
 * in a resource group queue stays QUEUED for the client to poll, as always.
 */
import type { CapturedResponse } from './held-queries.ts';

/** States in which Trino has not scheduled the query yet (its pages carry no rows). */
const NOT_SCHEDULED = new Set(['QUEUED', 'WAITING_FOR_RESOURCES', 'DISPATCHING', 'PLANNING', 'STARTING']);
/** Pages larger than this are handed over without being read (only result pages are large). */
const MAX_FOLLOWED_PAGE = 1024 * 1024;

export interface StatementCalls {
  /** POST /v1/statement with the held body; throws NotSentError when nothing was sent. */
  submit(): Promise<CapturedResponse>;
  /** GET of a nextUri on the same coordinator (its path and query, without the coordinator's prefix). */
  poll(pathAndQuery: string): Promise<CapturedResponse>;
}

interface Page {
  nextUri?: string;
  data?: unknown;
  stats?: { state?: string };
  error?: { errorName?: string; message?: string };
}

function page(r: CapturedResponse): Page | undefined {
  if (r.status !== 200 || r.body.length > MAX_FOLLOWED_PAGE) return undefined;
  try {
    return JSON.parse(r.body.toString('utf8')) as Page;
  } catch {
    return undefined;
  }
}

/** The path and query of a nextUri, with the coordinator's prefix (if any) stripped. */
export function coordinatorPath(nextUri: string, prefix: string | undefined): string | undefined {
  let u: URL;
  try {
    u = new URL(nextUri);
  } catch {
    return undefined;
  }
  const path = prefix && u.pathname.startsWith(`${prefix}/`) ? u.pathname.slice(prefix.length) : u.pathname;
  return path.startsWith('/v1/statement/') ? `${path}${u.search}` : undefined;
}

export async function submitScheduled(calls: StatementCalls, o: { prefix: string | undefined; followMs: number; deadline: number; pauseMs?: number }): Promise<{ answer: CapturedResponse; submissions: number; states: string[] }> {
  let submissions = 0;
  const states: string[] = [];
  for (;;) {
    submissions++;
    let answer = await calls.submit();
    const until = Date.now() + o.followMs;
    let p = page(answer);
    states.push(p?.stats?.state ?? `HTTP ${answer.status}`);
    while (p && p.nextUri && p.data === undefined && NOT_SCHEDULED.has(p.stats?.state ?? '') && Date.now() < until) {
      const path = coordinatorPath(p.nextUri, o.prefix);
      if (!path) break;
      try {
        answer = await calls.poll(path);
      } catch {
        break; // the client polls the last page itself and meets whatever happened
      }
      p = page(answer);
      states.push(p?.stats?.state ?? `HTTP ${answer.status}`);
    }
    const noNodes = p?.stats?.state === 'FAILED' && noNodesYet(p.error);
    if (!noNodes || Date.now() + (o.pauseMs ?? 500) > o.deadline) return { answer, submissions, states };
    await new Promise((r) => setTimeout(r, o.pauseMs ?? 500));
  }
}

/** Trino failed the query because no node had registered yet (safe to submit again). */
export function noNodesYet(error: { errorName?: string; message?: string } | undefined): boolean {
  return error?.errorName === 'NO_NODES_AVAILABLE' || (error?.errorName === 'GENERIC_INTERNAL_ERROR' && error.message === 'nodes is empty');
}
