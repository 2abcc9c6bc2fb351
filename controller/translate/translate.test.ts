/**
 * Golden tests: testdata/<case>.in.yaml -> testdata/<case>.out.yaml (the rendered objects, then
 * the per-XTrinode status and the problems render reports). Optional <case>.settings.json
 * overrides gateway settings. Regenerate with `npm run golden:update` and review the diff.
 */
import { HTTPRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute';
import { ReferenceGrant } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1beta1/ReferenceGrant';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { formatProblem, loadInput, render } from '../render.ts';
import { DEFAULT_SETTINGS, type GatewaySettings } from './settings.ts';
import { translate, MAX_HOSTNAMES_PER_ROUTE, type K8sObject } from './translate.ts';
import { gatewayApiSchemaErrors } from '../../test/gateway-api-schema.ts';
import { parseRouteTable } from '../../routetable/schema.ts';
import type { XTrinode } from '../api/xtrinode.ts';

const here = dirname(fileURLToPath(import.meta.url));
const testdata = join(here, 'testdata');
const update = process.env.XTRINODE_UPDATE_GOLDEN === '1';
const cases = readdirSync(testdata).filter((f) => f.endsWith('.in.yaml')).map((f) => f.slice(0, -'.in.yaml'.length)).sort();

function settingsFor(name: string): GatewaySettings {
  const f = join(testdata, `${name}.settings.json`);
  return existsSync(f) ? { ...DEFAULT_SETTINGS, ...(JSON.parse(readFileSync(f, 'utf8')) as Partial<GatewaySettings>) } : DEFAULT_SETTINGS;
}

/** The message of a model validation error, or '' when the object is valid. */
function modelErrors(validate: () => void): string {
  try {
    validate();
    return '';
  } catch (e) {
    return (e as Error).message;
  }
}

function renderCase(name: string, reverse = false) {
  const input = loadInput([join('controller/translate/testdata', `${name}.in.yaml`)], (f) => readFileSync(join(here, '../..', f), 'utf8'));
  if (reverse) {
    input.xtrinodes.reverse();
    input.services.reverse();
  }
  const out = render(input, settingsFor(name));
  const statuses = [...out.output.statuses.values()].map((r) => ({ xtrinode: r.key, status: r.status }));
  const text =
    out.yaml +
    '---\n# status written on each XTrinode, then what render reports on stderr\n' +
    stringify({ statuses, problems: out.problems.map(formatProblem) }, { lineWidth: 0, aliasDuplicateObjects: false });
  return { text, out };
}

describe('golden render cases', () => {
  test('there are golden cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(10);
  });

  for (const name of cases) {
    test(name, () => {
      const { text, out } = renderCase(name);
      const golden = join(testdata, `${name}.out.yaml`);
      if (update) writeFileSync(golden, text);
      expect(text).toBe(readFileSync(golden, 'utf8'));
      // Every Gateway API object validates against the real CRD schema, and against the models
      // of @kubernetes-models/gateway-api that type the generator.
      const gatewayObjects = out.output.objects.filter((o) => o.apiVersion.startsWith('gateway.networking.k8s.io/'));
      expect(gatewayObjects.length).toBeGreaterThan(0);
      for (const o of gatewayObjects) {
        expect({ object: `${o.kind} ${o.metadata.name}`, errors: gatewayApiSchemaErrors(o) }).toEqual({ object: `${o.kind} ${o.metadata.name}`, errors: [] });
        const Model = o.kind === 'HTTPRoute' ? HTTPRoute : ReferenceGrant;
        expect({ object: `${o.kind} ${o.metadata.name}`, model: modelErrors(() => new Model(o as never).validate()) }).toEqual({ object: `${o.kind} ${o.metadata.name}`, model: '' });
      }
      // The route table in the ConfigMap parses with the router's schema.
      const cm = out.output.objects.find((o) => o.kind === 'ConfigMap') as K8sObject & { data: Record<string, string> };
      expect(parseRouteTable(cm.data['routes.json'])).toMatchObject({ ok: true });
      // Rendering is deterministic, also with the input in reverse order.
      expect(renderCase(name, true).text).toBe(text);
    });
  }
});

function xt(ns: string, name: string, routing: Record<string, unknown>, created?: string): XTrinode {
  return {
    apiVersion: 'analytics.xtrinode.io/v1',
    kind: 'XTrinode',
    metadata: { namespace: ns, name, ...(created ? { creationTimestamp: created } : {}) },
    spec: { routing },
  };
}

describe('translation properties', () => {
  test('order of input does not change output', () => {
    const items = [
      xt('a', 'one', { routingGroup: 'g', hostname: 'g.example.com' }, '2026-01-02T00:00:00Z'),
      xt('b', 'two', { routingGroup: 'h', hostname: 'g.example.com', default: true }, '2026-01-01T00:00:00Z'),
      xt('c', 'three', { default: true, header: 'X-Trino-XTrinode=c' }, '2026-01-03T00:00:00Z'),
    ];
    const a = translate({ xtrinodes: items, settings: DEFAULT_SETTINGS });
    const b = translate({ xtrinodes: [...items].reverse(), settings: DEFAULT_SETTINGS });
    expect(JSON.stringify(b.objects)).toBe(JSON.stringify(a.objects));
    expect(JSON.stringify([...b.statuses])).toBe(JSON.stringify([...a.statuses]));
    // b/two is older: it owns the hostname and the default.
    expect(a.table.groups.find((g) => g.name === 'h')).toMatchObject({ hostnames: ['g.example.com'], default: true });
    expect(a.statuses.get('a/one')!.status.conditions![0]).toMatchObject({ status: 'False', reason: 'HostnameConflict' });
    expect(a.statuses.get('c/three')!.status.conditions![0]).toMatchObject({ status: 'False', reason: 'DefaultConflict' });
    // c/three keeps its header selector though it lost the default.
    expect(a.table.groups.find((g) => g.name === 'c--three')).toMatchObject({ headerValues: ['c'], default: false });
  });

  test('a group with more hostnames than one HTTPRoute holds is split, never over the limit', () => {
    const items = Array.from({ length: 40 }, (_, i) => xt('ns', `rt-${i}`, { routingGroup: 'big', hostname: `h${i}.example.com`, header: `X-Trino-XTrinode=v${i}` }));
    const out = translate({ xtrinodes: items, settings: DEFAULT_SETTINGS });
    const routes = out.objects.filter((o) => o.kind === 'HTTPRoute' && o.metadata.labels?.['analytics.xtrinode.io/routing-group'] === 'big') as Array<K8sObject & { spec: { hostnames?: string[]; rules: Array<{ matches: unknown[] }> } }>;
    // One main route per 16 hostnames; the 40 coordinator prefix rules that do not fit beside the
    // catch-all go into routes of their own with the same hostnames.
    const hostRoutes = routes.filter((r) => r.spec.hostnames && !r.metadata.name.includes('.coordinators.'));
    expect(hostRoutes.length).toBe(Math.ceil(40 / MAX_HOSTNAMES_PER_ROUTE));
    for (const r of hostRoutes) {
      const prefixes = routes.filter((o) => o.metadata.name === r.metadata.name || o.metadata.name.startsWith(`${r.metadata.name}.coordinators.`))
        .flatMap((o) => o.spec.rules.flatMap((rule) => rule.matches as Array<{ path: { value: string } }>).map((m) => m.path.value).filter((v) => v.startsWith('/xtrinode/c/')));
      expect(prefixes.sort()).toEqual(items.map((_, i) => `/xtrinode/c/ns/rt-${i}`).sort());
    }
    expect(hostRoutes.flatMap((r) => r.spec.hostnames).sort()).toEqual(items.map((_, i) => `h${i}.example.com`).sort());
    for (const r of routes) {
      expect(r.spec.hostnames?.length ?? 0).toBeLessThanOrEqual(16);
      expect(r.spec.rules.length).toBeLessThanOrEqual(16);
      for (const rule of r.spec.rules) expect(rule.matches.length).toBeLessThanOrEqual(64);
      expect(gatewayApiSchemaErrors(r)).toEqual([]);
    }
  });

  test('namespaces and names at their length limits give valid routes, split at 16 rules', () => {
    const ns = 'n'.repeat(63);
    const items = Array.from({ length: 20 }, (_, i) => ({
      ...xt(ns, `${'r'.repeat(60)}-${String(i).padStart(2, '0')}`, { routingGroup: 'g'.repeat(63), hostname: `${'h'.repeat(63)}.example.com`, header: `X-Trino-XTrinode=${'v'.repeat(200)}${i}` }),
      spec: { coordinator: { service: { name: `coordinator-${i}` } }, routing: { routingGroup: 'g'.repeat(63), hostname: `${'h'.repeat(63)}.example.com`, header: `X-Trino-XTrinode=${'v'.repeat(200)}${i}` } },
    }));
    // Without a Service name, the conventional one would be over 63 characters: refused, clearly.
    const conventional = translate({ xtrinodes: [xt(ns, 'r'.repeat(63), { hostname: 'x.example.com' })], settings: DEFAULT_SETTINGS });
    expect(conventional.statuses.get(`${ns}/${'r'.repeat(63)}`)!.status.conditions![0]).toMatchObject({ status: 'False', reason: 'InvalidSpec', message: expect.stringContaining('spec.coordinator.service.name') });
    for (const sharedGroupPath of ['router', 'gateway-weighted'] as const) {
      const out = translate({ xtrinodes: items, settings: { ...DEFAULT_SETTINGS, sharedGroupPath } });
      const routes = out.objects.filter((o) => o.kind === 'HTTPRoute') as Array<K8sObject & { spec: { rules: Array<{ matches: Array<{ path: { value: string } }> }> } }>;
      const prefixes = new Set<string>();
      for (const r of routes) {
        expect({ route: r.metadata.name, errors: gatewayApiSchemaErrors(r) }).toEqual({ route: r.metadata.name, errors: [] });
        expect(r.spec.rules.length).toBeLessThanOrEqual(16);
        for (const rule of r.spec.rules) for (const m of rule.matches) if (m.path.value.startsWith('/xtrinode/c/')) prefixes.add(m.path.value);
      }
      expect([...prefixes].sort()).toEqual(items.map((x) => `/xtrinode/c/${ns}/${x.metadata.name}`).sort());
      expect(parseRouteTable((out.objects.find((o) => o.kind === 'ConfigMap') as K8sObject & { data: Record<string, string> }).data['routes.json'])).toMatchObject({ ok: true });
    }
  });

  test('more than 64 header values in one group are split over routes', () => {
    const items = Array.from({ length: 130 }, (_, i) => xt('ns', `rt-${i}`, { routingGroup: 'many', header: `X-Trino-XTrinode=value-${i}` }));
    const out = translate({ xtrinodes: items, settings: { ...DEFAULT_SETTINGS, sharedGroupPath: 'gateway-weighted' } });
    const routes = out.objects.filter((o) => o.kind === 'HTTPRoute' && o.metadata.name.startsWith('xtrinode-many.any-host')) as Array<K8sObject & { spec: { rules: Array<{ matches: Array<{ headers?: Array<{ value: string }> }> }> } }>;
    const headerRules = routes.flatMap((r) => r.spec.rules).filter((rule) => rule.matches.some((m) => m.headers));
    // 130 values: 64 + 64 + 2 matches, the first route's first three rules (then 130 prefix rules)
    expect(headerRules.map((rule) => rule.matches.length)).toEqual([64, 64, 2]);
    expect(routes[0]!.metadata.name).toBe('xtrinode-many.any-host');
    expect(routes[0]!.spec.rules.slice(0, 3)).toEqual(headerRules);
    expect(headerRules.flatMap((rule) => rule.matches.map((m) => m.headers![0]!.value)).sort()).toEqual(items.map((_, i) => `value-${i}`).sort());
    expect(routes.length).toBe(Math.ceil((3 + 130) / 16));
    for (const r of routes) {
      expect(r.spec.rules.length).toBeLessThanOrEqual(16);
      expect(gatewayApiSchemaErrors(r)).toEqual([]);
    }
    // 130 backends cannot be weighted in one rule (16 backendRefs): the group goes through the router.
    expect(out.table.groups[0]!.path).toBe('router');
  });

  test('a member\'s status.routes: the routes with a rule for its whole group or its own coordinator prefix; a member joining leaves the others\' unchanged', () => {
    const members = (n: number) => Array.from({ length: n }, (_, i) => xt('ns', `m-${String(i).padStart(2, '0')}`, { routingGroup: 'big', hostname: 'big.example.com', header: `X-Trino-XTrinode=big-${i}` }));
    type Route = K8sObject & { spec: { hostnames?: string[]; rules: Array<{ matches: Array<{ path?: { value: string }; headers?: unknown[] }> }> } };
    const before = translate({ xtrinodes: members(40), settings: DEFAULT_SETTINGS });
    const routes = before.objects.filter((o) => o.kind === 'HTTPRoute' && o.metadata.name.startsWith('xtrinode-big')) as Route[];
    for (let i = 0; i < 40; i++) {
      const key = `ns/m-${String(i).padStart(2, '0')}`;
      // Written from the rule, route by route: the hostname routes' catch-all and the any-host
      // route's header rules serve the group; of the prefix rules, only `/xtrinode/c/<key>` is its.
      const expected = routes.filter((r) => r.spec.rules.some((rule) => rule.matches.some((m) => m.path?.value === '/' || m.path?.value === '/xtrinode' || m.path?.value === `/xtrinode/c/${key}`))).map((r) => r.metadata.name);
      expect([...before.statuses.get(key)!.status.routes!].sort()).toEqual([...expected, 'xtrinode.fallback'].sort());
      expect(expected).toContain('xtrinode-big'); // its hostnames
    }
    // 40 prefix rules need more routes than one: some routes hold only other members' prefixes.
    expect(routes.length).toBeGreaterThan(2);
    expect(new Set([...before.statuses.values()].map((s) => s.status.routes!.join(','))).size).toBeGreaterThan(1);
    const after = translate({ xtrinodes: members(41), settings: DEFAULT_SETTINGS });
    for (let i = 0; i < 40; i++) {
      const key = `ns/m-${String(i).padStart(2, '0')}`;
      expect(after.statuses.get(key)!.status.routes).toEqual(before.statuses.get(key)!.status.routes);
    }
  });

  test('no XTrinode of another namespace reaches a group it was not let into, whatever the names and ages', () => {
    const next = ((seed) => () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31))(7);
    const pick = <T,>(xs: T[]) => xs[Math.floor(next() * xs.length)]!;
    const age = (x: ReturnType<typeof xt>) => `${x.metadata.creationTimestamp}|${x.metadata.namespace}/${x.metadata.name}`;
    let implied = 0;
    for (let round = 0; round < 300; round++) {
      // Names that spell each other's implicit groups: namespace a--b with c, namespace a with b--c.
      const byKey = new Map<string, ReturnType<typeof xt>>();
      for (let i = 0; i < 2 + Math.floor(next() * 6); i++) {
        const ns = pick(['a', 'b', 'a--b']);
        const name = pick(['c', 'b--c', `rt-${i}`]);
        const group = pick(['g', 'a--b--c', 'a--c', 'b--c', undefined, undefined]);
        byKey.set(`${ns}/${name}`, xt(ns, name, { ...(group ? { routingGroup: group } : {}), hostname: `h${i}.example.com`, ...(next() < 0.3 ? { acceptMembersFrom: [pick(['a', 'b', 'a--b'])] } : {}) }, `2026-01-${String(1 + Math.floor(next() * 28)).padStart(2, '0')}T00:00:00Z`));
      }
      const items = [...byKey.values()];
      const groupOf = (x: (typeof items)[number]) => (x.spec as { routing: { routingGroup?: string } }).routing.routingGroup ?? `${x.metadata.namespace}--${x.metadata.name}`;
      const out = translate({ xtrinodes: items, settings: DEFAULT_SETTINGS });
      for (const g of out.table.groups) {
        const all = items.filter((x) => groupOf(x) === g.name).sort((x, y) => age(x).localeCompare(age(y)));
        // The rule, as the README states it: a group spelled <namespace>--<name> belongs to the
        // namespace of the oldest XTrinode whose own <namespace>--<name> it is, else to the part
        // before the first '--'; any other group to its oldest member's namespace.
        const implier = all.find((x) => `${x.metadata.namespace}--${x.metadata.name}` === g.name);
        if (implier) implied++;
        const ownerNs = g.name.includes('--') ? (implier?.metadata.namespace ?? g.name.split('--')[0]!) : all[0]!.metadata.namespace;
        const consent = new Set(all.filter((m) => m.metadata.namespace === ownerNs).flatMap((m) => (m.spec as { routing: { acceptMembersFrom?: string[] } }).routing.acceptMembersFrom ?? []));
        const want = all.filter((x) => x.metadata.namespace === ownerNs || consent.has(x.metadata.namespace!)).map((x) => `${x.metadata.namespace}/${x.metadata.name}`).sort();
        expect({ group: g.name, members: g.backends.map((b) => b.id).sort() }).toEqual({ group: g.name, members: want });
        // the XTrinode that implies a group is always in it
        if (implier) expect(g.backends.map((b) => b.id)).toContain(`${implier.metadata.namespace}/${implier.metadata.name}`);
      }
      // and every refusal says so on the XTrinode
      const routed = new Set(out.table.groups.flatMap((g) => g.backends.map((b) => b.id)));
      for (const x of items) {
        const key = `${x.metadata.namespace}/${x.metadata.name}`;
        const accepted = out.statuses.get(key)!.status.conditions!.find((c) => c.type === 'Accepted')!;
        expect({ key, routed: routed.has(key) }).toEqual({ key, routed: accepted.reason !== 'GroupOwnedElsewhere' });
      }
    }
    expect(implied).toBeGreaterThan(100);
  });

  test('namespace a--b XTrinode c and namespace a XTrinode b--c spell the same implicit group: the older keeps it, the younger is refused', () => {
    for (const [older, younger] of [[['a--b', 'c'], ['a', 'b--c']], [['a', 'b--c'], ['a--b', 'c']]] as const) {
      const out = translate({ xtrinodes: [xt(older[0], older[1], {}, '2026-01-01T00:00:00Z'), xt(younger[0], younger[1], {}, '2026-01-02T00:00:00Z')], settings: DEFAULT_SETTINGS });
      expect(out.table.groups.map((g) => ({ name: g.name, members: g.backends.map((b) => b.id) }))).toEqual([{ name: 'a--b--c', members: [`${older[0]}/${older[1]}`] }]);
      const refused = out.statuses.get(`${younger[0]}/${younger[1]}`)!.status.conditions!.find((c) => c.type === 'Accepted')!;
      expect({ reason: refused.reason, names: refused.message.includes(`implicit group of ${older[0]}/${older[1]}`) }).toEqual({ reason: 'GroupOwnedElsewhere', names: true });
    }
  });

  test('distinct groups never share an object name, whatever their names', () => {
    // Names that collided before: a group called like another's suffixed route, or the fallback.
    const tricky = ['fallback', 'x', 'x-header', 'x-2', 'x-prefix', 'x-any-host', 'any-host', 'x-coordinators-2', 'gateway', 'a--b', 'a', 'b'];
    const next = ((seed) => () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31))(42);
    for (let round = 0; round < 200; round++) {
      const groups = new Set<string>();
      while (groups.size < 2 + Math.floor(next() * 5)) {
        groups.add(next() < 0.5 ? tricky[Math.floor(next() * tricky.length)]! : Array.from({ length: 1 + Math.floor(next() * 12) }, () => 'abx-2'[Math.floor(next() * 5)]).join('').replace(/^-+|-+$/g, '') || 'z');
      }
      const items = [...groups].flatMap((g, i) => Array.from({ length: 1 + Math.floor(next() * 3) }, (_, j) =>
        // a group named like an implicit one (a--b) is joined from its own namespace (group-ownership.ts)
        xt(g.includes('--') ? g.slice(0, g.indexOf('--')) : 'ns', `rt-${i}-${j}`, { routingGroup: g, hostname: `${g}.example.com`, ...(j === 0 ? { header: `X-Trino-XTrinode=${g}` } : {}), ...(next() < 0.2 ? { hostnameDomain: 'example.org' } : {}) })));
      const out = translate({ xtrinodes: items, settings: DEFAULT_SETTINGS });
      const owner = new Map<string, string>();
      for (const o of out.objects) {
        const key = `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`;
        const group = o.metadata.labels?.['analytics.xtrinode.io/routing-group'] ?? '(shared)';
        expect({ key, groups: [owner.get(key) ?? group, group] }).toEqual({ key, groups: [group, group] });
        owner.set(key, group);
      }
      // every group's routes, hostname and header ones included, are there
      for (const g of groups) expect(out.objects.some((o) => o.metadata.name === `xtrinode-${g}.any-host`)).toBe(true);
    }
  });

  test('an invalid XTrinode never changes the objects generated for valid ones', () => {
    const valid = [xt('p', 'a', { hostnameDomain: 'trino.example.com', header: 'X-Trino-XTrinode=p/a' }), xt('p', 'b', { default: true })];
    const bad = [
      xt('p', 'c', { hostname: 'Bad_Host' }),
      xt('p', 'd', { header: 'X-Other=1' }),
      { ...xt('p', 'e', {}), spec: { routing: { default: 'yes' } } },
      { ...xt('p', 'f', {}), spec: { bogus: true } },
    ];
    const alone = translate({ xtrinodes: valid, settings: DEFAULT_SETTINGS });
    const mixed = translate({ xtrinodes: [...bad, ...valid], settings: DEFAULT_SETTINGS });
    expect(JSON.stringify(mixed.objects)).toBe(JSON.stringify(alone.objects));
    for (const k of ['p/c', 'p/d', 'p/e', 'p/f']) {
      expect(mixed.statuses.get(k)!.status.conditions![0]).toMatchObject({ type: 'Accepted', status: 'False', reason: 'InvalidSpec' });
      expect(mixed.statuses.get(k)!.problems.length).toBeGreaterThan(0);
    }
  });
});

describe('render output', () => {
  test('is plain YAML: no anchors or aliases where objects share a value', () => {
    for (const name of cases) expect(renderCase(name).text).not.toMatch(/[&*]a\d+\b/);
  });
});

test('a runtime whose coordinator is not ready, but not suspended, is NotReady in the route table (held, never resumed by the router); a suspended one stays Suspended', () => {
  const out = translate({ xtrinodes: [xt('p', 'starting', { hostname: 'starting.example.com' }), { ...xt('p', 'asleep', { hostname: 'asleep.example.com' }), spec: { suspend: true, routing: { hostname: 'asleep.example.com' } } }], settings: DEFAULT_SETTINGS, notReady: new Set(['p/starting', 'p/asleep']) });
  const state = (id: string) => out.table.groups.flatMap((g) => g.backends).find((b) => b.id === id)?.state;
  expect({ starting: state('p/starting'), asleep: state('p/asleep') }).toEqual({ starting: 'NotReady', asleep: 'Suspended' });
  expect({ starting: out.statuses.get('p/starting')!.status.phase, asleep: out.statuses.get('p/asleep')!.status.phase }).toEqual({ starting: undefined, asleep: 'Suspended' });
  // Its new statements go to the router, which holds them until the coordinator is ready.
  const route = out.objects.find((o) => o.kind === 'HTTPRoute' && JSON.stringify(o).includes('starting.example.com')) as unknown as { spec: { rules: Array<{ backendRefs: Array<{ name: string }> }> } };
  expect(route.spec.rules.flatMap((r) => r.backendRefs.map((b) => b.name))).not.toContain('starting-coordinator');
});
