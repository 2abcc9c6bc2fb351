/**
 * The route table's ConfigMap content: plain JSON while it is small, gzip once it is not, refused
 * when even that does not fit; and the router's reading of both, bounded.
 */
import { gzipSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { translate } from '../controller/translate/translate.ts';
import { DEFAULT_SETTINGS } from '../controller/translate/settings.ts';
import type { XTrinode } from '../controller/api/xtrinode.ts';
import { PLAIN_TABLE_LIMIT, ROUTE_TABLE_GZIP_KEY, ROUTE_TABLE_KEY, TABLE_OBJECT_LIMIT, parseRouteTable, routeTableContent, routeTableText, serializeRouteTable, type RouteTable } from './schema.ts';

const runtimes = (n: number): XTrinode[] => Array.from({ length: n }, (_, i) => ({
  apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { namespace: `team-${i % 50}`, name: `rt-${i}` },
  spec: { routing: { hostnameDomain: 'trino.example.com', header: `X-Trino-XTrinode=team-${i % 50}/rt-${i}` } },
}));

describe('route table content', () => {
  test('a small table is plain JSON in data, readable with kubectl', () => {
    const { table } = translate({ xtrinodes: runtimes(10), settings: DEFAULT_SETTINGS });
    const content = routeTableContent(table);
    expect(content).toEqual({ data: { [ROUTE_TABLE_KEY]: serializeRouteTable(table) } });
    expect(parseRouteTable(routeTableText(content))).toEqual({ ok: true, table });
  });

  test('past 512 KiB it is gzipped into binaryData, the same bytes for the same table, and reads back whole', () => {
    const { table } = translate({ xtrinodes: runtimes(3000), settings: DEFAULT_SETTINGS });
    expect(Buffer.byteLength(serializeRouteTable(table))).toBeGreaterThan(PLAIN_TABLE_LIMIT);
    const content = routeTableContent(table) as { binaryData: Record<string, string> };
    expect(Object.keys(content)).toEqual(['binaryData']);
    expect(Object.keys(content.binaryData)).toEqual([ROUTE_TABLE_GZIP_KEY]);
    expect(content.binaryData[ROUTE_TABLE_GZIP_KEY]!.length).toBeLessThan(TABLE_OBJECT_LIMIT / 4); // 3,000 runtimes: a quarter of what fits
    expect(routeTableContent(table)).toEqual(content); // deterministic: no rewrite of an unchanged table
    expect(routeTableText(content)).toBe(serializeRouteTable(table));
    const read = parseRouteTable(routeTableText(content));
    expect(read.ok && read.table.groups.reduce((n, g) => n + g.backends.length, 0)).toBe(3000);
  });

  test('a table that does not fit even gzipped is refused, saying how large it is and what to do', () => {
    const { table } = translate({ xtrinodes: runtimes(1), settings: DEFAULT_SETTINGS });
    const group = table.groups[0]!;
    // Random hostnames do not compress: 1.5 MB of them.
    const huge: RouteTable = { ...table, groups: Array.from({ length: 20_000 }, (_, i) => ({ ...group, name: `g-${i}`, hostnames: [`${randomBytes(32).toString('hex')}.example.com`] })) };
    expect(() => routeTableContent(huge)).toThrow(/^the route table of 20000 runtimes is \d+ KiB gzipped \(base64\), more than the 1000 KiB one ConfigMap holds: nothing is written until runtimes are removed$/);
  });

  test('the router refuses a broken or oversized gzip, and a ConfigMap without a table', () => {
    expect(routeTableText({})).toBeUndefined();
    expect(routeTableText({ data: { other: 'x' }, binaryData: {} })).toBeUndefined();
    expect(() => routeTableText({ data: { [ROUTE_TABLE_KEY]: '{}' }, binaryData: { [ROUTE_TABLE_GZIP_KEY]: gzipSync('{}').toString('base64') } })).toThrow(/^has both routes\.json and routes\.json\.gz; the controller writes only one/);
    expect(() => routeTableText({ binaryData: { [ROUTE_TABLE_GZIP_KEY]: Buffer.from('not gzip').toString('base64') } })).toThrow(/^routes\.json\.gz does not inflate to a table: /);
    // 65 MiB of zeros gzip to about 64 KiB: inflating stops at the 64 MiB bound.
    const bomb = gzipSync(Buffer.alloc(65 * 1024 * 1024)).toString('base64');
    expect(bomb.length).toBeLessThan(200 * 1024);
    expect(() => routeTableText({ binaryData: { [ROUTE_TABLE_GZIP_KEY]: bomb } })).toThrow(/^routes\.json\.gz does not inflate to a table: .*(buffer|length|larger)/i);
  });
});
