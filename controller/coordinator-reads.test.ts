import { CoordinatorReads } from './coordinator-reads.ts';

/** A read that answers when the test says so. */
function gate<T>() {
  let open!: (v: T) => void;
  const p = new Promise<T>((r) => (open = r));
  return { p, open };
}

test('at most `concurrency` reads at once, one per id; an answer is taken once, and an old one is read again', async () => {
  let now = 0;
  const answered: string[] = [];
  const reads = new CoordinatorReads({ concurrency: 2, maxAgeMs: 1000, now: () => now, answered: (id) => answered.push(id) });
  const gates = new Map<string, ReturnType<typeof gate<number>>>();
  let started = 0;
  const read = (id: string) => () => {
    started++;
    const g = gate<number>();
    gates.set(id, g);
    return g.p;
  };
  for (const id of ['a', 'b', 'c']) expect(reads.take(id, read(id))).toBeUndefined();
  expect(reads.take('a', read('a'))).toBeUndefined(); // already in flight: not started twice
  expect({ started, outstanding: reads.outstanding }).toEqual({ started: 2, outstanding: 3 });
  gates.get('a')!.open(7);
  await new Promise((r) => setImmediate(r));
  expect({ started, answered }).toEqual({ started: 3, answered: ['a'] }); // c started once a finished
  expect(reads.take('a', read('a'))).toEqual({ value: 7 });
  expect(reads.take('a', read('a'))).toBeUndefined(); // taken: asking again starts a new read
  gates.get('b')!.open(8);
  await new Promise((r) => setImmediate(r));
  now = 1001; // b's answer is too old to stand for the coordinator now
  expect(reads.take('b', read('b'))).toBeUndefined();
  // c and the second a run; the new b waits for a slot
  expect({ started, outstanding: reads.outstanding }).toEqual({ started: 4, outstanding: 3 });
});

test('a read that throws is not an answer and starts no pass', async () => {
  const answered: string[] = [];
  const reads = new CoordinatorReads({ answered: (id) => answered.push(id) });
  reads.take('x', async () => { throw new Error('boom'); });
  await new Promise((r) => setImmediate(r));
  expect({ answered, outstanding: reads.outstanding }).toEqual({ answered: [], outstanding: 0 });
});
