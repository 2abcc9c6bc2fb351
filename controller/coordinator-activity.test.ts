/** Idle as the coordinator sees it: counts of queued, running and started queries over a whole idle time. */
import { CoordinatorActivity } from './coordinator-activity.ts';
import type { QueryManagerFigures } from '../lib/query-manager.ts';

const ORIGIN = 'http://10.0.0.1:8080';
const IDLE = 5000;

function coordinator(figures: QueryManagerFigures | undefined) {
  const c = { figures, now: 1_000_000 };
  const activity = new CoordinatorActivity(async () => c.figures, () => c.now);
  return { c, activity };
}

test('a look right after the first one is never idle, however quiet the coordinator (an idleTimeout just set does not suspend on the spot)', async () => {
  const { c, activity } = coordinator({ queued: 0, running: 0, started: 7 });
  await activity.baseline('ns/a', ORIGIN);
  c.now += 10;
  expect(await activity.check('ns/a', ORIGIN, IDLE)).toMatchObject({ state: 'busy', why: expect.stringContaining('less than the idle time'), retryInMs: IDLE - 10 });
  c.now += IDLE;
  expect(await activity.check('ns/a', ORIGIN, IDLE)).toEqual({ state: 'idle' });
});

test('the first look is a baseline, not idle', async () => {
  const { activity } = coordinator({ queued: 0, running: 0, started: 7 });
  expect(await activity.check('ns/a', ORIGIN, IDLE)).toMatchObject({ state: 'busy', why: expect.stringContaining('first look') });
});

test('queued or running queries are busy; a query started since the last look restarts the idle time', async () => {
  const { c, activity } = coordinator({ queued: 0, running: 1, started: 7 });
  await activity.baseline('ns/a', ORIGIN);
  c.now += IDLE;
  expect(await activity.check('ns/a', ORIGIN, IDLE)).toMatchObject({ state: 'busy', why: '1 running and 0 queued queries' });
  c.figures = { queued: 0, running: 0, started: 9 };
  c.now += IDLE;
  expect(await activity.check('ns/a', ORIGIN, IDLE)).toMatchObject({ state: 'busy', why: '2 queries started since the last look' });
  c.now += IDLE - 1;
  expect((await activity.check('ns/a', ORIGIN, IDLE)).state).toBe('busy');
  c.now += 1;
  expect(await activity.check('ns/a', ORIGIN, IDLE)).toEqual({ state: 'idle' });
});

test('a coordinator that does not answer, or cannot be reached, is never idle', async () => {
  const { activity } = coordinator(undefined);
  expect(await activity.check('ns/a', ORIGIN, IDLE)).toMatchObject({ state: 'unknown', why: expect.stringContaining('QueryManager') });
  expect(await activity.check('ns/a', undefined, IDLE)).toMatchObject({ state: 'unknown', why: expect.stringContaining('no ClusterIP') });
});

test('forget starts over: the next look is a first look', async () => {
  const { c, activity } = coordinator({ queued: 0, running: 0, started: 7 });
  await activity.baseline('ns/a', ORIGIN);
  c.now += IDLE;
  expect(await activity.check('ns/a', ORIGIN, IDLE)).toEqual({ state: 'idle' });
  activity.forget('ns/a');
  expect((await activity.check('ns/a', ORIGIN, IDLE)).state).toBe('busy');
});

test('retain forgets the runtimes it is not given (deleted XTrinodes) and keeps the others', async () => {
  const { c, activity } = coordinator({ queued: 0, running: 0, started: 7 });
  await activity.baseline('ns/gone', ORIGIN);
  await activity.baseline('ns/kept', ORIGIN);
  c.now += IDLE;
  activity.retain(new Set(['ns/kept']));
  expect(activity.hasBaseline('ns/gone')).toBe(false);
  expect(await activity.check('ns/kept', ORIGIN, IDLE)).toEqual({ state: 'idle' });
  expect(await activity.check('ns/gone', ORIGIN, IDLE)).toMatchObject({ state: 'busy', why: expect.stringContaining('first look') });
});
