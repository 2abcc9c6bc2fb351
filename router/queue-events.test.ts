import { describe, expect, test } from '@jest/globals';
import { QueueEvents } from './queue-events.ts';
import type { RouteGroup } from '../routetable/schema.ts';

const group: RouteGroup = { name: 'etl', hostnames: [], headerValues: [], default: false, path: 'router', backends: [
  { id: 'prod/b', service: { namespace: 'prod', name: 'b-coordinator', port: 8080 }, weight: 1, state: 'Ready', maxQueries: 1 },
  { id: 'prod/a', service: { namespace: 'prod', name: 'a-coordinator', port: 8080 }, weight: 1, state: 'Ready', maxQueries: 1 },
] };

describe('QueueEvents', () => {
  test('started and drained on the group\'s first member, a flapping group at most once a minute, a failed post only logged', async () => {
    let now = 1_000_000;
    const posted: Array<{ ns: string; reason: unknown; name: unknown; message: unknown }> = [];
    const warned: unknown[] = [];
    let fail = false;
    const ev = new QueueEvents({
      post: (ns, body) => {
        if (fail) return Promise.reject(new Error('403 forbidden'));
        posted.push({ ns, reason: body.reason, name: (body.involvedObject as { name: string }).name, message: body.message });
        return Promise.resolve();
      },
      identity: 'router-0/worker-1',
      log: { warn: (o: unknown) => void warned.push(o) } as never,
      now: () => now,
    });
    ev.changed(group, true, 1);
    ev.changed(group, false, 0);
    now += 10_000;
    ev.changed(group, true, 1); // within the minute: not again
    ev.changed(group, false, 0); // and no drained without a started
    now += 60_000;
    fail = true;
    ev.changed(group, true, 3);
    await new Promise((r) => setImmediate(r));
    expect(posted).toEqual([
      { ns: 'prod', reason: 'QueueStarted', name: 'a', message: 'routing group etl: every member is at its capacity.maxQueries; new statements wait in the gateway queue of router router-0/worker-1 (1 waiting).' },
      { ns: 'prod', reason: 'QueueDrained', name: 'a', message: 'routing group etl: the gateway queue of router router-0/worker-1 is empty again.' },
    ]);
    expect(warned).toEqual([{ group: 'etl', reason: 'QueueStarted', err: '403 forbidden' }]);
  });
});
