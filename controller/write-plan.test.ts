/**
 * Golden: the writes of one pass (write-plan.ts) for each case in testdata/write-plan.in.yaml,
 * against testdata/write-plan.out.yaml (`npm run golden:update` rewrites it; review the diff).
 * The ordering rules themselves are asserted below, from the rule, not from the golden file.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { planWrites, type GeneratedKind, type LiveObjects, type WritePhase } from './write-plan.ts';
import type { K8sObject } from './translate/routes.ts';

const dir = fileURLToPath(new URL('./testdata/', import.meta.url));
type Objects = { routes?: Record<string, string>; unmanagedRoutes?: Record<string, string>; grants?: Record<string, string[]>; table?: boolean };
const input = parse(readFileSync(`${dir}write-plan.in.yaml`, 'utf8')) as { cases: Array<{ case: string; routesAccepted: boolean; settled: boolean; desired: Objects; live: Objects }> };

const managed = { 'app.kubernetes.io/managed-by': 'xtrinode-gateway' };
const route = (name: string, host: string, labels: Record<string, string> = managed) => ({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name, namespace: 'trino-gateway', labels }, spec: { hostnames: [host] } });
const grant = (key: string, services: string[]) => {
  const [namespace, name] = key.split('/') as [string, string];
  return { apiVersion: 'gateway.networking.k8s.io/v1beta1', kind: 'ReferenceGrant', metadata: { name, namespace, labels: managed }, spec: { from: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: 'trino-gateway' }], to: services.map((s) => ({ group: '', kind: 'Service', name: s })) } };
};
const table = () => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'trino-gateway-routes', namespace: 'trino-gateway', labels: managed }, data: { 'routes.json': '{"groups":[]}' } });

function objects(o: Objects): K8sObject[] {
  return [
    ...Object.entries(o.routes ?? {}).map(([n, h]) => route(n, h)),
    ...Object.entries(o.unmanagedRoutes ?? {}).map(([n, h]) => route(n, h, {})),
    ...Object.entries(o.grants ?? {}).map(([k, s]) => grant(k, s)),
    ...(o.table ? [table()] : []),
  ] as unknown as K8sObject[];
}

/** Live objects as the API server returns them: with the fields it adds. */
function liveObjects(o: Objects): LiveObjects {
  const all = objects(o).map((x) => ({ ...x, metadata: { ...x.metadata, uid: `uid-${x.metadata.name}`, resourceVersion: '7', generation: 1 } })) as unknown as Array<K8sObject & Record<string, unknown>>;
  return {
    get: (kind: GeneratedKind, namespace: string, name: string) => all.find((x) => x.kind === kind && x.metadata.namespace === namespace && x.metadata.name === name),
    list: (kind: GeneratedKind) => all.filter((x) => x.kind === kind),
  };
}

function describePhase(p: WritePhase) {
  const what = (o: K8sObject) => {
    const to = o.kind === 'ReferenceGrant' ? ` -> ${(o as unknown as { spec: { to: Array<{ name: string }> } }).spec.to.map((t) => t.name).join(', ')}` : '';
    return `${o.kind} ${o.metadata.namespace}/${o.metadata.name}${to}`;
  };
  return { step: p.step, ...(p.apply.length ? { apply: p.apply.map(what) } : {}), ...(p.delete.length ? { delete: p.delete.map((d) => `${d.kind} ${d.metadata.namespace}/${d.metadata.name}`) } : {}) };
}

const plan = (c: (typeof input.cases)[number]) => planWrites({ desired: objects(c.desired), live: liveObjects(c.live), routesAccepted: c.routesAccepted, settled: c.settled });

test('the golden cases include a pass that deletes stale routes and one that narrows grants', () => {
  const all = input.cases.flatMap((c) => plan(c).map((p) => p.step));
  expect(all).toEqual(expect.arrayContaining(['stale routes', 'narrow grants']));
});

test('the writes of a pass match the golden file', () => {
  const out = { cases: input.cases.map((c) => ({ case: c.case, phases: plan(c).map(describePhase) })) };
  const text = `# generated from write-plan.in.yaml by controller/write-plan.test.ts\n${stringify(out, { lineWidth: 0 })}`;
  if (process.env.XTRINODE_UPDATE_GOLDEN === '1') writeFileSync(`${dir}write-plan.out.yaml`, text);
  expect(text).toBe(readFileSync(`${dir}write-plan.out.yaml`, 'utf8'));
});

describe('ordering rules, in every case', () => {
  const steps = ['widen grants', 'routes', 'route table', 'stale routes', 'narrow grants'];
  test.each(input.cases.map((c) => [c.case, c] as const))('%s', (_name, c) => {
    const phases = plan(c);
    // Phases come in the order of the steps, each at most once.
    expect(phases.map((p) => steps.indexOf(p.step))).toEqual([...new Set(phases.map((p) => steps.indexOf(p.step)))].sort((a, b) => a - b));
    const step = (s: string) => phases.find((p) => p.step === s);
    const routeWrites = (step('routes')?.apply.length ?? 0) + (step('stale routes')?.delete.length ?? 0);
    // A route goes only after every route was accepted, and never in the pass that writes routes.
    expect(!step('stale routes') || (c.routesAccepted && !step('routes'))).toBe(true);
    // Grants narrow only when settled and this pass changes no route.
    expect(!step('narrow grants') || (c.settled && routeWrites === 0)).toBe(true);
    // An object without the managed-by label is never deleted.
    const deleted = phases.flatMap((p) => p.delete.map((d) => d.metadata.name));
    expect(deleted.filter((n) => Object.keys(c.live.unmanagedRoutes ?? {}).includes(n))).toEqual([]);
    // No object is applied twice in one pass.
    const applied = phases.flatMap((p) => p.apply.map((o) => `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`));
    expect(applied.length).toBe(new Set(applied).size);
  });
});
