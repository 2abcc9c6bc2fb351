import { describe, expect, test } from '@jest/globals';
import { DRAIN_QUIET_MS, Drains, FINALIZER_DRAIN, drainCheck } from './drain.ts';

const base = { deletedAt: 1_000_000, now: 1_000_000, timeoutMs: 60_000, quietSince: undefined, routesSettled: true };

describe('drainCheck', () => {
  test('queries alive keep it, and reset the quiet streak', () => {
    expect(drainCheck({ ...base, alive: 3, quietSince: base.now - 10_000 })).toEqual({ done: false, why: '3 queries alive on its coordinator', quietSince: undefined });
  });

  test('quiet for DRAIN_QUIET_MS after the routes settled ends it', () => {
    const first = drainCheck({ ...base, alive: 0 });
    expect(first).toEqual({ done: false, why: 'no query alive on its coordinator', quietSince: base.now });
    expect(drainCheck({ ...base, alive: 0, now: base.now + DRAIN_QUIET_MS - 1, quietSince: base.now }).done).toBe(false);
    expect(drainCheck({ ...base, alive: 0, now: base.now + DRAIN_QUIET_MS, quietSince: base.now })).toEqual({ done: true, why: 'no query alive on its coordinator for 2 s' });
  });

  test('quiet does not count while the Gateway may still send it new statements', () => {
    expect(drainCheck({ ...base, alive: 0, routesSettled: false, quietSince: base.now - 60_000 })).toEqual({ done: false, why: 'no query alive on its coordinator; waiting for the Gateway to take the routes without it', quietSince: undefined });
  });

  test('a coordinator that does not answer counts as quiet', () => {
    expect(drainCheck({ ...base, alive: undefined, now: base.now + DRAIN_QUIET_MS, quietSince: base.now })).toEqual({ done: true, why: 'its coordinator does not answer for 2 s' });
  });

  test('the timeout ends it with queries still alive', () => {
    expect(drainCheck({ ...base, alive: 4, now: base.deletedAt + 60_000 })).toEqual({ done: true, why: 'the drain timeout (60 s) passed with 4 queries still alive on its coordinator' });
    expect(drainCheck({ ...base, alive: 4, now: base.deletedAt + 59_999 }).done).toBe(false);
  });
});

describe('Drains.pass', () => {
  const xt = (name: string, meta: { deletionTimestamp?: string; finalizers?: string[] } = {}) => ({ metadata: { name, namespace: 'ns', resourceVersion: '7', ...meta } });
  const setup = (alive: Map<string, number | undefined>) => {
    const writes: Array<{ name: string; finalizers: string[] }> = [];
    const events: Array<{ name: string; reason: string }> = [];
    const drains = new Drains({
      timeoutMs: 60_000,
      alive: (origin) => Promise.resolve(alive.get(origin)),
      setFinalizers: (x, finalizers) => {
        writes.push({ name: x.metadata.name, finalizers });
        return Promise.resolve();
      },
      event: (x, reason) => {
        events.push({ name: x.metadata.name, reason });
        return Promise.resolve();
      },
      log: { info: () => undefined },
    });
    const attemptFor = async (_key: string, _what: string, f: () => Promise<void>) => f();
    return { drains, writes, events, attemptFor };
  };

  test('routed XTrinodes get the finalizer once; others are left alone', async () => {
    const { drains, writes, attemptFor } = setup(new Map());
    const routed = new Map([['ns/a', 'http://a'], ['ns/b', 'http://b']]);
    const next = await drains.pass([xt('a'), xt('b', { finalizers: ['other', FINALIZER_DRAIN] }), xt('c')], routed, true, attemptFor);
    expect(writes).toEqual([{ name: 'a', finalizers: [FINALIZER_DRAIN] }]);
    expect(next).toBeUndefined();
  });

  test('a deleted runtime drains: kept while busy, released after quiet, with Events', async () => {
    const alive = new Map<string, number | undefined>([['http://a', 2]]);
    const { drains, writes, events, attemptFor } = setup(alive);
    const deleting = xt('a', { deletionTimestamp: new Date(1_000_000).toISOString(), finalizers: ['other', FINALIZER_DRAIN] });
    const routed = new Map([['ns/a', 'http://a']]);
    expect(await drains.pass([deleting], routed, true, attemptFor, 1_000_000)).toBe(1000);
    expect(await drains.pass([deleting], routed, true, attemptFor, 1_001_000)).toBe(1000);
    expect(events).toEqual([{ name: 'a', reason: 'Draining' }]);
    alive.set('http://a', 0);
    expect(await drains.pass([deleting], routed, true, attemptFor, 1_002_000)).toBe(1000);
    expect(writes).toEqual([]);
    expect(await drains.pass([deleting], routed, true, attemptFor, 1_002_000 + DRAIN_QUIET_MS)).toBeUndefined();
    expect(writes).toEqual([{ name: 'a', finalizers: ['other'] }]);
    expect(events).toEqual([{ name: 'a', reason: 'Draining' }, { name: 'a', reason: 'Drained' }]);
  });

  test('a deleted runtime no longer routed goes at once; one without our finalizer is not touched', async () => {
    const { drains, writes, attemptFor } = setup(new Map());
    const gone = xt('a', { deletionTimestamp: new Date().toISOString(), finalizers: [FINALIZER_DRAIN] });
    const foreign = xt('b', { deletionTimestamp: new Date().toISOString(), finalizers: ['other'] });
    expect(await drains.pass([gone, foreign], new Map([['ns/b', 'http://b']]), true, attemptFor)).toBeUndefined();
    expect(writes).toEqual([{ name: 'a', finalizers: [] }]);
  });
});
