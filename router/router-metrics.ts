/** The router's Prometheus metrics (`xtrinode_router_*`), served on the admin port. */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The metrics of one request outcome, bound once: a request counts without hashing its labels. */
export interface OutcomeMetrics {
  count(): void;
  observeSeconds(s: number): void;
}

export class RouterMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({ name: 'xtrinode_router_requests_total', help: 'Requests by outcome', labelNames: ['outcome'], registers: [this.registry] });
  readonly latency = new Histogram({ name: 'xtrinode_router_request_duration_seconds', help: 'Time to response headers', labelNames: ['outcome'], buckets: [0.0005, 0.001, 0.005, 0.025, 0.1, 0.5, 2, 10], registers: [this.registry] });
  readonly sticky = new Counter({ name: 'xtrinode_router_sticky_total', help: 'Query-id routing: hit (owner known), miss (probed), probe (requests sent while probing)', labelNames: ['result'], registers: [this.registry] });
  readonly tableLoads = new Counter({ name: 'xtrinode_router_route_table_loads_total', help: 'Route table loads: applied or refused', labelNames: ['result'], registers: [this.registry] });
  readonly resumes = new Counter({ name: 'xtrinode_router_resumes_total', help: 'Resume operations: issued (this replica resumed a runtime), lease-held-elsewhere, error', labelNames: ['result'], registers: [this.registry] });
  readonly healthy = new Gauge({ name: 'xtrinode_router_backend_healthy', help: '1 when a coordinator takes new queries (with workers: when every worker sees it so)', labelNames: ['backend'], aggregator: 'min', registers: [this.registry] });

  private readonly outcomes = new Map<string, OutcomeMetrics>();
  /** Sticky results bound once (the follow-up path counts one per request). */
  readonly stickyHit = this.sticky.labels({ result: 'hit' });
  readonly stickyMiss = this.sticky.labels({ result: 'miss' });

  /** Counts one request of this outcome and its time to response headers. */
  outcome(outcome: string): OutcomeMetrics {
    let m = this.outcomes.get(outcome);
    if (!m) {
      const counter = this.requests.labels({ outcome });
      const histogram = this.latency.labels({ outcome });
      m = { count: () => counter.inc(), observeSeconds: (s) => histogram.observe(s) };
      this.outcomes.set(outcome, m);
    }
    return m;
  }

  /** Gauges read when scraped. */
  readonly queueWait = new Histogram({ name: 'xtrinode_router_queue_wait_seconds', help: 'Time a held statement waited before it was handed to a coordinator, by routing group', labelNames: ['group'], buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900], registers: [this.registry] });

  constructor(read: { inFlight: () => number; statementBytes: () => number; statementBudget: () => number; heldQueries: () => number; queueDepths?: () => Map<string, number> }) {
    new Gauge({ name: 'xtrinode_router_queued_statements', help: 'Statements waiting in a routing group\'s gateway queue (every member at its capacity.maxQueries, or waking)', labelNames: ['group'], aggregator: 'sum', registers: [this.registry], collect() { this.reset(); for (const [g, n] of read.queueDepths?.() ?? []) this.set({ group: g }, n); } });
    new Gauge({ name: 'xtrinode_router_in_flight', help: 'Requests in flight', registers: [this.registry], collect() { this.set(read.inFlight()); } });
    new Gauge({ name: 'xtrinode_router_statement_bytes', help: 'Statement bodies buffered or held, in bytes (limit: xtrinode_router_statement_budget_bytes)', registers: [this.registry], collect() { this.set(read.statementBytes()); } });
    new Gauge({ name: 'xtrinode_router_statement_budget_bytes', help: 'Memory budget for buffered and held statements', registers: [this.registry], collect() { this.set(read.statementBudget()); } });
    new Gauge({ name: 'xtrinode_router_held_queries', help: 'Statements held for a waking runtime', registers: [this.registry], collect() { this.set(read.heldQueries()); } });
  }
}
