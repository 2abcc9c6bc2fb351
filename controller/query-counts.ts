/**
 * `kubectl get xtrinode` shows running and queued queries of runtimes with a query limit
 * (spec.capacity.maxQueries), as their coordinator reports them (the QueryManager MBean). The
 * leading controller reads each such coordinator every `intervalMs` (10 s) and writes
 * `status.queries` only when the figures changed, so a busy cluster costs at most one status write
 * per limited XTrinode per interval, and a quiet one none. A coordinator that does not answer gets
 * `status.queries` removed (the columns go blank rather than show stale figures).
 */
import type { QueryManagerFigures } from '../lib/query-manager.ts';

export const QUERY_COUNTS_INTERVAL_MS = 10_000;

export interface QueryCountsStatus {
  running: number;
  queued: number;
}

interface Limited {
  metadata: { name: string; namespace?: string; deletionTimestamp?: string };
  spec?: { capacity?: { maxQueries?: number } };
  status?: { queries?: QueryCountsStatus };
}

/** What to write for each XTrinode whose figures changed (null: remove them). */
export async function queryCountChanges(xtrinodes: Limited[], origins: ReadonlyMap<string, string | undefined>, read: (origin: string) => Promise<QueryManagerFigures | undefined>): Promise<Array<{ xt: Limited; queries: QueryCountsStatus | null }>> {
  const out: Array<{ xt: Limited; queries: QueryCountsStatus | null }> = [];
  await Promise.all(xtrinodes.map(async (xt) => {
    const live = xt.status?.queries;
    if (xt.spec?.capacity?.maxQueries === undefined || xt.metadata.deletionTimestamp) {
      if (live) out.push({ xt, queries: null });
      return;
    }
    const origin = origins.get(`${xt.metadata.namespace}/${xt.metadata.name}`);
    const f = origin ? await read(origin) : undefined;
    const queries = f ? { running: f.running, queued: f.queued } : null;
    if (queries === null ? live !== undefined : live?.running !== queries.running || live?.queued !== queries.queued) out.push({ xt, queries });
  }));
  return out;
}
