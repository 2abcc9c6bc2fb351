/**
 * A Trino coordinator's own account of its queries: the QueryManager MBean
 * (`GET /v1/jmx/mbean/trino.execution:name=QueryManager`), queued and running queries now and
 * the count of queries started since the coordinator started. Trino answers it with just
 * `X-Trino-User` on a cluster without authentication on its HTTP port (its `/ui/api/stats` needs a
 * Web UI login). The router balances by it; the controller decides idleness by it.
 */
import { request } from 'undici';

export const QUERY_MANAGER_MBEAN_PATH = '/v1/jmx/mbean/trino.execution:name=QueryManager';
/** The user xtrinode-gateway reads MBeans as (any name does on an unauthenticated coordinator). */
export const MBEAN_USER = 'xtrinode-gateway';

export interface QueryManagerFigures {
  queued: number;
  running: number;
  /** Queries started since the coordinator started (`StartedQueries.TotalCount`), when reported. */
  started: number | undefined;
  /**
   * Queries alive in any state (dispatching, planning, queued, running, blocked, finishing):
   * `SubmittedQueries.TotalCount - CompletedQueries.TotalCount`, when reported. QueuedQueries and
   * RunningQueries leave out queries between those states and running ones that are fully blocked.
   */
  alive?: number | undefined;
  /** Queries the coordinator registered since it started (`SubmittedQueries.TotalCount`), when reported. */
  submitted?: number | undefined;
}

interface MBean {
  attributes?: Array<{ name?: unknown; value?: unknown }>;
}

/** The figures, or undefined when the coordinator does not tell (401, down, slow). Never throws. */
export async function readQueryManager(origin: string, timeoutMs: number): Promise<QueryManagerFigures | undefined> {
  try {
    const res = await request(`${origin}${QUERY_MANAGER_MBEAN_PATH}`, { headers: { 'x-trino-user': MBEAN_USER }, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, signal: AbortSignal.timeout(timeoutMs) });
    if (res.statusCode !== 200) {
      await res.body.dump();
      return undefined;
    }
    const mbean = (await res.body.json()) as MBean;
    const count = (name: string) => {
      const v = mbean.attributes?.find((a) => a.name === name)?.value;
      return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined;
    };
    const queued = count('QueuedQueries');
    const running = count('RunningQueries');
    if (queued === undefined || running === undefined) return undefined;
    const submitted = count('SubmittedQueries.TotalCount');
    const completed = count('CompletedQueries.TotalCount');
    return { queued, running, started: count('StartedQueries.TotalCount'), alive: submitted !== undefined && completed !== undefined ? Math.max(0, submitted - completed) : undefined, submitted };
  } catch {
    return undefined;
  }
}
