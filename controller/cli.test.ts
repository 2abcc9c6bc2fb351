/**
 * The `xtrinode` command as a user runs it (bin/xtrinode.js): exit codes, streams, flags, stdin.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT } from '../test/components.ts';

function xtrinode(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'bin/xtrinode.js'), ...args], { cwd: REPO_ROOT, encoding: 'utf8', ...(input !== undefined ? { input } : {}) });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('xtrinode CLI', () => {
  test('render -f examples/: YAML on stdout, a status line per XTrinode on stderr, exit 0', () => {
    const r = xtrinode(['render', '-f', 'examples/']);
    expect(r.code).toBe(0);
    const kinds = parseAllDocuments(r.stdout).map((d) => (d as { toJS(): { kind: string } }).toJS().kind);
    // runtime-a, shared, analytics: a hostname route; a hostname-less route for each of the 4 groups
    // (runtime-a's header rule and every prefix rule; default-runtime has only that); the fallback.
    expect(kinds.filter((k) => k === 'HTTPRoute').length).toBe(8);
    expect(kinds).toContain('ReferenceGrant');
    expect(kinds).toContain('ConfigMap');
    expect(r.stderr.trim().split('\n').filter((l) => l.startsWith('production/'))).toHaveLength(5);
    expect(xtrinode(['render', '-f', 'examples/']).stdout).toBe(r.stdout); // stable across runs
  });

  test('invalid input still renders the valid objects, reports file:line, object and field, exits 1', () => {
    const r = xtrinode(['render', '-f', '-', '--gateway', 'gw/edge/http'], [
      'apiVersion: analytics.xtrinode.io/v1', 'kind: XTrinode', 'metadata: {name: ok, namespace: a}', 'spec: {routing: {hostname: ok.example.com}}',
      '---',
      'apiVersion: analytics.xtrinode.io/v1', 'kind: XTrinode', 'metadata: {name: bad, namespace: a}', 'spec:', '  routing:', '    hostname: Bad.Example.com',
    ].join('\n'));
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('ok.example.com');
    expect(r.stdout).toContain('sectionName: http');
    expect(r.stderr).toContain('error: -:11: XTrinode a/bad: spec.routing.hostname: "Bad.Example.com" must be lowercase');
  });

  test('usage errors exit 2 with a hint; --help exits 0 and documents the defaults', () => {
    expect(xtrinode(['render']).code).toBe(2);
    const bad = xtrinode(['render', '-f', 'examples/', '--gateway', 'nonsense']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('expected NAMESPACE/NAME');
    expect(xtrinode(['render', '--bogus']).code).toBe(2);
    expect(xtrinode(['frobnicate']).code).toBe(2);
    const help = xtrinode(['render', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('(default: trino-gateway/trino-gateway)');
    const badNs = xtrinode(['render', '-f', 'examples/', '--accept-rules-from', 'team-a,Team_B']);
    expect([badNs.code, badNs.stderr.trim()]).toEqual([2, 'error: --accept-rules-from "team-a,Team_B": "Team_B" is not a namespace name (DNS label) or *']);
    expect(xtrinode(['render', '-f', 'examples/', '--client-tag-matches', 'glob']).stderr).toContain('--client-tag-matches "glob": expected regex or none');
  });

  test('render prints routing rules offline; --accept-rules-from gives consent without a default route', () => {
    const input = ['apiVersion: analytics.xtrinode.io/v1', 'kind: XTrinode', 'metadata: {name: etl, namespace: team-a}', 'spec: {routing: {rules: [{name: airflow, source: airflow}]}}'].join('\n');
    const refused = xtrinode(['render', '-f', '-'], input);
    expect([refused.code, refused.stderr]).toEqual([1, expect.stringContaining('team-a/etl: RuleNotPermitted')]);
    const granted = xtrinode(['render', '-f', '-', '--accept-rules-from', 'team-a'], input);
    expect(granted.code).toBe(0);
    const route = parseAllDocuments(granted.stdout).map((d) => (d as { toJS(): { kind: string; metadata: { name: string }; spec?: { rules?: Array<{ matches: unknown[] }> } } }).toJS()).find((o) => o.metadata.name === 'xtrinode-team-a--etl.rules');
    expect(route?.spec?.rules?.[0]?.matches).toEqual([{ path: { type: 'Exact', value: '/v1/statement' }, headers: [{ type: 'Exact', name: 'X-Trino-Source', value: 'airflow' }] }]);
  });
});
