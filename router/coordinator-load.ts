/**
 * How busy a coordinator is, for adaptive balancing: its queued plus running queries, read from
 * its QueryManager MBean (`GET /v1/jmx/mbean/trino.execution:name=QueryManager`). Trino answers
 * that with just `X-Trino-User` on a cluster without authentication; `/ui/api/stats`, the figure
 * the Web UI shows, needs a UI login and answers 401 to the router. A coordinator with
 * authentication on its HTTP port answers 401 here too: its load is then unknown and round-robin
 * decides, as documented in README.md.
 */
import { request } from 'undici';

export const QUERY_MANAGER_MBEAN_PATH = '/v1/jmx/mbean/trino.execution:name=QueryManager';
/** The user the router reads MBeans as (any name does on an unauthenticated coordinator). */
export const LOAD_USER = 'xtrinode-gateway';

interface MBean {
  attributes?: Array<{ name?: unknown; value?: unknown }>;
}

/** Queued + running queries, or undefined when the coordinator does not tell. Never throws. */
export async function coordinatorLoad(origin: string, timeoutMs: number): Promise<number | undefined> {
  try {
    const res = await request(`${origin}${QUERY_MANAGER_MBEAN_PATH}`, { headers: { 'x-trino-user': LOAD_USER }, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, signal: AbortSignal.timeout(timeoutMs) });
    if (res.statusCode !== 200) {
      await res.body.dump();
      return undefined;
    }
    const mbean = (await res.body.json()) as MBean;
    const value = (name: string) => mbean.attributes?.find((a) => a.name === name)?.value;
    const queued = value('QueuedQueries');
    const running = value('RunningQueries');
    return typeof queued === 'number' && typeof running === 'number' && queued >= 0 && running >= 0 ? queued + running : undefined;
  } catch {
    return undefined;
  }
}
