/**
 * How busy a coordinator is, for adaptive balancing: its queued plus running queries, read from
 * its QueryManager MBean (`GET /v1/jmx/mbean/trino.execution:name=QueryManager`). Trino answers
 * that with just `X-Trino-User` on a cluster without authentication; `/ui/api/stats`, the figure
 * the Web UI shows, needs a UI login and answers 401 to the router. A coordinator with
 * authentication on its HTTP port answers 401 here too: its load is then unknown and round-robin
 * decides, as documented in README.md.
 */
import { readQueryManager } from '../lib/query-manager.ts';

export { QUERY_MANAGER_MBEAN_PATH, MBEAN_USER as LOAD_USER } from '../lib/query-manager.ts';

/** Queued + running queries, or undefined when the coordinator does not tell. Never throws. */
export async function coordinatorLoad(origin: string, timeoutMs: number): Promise<number | undefined> {
  const f = await readQueryManager(origin, timeoutMs);
  return f ? f.queued + f.running : undefined;
}
