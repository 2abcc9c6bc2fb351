/**
 * Status writes, stated from the rules in status-writes.ts: transition times kept while a
 * condition's status holds, status.queries never touched, dropped fields removed, nothing written
 * when nothing changed, Events only for notable changes of Accepted.
 */
import type { Condition, XTrinode, XTrinodeStatus } from './api/xtrinode.ts';
import { acceptedChange, mergeStatus, sameStatus, statusWrites } from './status-writes.ts';

const T0 = '2026-12-01T10:00:00Z';
const NOW = new Date('2026-12-07T12:34:56.789Z');
const cond = (type: string, status: Condition['status'], reason: string, extra: Partial<Condition> = {}): Condition => ({ type, status, reason, message: `${type} ${reason}`, ...extra });

describe('mergeStatus', () => {
  test('a condition keeps its lastTransitionTime while its status holds (even as reason and message change) and gets the pass time when it flips', () => {
    const live: XTrinodeStatus = { conditions: [cond('Accepted', 'True', 'Accepted', { lastTransitionTime: T0 }), cond('Ready', 'False', 'Pending', { lastTransitionTime: T0 })] };
    const merged = mergeStatus(live, { conditions: [cond('Accepted', 'True', 'Accepted', { message: 'other words' }), cond('Ready', 'True', 'Ready'), cond('Programmed', 'True', 'Accepted')] }, NOW);
    expect(merged.conditions!.map((c) => [c.type, c.lastTransitionTime])).toEqual([['Accepted', T0], ['Ready', '2026-12-07T12:34:56Z'], ['Programmed', '2026-12-07T12:34:56Z']]);
    expect(merged.conditions![0]!.message).toBe('other words');
  });

  test('status.queries stays as it is (query-counts.ts writes it), and fields the translation dropped are sent as null', () => {
    const live: XTrinodeStatus = { hostname: 'a.example.com', hostnames: ['a.example.com'], headerSelector: 'team/a', routes: ['xtrinode-a'], queries: { running: 3, queued: 1 }, conditions: [] };
    const merged = mergeStatus(live, { routes: ['xtrinode-a', 'xtrinode.fallback'], conditions: [] }, NOW);
    expect(merged).toEqual({ routes: ['xtrinode-a', 'xtrinode.fallback'], queries: { running: 3, queued: 1 }, hostname: null, hostnames: null, headerSelector: null, conditions: [] });
    expect(mergeStatus(undefined, { routes: ['r'], hostname: undefined } as XTrinodeStatus, NOW)).toEqual({ routes: ['r'], conditions: [] });
  });
});

describe('sameStatus', () => {
  const live: XTrinodeStatus = { routingGroup: 'g', routes: ['a', 'b'], conditions: [cond('Accepted', 'True', 'Accepted', { lastTransitionTime: T0 })] };
  test('the same content in another key order is the same; a missing live status, a changed value, an added field or a pending removal is not', () => {
    const same = mergeStatus(live, { routes: ['a', 'b'], routingGroup: 'g', conditions: [cond('Accepted', 'True', 'Accepted')] }, NOW);
    expect(sameStatus(live, same)).toBe(true);
    expect(sameStatus(undefined, same)).toBe(false);
    expect(sameStatus(live, mergeStatus(live, { routingGroup: 'g', routes: ['a'], conditions: [cond('Accepted', 'True', 'Accepted')] }, NOW))).toBe(false);
    expect(sameStatus(live, mergeStatus(live, { routingGroup: 'g', routes: ['a', 'b'], default: true, conditions: [cond('Accepted', 'True', 'Accepted')] }, NOW))).toBe(false);
    expect(sameStatus(live, mergeStatus(live, { routingGroup: 'g', conditions: [cond('Accepted', 'True', 'Accepted')] }, NOW))).toBe(false); // routes: null
  });
});

describe('statusWrites', () => {
  test('only XTrinodes whose status would change are written; deleted ones are skipped', () => {
    const xt = (name: string, status?: XTrinodeStatus): XTrinode => ({ apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { namespace: 'ns', name }, spec: {}, ...(status ? { status } : {}) });
    const settled: XTrinodeStatus = { routes: ['r'], conditions: [cond('Accepted', 'True', 'Accepted', { lastTransitionTime: T0 })] };
    const live = new Map([['same', xt('same', settled)], ['changed', xt('changed', settled)], ['new', xt('new')]]);
    const desired = (name: string): XTrinodeStatus => ({ routes: name === 'changed' ? ['r', 's'] : ['r'], conditions: [cond('Accepted', 'True', 'Accepted')] });
    const out = statusWrites(['ns/same', 'ns/changed', 'ns/new', 'ns/deleted'], (_ns, name) => live.get(name), (x) => desired(x.metadata.name), NOW);
    expect(out.map((w) => [w.live.metadata.name, w.merged.routes])).toEqual([['changed', ['r', 's']], ['new', ['r']]]);
  });
});

describe('acceptedChange', () => {
  const with_ = (c?: Condition): XTrinodeStatus => ({ conditions: c ? [c] : [] });
  test('an Event when Accepted flips or its reason changes, none for a first plain acceptance or the same verdict', () => {
    expect(acceptedChange(undefined, with_(cond('Accepted', 'True', 'Accepted')))).toBeUndefined();
    expect(acceptedChange(with_(cond('Accepted', 'True', 'Accepted')), with_(cond('Accepted', 'True', 'Accepted', { message: 'reworded' })))).toBeUndefined();
    expect(acceptedChange(with_(cond('Accepted', 'True', 'Accepted')), with_())).toBeUndefined();
    expect(acceptedChange(undefined, with_(cond('Accepted', 'False', 'InvalidSpec')))).toEqual({ type: 'Warning', reason: 'InvalidSpec', message: 'Accepted InvalidSpec' });
    expect(acceptedChange(with_(cond('Accepted', 'True', 'Accepted')), with_(cond('Accepted', 'False', 'HostnameConflict')))).toEqual({ type: 'Warning', reason: 'HostnameConflict', message: 'Accepted HostnameConflict' });
    expect(acceptedChange(with_(cond('Accepted', 'False', 'HostnameConflict')), with_(cond('Accepted', 'False', 'HeaderConflict')))).toEqual({ type: 'Warning', reason: 'HeaderConflict', message: 'Accepted HeaderConflict' });
    expect(acceptedChange(with_(cond('Accepted', 'False', 'HostnameConflict')), with_(cond('Accepted', 'True', 'Accepted')))).toEqual({ type: 'Normal', reason: 'Accepted', message: 'Accepted Accepted' });
  });
});
