import { describe, expect, test } from '@jest/globals';
import { queryCountChanges } from './query-counts.ts';

const xt = (name: string, o: { maxQueries?: number; queries?: { running: number; queued: number }; deleting?: boolean } = {}) => ({
  metadata: { name, namespace: 'ns', ...(o.deleting ? { deletionTimestamp: '2026-12-07T00:00:00Z' } : {}) },
  spec: o.maxQueries ? { capacity: { maxQueries: o.maxQueries } } : {},
  ...(o.queries ? { status: { queries: o.queries } } : {}),
});
const figures = (running: number, queued: number) => ({ running, queued, started: undefined });

describe('queryCountChanges', () => {
  test('limited runtimes get their coordinator figures, written only when they changed', async () => {
    const origins = new Map([['ns/a', 'http://a'], ['ns/b', 'http://b'], ['ns/c', 'http://c']]);
    const read = (o: string) => Promise.resolve(({ 'http://a': figures(2, 1), 'http://b': figures(1, 0), 'http://c': figures(5, 5) } as Record<string, ReturnType<typeof figures>>)[o]);
    const changes = await queryCountChanges([xt('a', { maxQueries: 4 }), xt('b', { maxQueries: 4, queries: { running: 1, queued: 0 } }), xt('c')], origins, read);
    expect(changes.map((c) => [c.xt.metadata.name, c.queries])).toEqual([['a', { running: 2, queued: 1 }]]);
  });

  test('a coordinator that does not answer, a limit removed or a deletion removes the figures', async () => {
    const origins = new Map([['ns/a', 'http://a'], ['ns/b', 'http://b'], ['ns/c', 'http://c']]);
    const queries = { running: 1, queued: 0 };
    const changes = await queryCountChanges([xt('a', { maxQueries: 1, queries }), xt('b', { queries }), xt('c', { maxQueries: 1, queries, deleting: true }), xt('d', { maxQueries: 1 })], origins, () => Promise.resolve(undefined));
    expect(changes.map((c) => [c.xt.metadata.name, c.queries]).sort()).toEqual([['a', null], ['b', null], ['c', null]]);
  });
});
