import { ObjectBackoff } from './object-backoff.ts';

test('a failing object waits longer after each failure, up to the cap; others are never held back; success clears it', () => {
  const b = new ObjectBackoff(500, 4000);
  expect([b.failed('a/x', 0), b.failed('a/x', 0), b.failed('a/x', 0), b.failed('a/x', 0), b.failed('a/x', 0)]).toEqual([500, 1000, 2000, 4000, 4000]);
  expect({ waiting: b.waiting('a/x', 3999), other: b.waiting('b/y', 0), next: b.nextRetryIn(1000) }).toEqual({ waiting: true, other: false, next: 3000 });
  expect(b.waiting('a/x', 4000)).toBe(false);
  b.succeeded('a/x');
  expect({ next: b.nextRetryIn(0), again: b.failed('a/x', 0) }).toEqual({ next: undefined, again: 500 });
});

test('a key the last pass had no work for (object deleted, action gone) stops waiting and schedules no retry', () => {
  const b = new ObjectBackoff(500, 4000);
  b.failed('team-b/frozen', 0);
  b.failed('team-b/other', 0);
  b.retain(new Set(['team-b/other']));
  expect({ size: b.size, frozenWaits: b.waiting('team-b/frozen', 1), otherWaits: b.waiting('team-b/other', 1) }).toEqual({ size: 1, frozenWaits: false, otherWaits: true });
  b.retain(new Set());
  expect(b.nextRetryIn(0)).toBeUndefined();
});
