/** The router's metrics: per-outcome series bound once, counted as Prometheus shows them. */
import { RouterMetrics } from './router-metrics.ts';

const metrics = () => new RouterMetrics({ inFlight: () => 3, statementBytes: () => 0, statementBudget: () => 1024, heldQueries: () => 0 });

test('requests count per outcome, each outcome bound once', async () => {
  const m = metrics();
  expect(m.outcome('proxied')).toBe(m.outcome('proxied'));
  m.outcome('proxied').count();
  m.outcome('proxied').count();
  m.outcome('XTN_NO_ROUTE').count();
  m.outcome('proxied').observeSeconds(0.002);
  m.stickyHit.inc();
  m.stickyMiss.inc();
  m.stickyMiss.inc();
  const text = await m.registry.metrics();
  expect(text).toContain('xtrinode_router_requests_total{outcome="proxied"} 2');
  expect(text).toContain('xtrinode_router_requests_total{outcome="XTN_NO_ROUTE"} 1');
  expect(text).toContain('xtrinode_router_request_duration_seconds_bucket{le="0.005",outcome="proxied"} 1');
  expect(text).toContain('xtrinode_router_sticky_total{result="hit"} 1');
  expect(text).toContain('xtrinode_router_sticky_total{result="miss"} 2');
  expect(text).toContain('xtrinode_router_in_flight 3');
});
