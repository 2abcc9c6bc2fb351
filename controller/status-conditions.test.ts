/**
 * Golden: the conditions the controller adds (Programmed, Ready) and the lifecycle decisions, for
 * each case in testdata/conditions.in.yaml, against testdata/conditions.out.yaml
 * (`npm run golden:update` rewrites it; review the diff).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { withGatewayConditions, type RouteStatusView } from './status-conditions.ts';
import { decideLifecycle, type LifecycleDecision, type Workload } from './lifecycle.ts';
import type { XTrinodeStatus } from './api/xtrinode.ts';

const dir = fileURLToPath(new URL('./testdata/', import.meta.url));
const input = parse(readFileSync(`${dir}conditions.in.yaml`, 'utf8')) as {
  conditions: Array<{ case: string; generation?: number; lifecycle?: LifecycleDecision; status: XTrinodeStatus; routes?: Record<string, RouteStatusView['status']>; routeGenerations?: Record<string, number> }>;
  lifecycle: Array<{ case: string; suspend: boolean; record?: string; wasSuspended?: boolean; workloads: Workload[] }>;
};

test('conditions and lifecycle decisions match the golden file', () => {
  const out = {
    conditions: input.conditions.map((c) => ({
      case: c.case,
      status: withGatewayConditions(c.status, c.generation, c.lifecycle, { gateway: { namespace: 'trino-gateway', name: 'trino-gateway' }, routeNamespace: 'trino-gateway', route: (name) => (c.routes?.[name] ? { status: c.routes[name], ...(c.routeGenerations?.[name] !== undefined ? { metadata: { generation: c.routeGenerations[name] } } : {}) } : undefined) }),
    })),
    lifecycle: input.lifecycle.map((l) => {
      const d = decideLifecycle(l.suspend, l.workloads, { record: l.record, wasSuspended: l.wasSuspended === true });
      return { case: l.case, phase: d.phase ?? null, coordinatorReady: d.coordinatorReady ?? null, record: d.record === undefined ? 'kept' : d.record === null ? 'removed' : `written first: ${d.record}`, actions: d.actions.map((a) => `${a.workload.kind}/${a.workload.name} -> ${a.replicas} replicas`) };
    }),
  };
  const text = `# generated from conditions.in.yaml by controller/status-conditions.test.ts\n${stringify(out, { lineWidth: 0, aliasDuplicateObjects: false })}`;
  if (process.env.XTRINODE_UPDATE_GOLDEN === '1') writeFileSync(`${dir}conditions.out.yaml`, text);
  expect(text).toBe(readFileSync(`${dir}conditions.out.yaml`, 'utf8'));
});
