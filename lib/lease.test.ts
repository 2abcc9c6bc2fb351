import { heldSpec, LeaseObservations, withDeadline } from './lease.ts';

test('another holder\'s Lease expires only after it was seen unchanged for its duration, whatever its renewTime says', () => {
  let now = 0;
  const seen = new LeaseObservations(() => now);
  const lease = (renewTime: string, rv: string) => ({ metadata: { resourceVersion: rv }, spec: { holderIdentity: 'a', leaseDurationSeconds: 3, renewTime } });
  const longAgo = '2000-01-01T00:00:00.000000Z';
  expect(seen.expired('l', lease(longAgo, '1'), 15)).toBe(false); // first sight: a renewTime in the past says nothing
  now = 2999;
  expect(seen.expired('l', lease(longAgo, '1'), 15)).toBe(false);
  now = 3000;
  expect(seen.expired('l', lease(longAgo, '1'), 15)).toBe(true);
  expect(seen.expired('l', lease(longAgo, '2'), 15)).toBe(false); // renewed: a new resourceVersion starts the count again
  now = 5000;
  expect(seen.expired('l', lease(longAgo, '2'), 15)).toBe(false);
  expect(seen.expired('free', { spec: {} }, 15)).toBe(true);
  expect(seen.expired('other', { spec: { holderIdentity: 'b' } }, 15)).toBe(false);
  now += 15_000; // no leaseDurationSeconds: the default applies
  expect(seen.expired('other', { spec: { holderIdentity: 'b' } }, 15)).toBe(true);
});

test('a takeover counts a transition and resets acquireTime; a renew of one\'s own Lease does neither', () => {
  const acquired = '2026-01-01T00:00:00.000000Z';
  const taken = heldSpec({ holderIdentity: 'a', leaseTransitions: 4, acquireTime: acquired }, 'b', 15);
  expect({ holder: taken.holderIdentity, transitions: taken.leaseTransitions, newAcquire: taken.acquireTime !== acquired }).toEqual({ holder: 'b', transitions: 5, newAcquire: true });
  const renewed = heldSpec({ holderIdentity: 'b', leaseTransitions: 5, acquireTime: acquired }, 'b', 15);
  expect({ transitions: renewed.leaseTransitions, acquireTime: renewed.acquireTime, duration: renewed.leaseDurationSeconds }).toEqual({ transitions: 5, acquireTime: acquired, duration: 15 });
});

test('a call that never answers is given up at its deadline, naming what it was', async () => {
  await expect(withDeadline(new Promise(() => undefined), 50, 'renew Lease x/y')).rejects.toThrow('renew Lease x/y: no answer from the API server within 50 ms');
  await expect(withDeadline(Promise.resolve(7), 50, 'x')).resolves.toBe(7);
});
