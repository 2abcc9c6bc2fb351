/**
 * The conditions the controller adds to an XTrinode's translated status (translate.ts gives
 * `Accepted` and `ResolvedRefs`): `Programmed`, from the Gateway's answer on each HTTPRoute
 * carrying the runtime (`HTTPRoute.status.parents`), and `Ready`, from everything else and the
 * runtime's lifecycle (lifecycle.ts). Pure; golden-tested in status-conditions.test.ts.
 */
import { ConditionType, type Condition, type XTrinodeStatus } from './api/xtrinode.ts';
import type { LifecycleDecision } from './lifecycle.ts';

export interface RouteStatusView {
  metadata?: { generation?: number };
  status?: { parents?: Array<{ parentRef: { name: string; namespace?: string }; controllerName?: string; conditions?: Condition[] }> };
}

export interface GatewayView {
  gateway: { namespace: string; name: string };
  /** Namespace of the generated HTTPRoutes (a parentRef without a namespace means this one). */
  routeNamespace: string;
  route(name: string): RouteStatusView | undefined;
}

export function withGatewayConditions(status: XTrinodeStatus, generation: number | undefined, life: LifecycleDecision | undefined, view: GatewayView): XTrinodeStatus {
  const conditions = [...(status.conditions ?? [])];
  status = { ...status };
  delete status.phase;
  if (life?.phase) status.phase = life.phase;
  const gw = view.gateway;
  const routeNames = status.routes ?? [];
  let programmed: Condition | undefined;
  if (conditions.some((c) => c.type === ConditionType.Accepted && c.status === 'False' && (c.reason === 'InvalidSpec' || c.reason === 'GroupOwnedElsewhere'))) {
    const reason = conditions.find((c) => c.type === ConditionType.Accepted)!.reason;
    programmed = { type: ConditionType.Programmed, status: 'False', reason, message: reason === 'InvalidSpec' ? 'no routes: the spec is invalid' : 'no routes: the routing group belongs to another namespace' };
  } else {
    const pending: string[] = [];
    for (const rn of routeNames) {
      const route = view.route(rn);
      const parent = route?.status?.parents?.find((p) => p.parentRef.name === gw.name && (p.parentRef.namespace ?? view.routeNamespace) === gw.namespace);
      // An answer about an older spec of the route says nothing about the one written now.
      const current = (c: Condition | undefined) => c && (route?.metadata?.generation === undefined || (c.observedGeneration ?? 0) >= route.metadata.generation) ? c : undefined;
      const accepted = current(parent?.conditions?.find((c) => c.type === 'Accepted'));
      if (!accepted) {
        pending.push(rn);
        continue;
      }
      const by = `Gateway ${gw.namespace}/${gw.name} (${parent?.controllerName ?? 'unknown implementation'})`;
      if (accepted.status !== 'True') {
        programmed ??= { type: ConditionType.Programmed, status: 'False', reason: accepted.reason || 'NotAccepted', message: `${by} did not accept HTTPRoute ${rn}: ${accepted.message}` };
        continue;
      }
      const resolved = current(parent?.conditions?.find((c) => c.type === 'ResolvedRefs'));
      if (resolved && resolved.status === 'False') {
        programmed ??= { type: ConditionType.Programmed, status: 'False', reason: resolved.reason || 'UnresolvedRefs', message: `${by} accepted HTTPRoute ${rn} but cannot reach its backends: ${resolved.message}` };
      }
    }
    programmed ??= pending.length > 0
      ? { type: ConditionType.Programmed, status: 'Unknown', reason: 'Pending', message: `waiting for Gateway ${gw.namespace}/${gw.name} to accept HTTPRoute ${pending.join(', ')} (is a Gateway API implementation running?)` }
      : { type: ConditionType.Programmed, status: 'True', reason: 'Accepted', message: `Gateway ${gw.namespace}/${gw.name} accepted ${routeNames.join(', ')}` };
  }
  if (generation !== undefined) programmed.observedGeneration = generation;
  conditions.push(programmed);
  const notReady = conditions.find((c) => (c.type === ConditionType.Accepted && c.status === 'False' && (c.reason === 'InvalidSpec' || c.reason === 'GroupOwnedElsewhere')) || (c.type !== ConditionType.Accepted && c.status !== 'True'));
  const ready: Condition = life?.coordinatorReady === false
    ? { type: ConditionType.Ready, status: 'False', reason: life.phase ?? 'NotReady', message: life.phase === 'Resuming' ? 'the coordinator is starting; queries wait in the router' : `the runtime is ${(life.phase ?? 'not ready').toLowerCase()}; a query through the gateway resumes it` }
    : notReady
    ? { type: ConditionType.Ready, status: notReady.status === 'Unknown' ? 'Unknown' : 'False', reason: notReady.reason, message: `${notReady.type}: ${notReady.message}` }
    : { type: ConditionType.Ready, status: 'True', reason: 'Ready', message: 'routes accepted and coordinator Service resolved' };
  if (generation !== undefined) ready.observedGeneration = generation;
  conditions.push(ready);
  return { ...status, conditions };
}
