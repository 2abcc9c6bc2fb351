/**
 * Trino's own answer for a query that failed, as the router writes it when the failure is the
 * gateway's (a full queue, a runtime that did not wake, a query no coordinator knows any more):
 * a QueryResults page in state FAILED with an `error` the Trino CLI, JDBC and python clients show
 * as the query's failure, instead of an HTTP error they report as a broken response.
 */
import type { FastifyRequest } from 'fastify';
import { firstHeader, forwardedProto } from './forwarding-headers.ts';

export interface Failure {
  /** The query id the client knows (or one the router gave it). */
  id: string;
  /** The URL base the client reached the gateway at (scheme://host). */
  base: string;
  message: string;
  /** errorName, e.g. XTRINODE_QUEUE_FULL. */
  name: string;
  type: 'EXTERNAL' | 'INSUFFICIENT_RESOURCES';
  /** When the query started waiting (for elapsed and queued times), and its queue position. */
  since?: number;
  position?: number;
}

/**
 * Trino's stats of a query that has not reached a coordinator: no nodes, no splits running; a
 * queue position (1: next) as `queuedSplits`, which the Trino CLI shows on its progress line, and
 * the time waited as `queuedTimeMillis`.
 */
export function notRunStats(state: string, since: number, position = 0) {
  const elapsed = Math.max(0, Date.now() - since);
  return { state, queued: state === 'QUEUED', scheduled: false, nodes: 0, totalSplits: 0, queuedSplits: position, runningSplits: 0, completedSplits: 0, cpuTimeMillis: 0, wallTimeMillis: 0, queuedTimeMillis: elapsed, elapsedTimeMillis: elapsed, processedRows: 0, processedBytes: 0, physicalInputBytes: 0, peakMemoryBytes: 0, spilledBytes: 0 };
}

export function failedResult(f: Failure) {
  const error = { message: f.message, errorCode: 65536, errorName: f.name, errorType: f.type, failureInfo: { type: `io.xtrinode.${f.name}`, message: f.message, suppressed: [], stack: [] } };
  return { id: f.id, infoUri: `${f.base}/ui/`, stats: notRunStats('FAILED', f.since ?? Date.now(), f.position), error, warnings: [] };
}

/** The URL base a client used to reach the gateway (what Trino itself puts in nextUri). */
export function clientBase(req: FastifyRequest): string {
  return `${forwardedProto(req)}://${firstHeader(req.headers['x-forwarded-host']) ?? req.headers.host ?? 'localhost'}`;
}
