import { firstMatchingRule, ruleConditions, ruleMatches, ruleRequest } from './routing-rules.ts';
import { RouteIndex } from './route-index.ts';
import { parseRouteTable, type RouteRule, type RouteTable } from '../routetable/schema.ts';

const rule = (r: Partial<RouteRule>): RouteRule => ({ group: 'etl', xtrinode: 'prod/etl', name: 'r', ...r });

describe('rule matching', () => {
  test('client tags: every tag of the rule present, in any order, blanks around tags ignored, repeated headers joined', () => {
    const r = rule({ clientTags: ['etl', 'nightly'] });
    const yes = ['etl,nightly', 'nightly,etl', ' etl , nightly', 'a,nightly,b,etl', 'etl,,nightly'];
    const no = ['etl', 'nightly', 'etl nightly', 'etl;nightly', 'etlx,nightly', 'ETL,nightly', ''];
    expect(yes.map((v) => ruleMatches(r, ruleRequest({ 'x-trino-client-tags': v })))).toEqual(yes.map(() => true));
    expect(no.map((v) => ruleMatches(r, ruleRequest({ 'x-trino-client-tags': v })))).toEqual(no.map(() => false));
    expect(ruleMatches(r, ruleRequest({}))).toBe(false);
    expect(ruleMatches(r, ruleRequest({ 'x-trino-client-tags': ['etl', 'nightly'] }))).toBe(true);
  });

  test('source, user and catalog are exact and case sensitive; every condition must hold', () => {
    const r = rule({ source: 'airflow', user: 'alice', catalog: 'hive' });
    const all = { 'x-trino-source': 'airflow', 'x-trino-user': 'alice', 'x-trino-catalog': 'hive' };
    expect(ruleMatches(r, ruleRequest(all))).toBe(true);
    expect(ruleMatches(r, ruleRequest({ ...all, 'x-trino-source': 'Airflow' }))).toBe(false);
    expect(ruleMatches(r, ruleRequest({ ...all, 'x-trino-user': 'alice2' }))).toBe(false);
    expect(ruleMatches(r, ruleRequest({ 'x-trino-source': 'airflow', 'x-trino-user': 'alice' }))).toBe(false);
  });

  test('the first rule of the list wins; conditions are counted per tag', () => {
    const rules = [rule({ name: 'a', source: 'airflow', clientTags: ['x'] }), rule({ name: 'b', source: 'airflow' })];
    expect(firstMatchingRule(rules, ruleRequest({ 'x-trino-source': 'airflow', 'x-trino-client-tags': 'x' }))?.name).toBe('a');
    expect(firstMatchingRule(rules, ruleRequest({ 'x-trino-source': 'airflow' }))?.name).toBe('b');
    expect(firstMatchingRule(rules, ruleRequest({ 'x-trino-source': 'dbt' }))).toBeUndefined();
    expect([ruleConditions({ clientTags: ['a', 'b'] }), ruleConditions({ source: 's', user: 'u', catalog: 'c' })]).toEqual([2, 3]);
  });

  test('an oversized header is cut before it is split (a client cannot make the router split megabytes)', () => {
    const huge = `${'x,'.repeat(100_000)}etl`;
    expect(ruleRequest({ 'x-trino-client-tags': huge }).clientTags.has('etl')).toBe(false);
  });
});

describe('RouteIndex precedence: hostname, X-Trino-XTrinode, X-Trino-Routing-Group, rules, default', () => {
  const backend = (id: string) => ({ id, service: { namespace: id.split('/')[0]!, name: `${id.split('/')[1]}-coordinator`, port: 8080 }, weight: 1, state: 'Ready' as const });
  const group = (name: string, o: { hostnames?: string[]; headerValues?: string[]; default?: boolean }) => ({ name, hostnames: o.hostnames ?? [], headerValues: o.headerValues ?? [], default: o.default ?? false, path: 'router' as const, backends: [backend(`prod/${name}`)] });
  const table: RouteTable = {
    version: 1,
    groups: [group('host', { hostnames: ['h.example.com'] }), group('hdr', { headerValues: ['hv'] }), group('etl', {}), group('def', { default: true })],
    rules: [rule({ name: 'airflow', source: 'airflow' })],
  };
  const index = new RouteIndex(table);
  const via = (host: string | undefined, selector: string | undefined, routingGroup: string | undefined, source: string | undefined) => {
    const r = index.resolve(host, selector, { routingGroup, rules: ruleRequest(source ? { 'x-trino-source': source } : {}) });
    return r.kind === 'group' ? `${r.group.name}:${r.via}` : `${r.kind}${r.kind === 'unknown-selector' ? `:${r.header}` : ''}`;
  };

  test('each level outranks the ones after it', () => {
    expect(parseRouteTable(JSON.stringify(table)).ok).toBe(true);
    expect([
      via('h.example.com', 'hv', 'etl', 'airflow'),
      via('other.example.com', 'hv', 'host', 'airflow'),
      via(undefined, undefined, 'host', 'airflow'),
      via(undefined, undefined, undefined, 'airflow'),
      via(undefined, undefined, undefined, 'dbt'),
      via(undefined, 'nope', undefined, 'airflow'),
      via(undefined, undefined, 'nope', 'airflow'),
    ]).toEqual(['host:hostname', 'hdr:header', 'host:routing-group', 'etl:rule', 'def:default', 'unknown-selector:X-Trino-XTrinode', 'unknown-selector:X-Trino-Routing-Group']);
  });

  test('a table that turns X-Trino-Routing-Group off ignores the header', () => {
    const off = new RouteIndex({ ...table, routingGroupHeader: false });
    const r = off.resolve(undefined, undefined, { routingGroup: 'host', rules: ruleRequest({}) });
    expect(r.kind === 'group' ? r.group.name : r.kind).toBe('def');
  });

  test('a table whose rule leads to a missing group, or has no condition, is refused whole', () => {
    expect(parseRouteTable(JSON.stringify({ ...table, rules: [rule({ group: 'gone', source: 'a' })] }))).toEqual({ ok: false, error: expect.stringContaining('leads to group gone') });
    expect(parseRouteTable(JSON.stringify({ ...table, rules: [rule({})] }))).toEqual({ ok: false, error: expect.stringContaining('a rule needs a condition') });
  });
});
