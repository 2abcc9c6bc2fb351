/**
 * Held queries' wait URIs are capabilities: 128 random bits of the one query, checked on every
 * poll and cancel (the API server and resume path are covered in resume.test.ts).
 */
import { HeldQueries, WAIT_PATH_PREFIX } from './held-queries.ts';
import type { RouteGroup } from '../routetable/schema.ts';

const group: RouteGroup = { name: 'g', hostnames: [], headerValues: [], default: true, path: 'router', backends: [{ id: 'ns/a', service: { namespace: 'ns', name: 'a-coordinator', port: 8080 }, weight: 1, state: 'Suspended' }] };

function held(): HeldQueries {
  // A runtime that never wakes: the query stays held for the whole test.
  return new HeldQueries({ group: () => group, readyBackend: async () => undefined, submit: async () => { throw new Error('not submitted'); }, resume: () => undefined }, { timeoutMs: 60_000, pollWaitMs: 10 });
}

function waitUri(body: string): { id: string; slug: string } {
  const u = new URL((JSON.parse(body) as { nextUri: string }).nextUri);
  const [id, slug] = u.pathname.slice(WAIT_PATH_PREFIX.length).split('/') as [string, string];
  return { id, slug };
}

describe('held query wait URIs', () => {
  test('carry 128 random bits of their own query; polls and cancels without them find nothing', async () => {
    const h = held();
    const a = waitUri(h.hold(group, {}, Buffer.from('SELECT 1'), 'http://gw.example.com'));
    const b = waitUri(h.hold(group, {}, Buffer.from('SELECT 2'), 'http://gw.example.com'));
    const secret = (slug: string) => slug.slice('xtnw.'.length).split('.')[0]!;
    expect(Buffer.from(secret(a.slug), 'base64url').length).toBe(16);
    expect(secret(a.slug)).not.toBe(secret(b.slug));
    expect(h.holderOf(a.slug)).toBe('self');

    expect((await h.poll(a.id, a.slug))?.status).toBe(200);
    // another query's slug, a tampered one, a missing one
    const tampered = `xtnw.${secret(a.slug).slice(0, -1)}${secret(a.slug).endsWith('A') ? 'B' : 'A'}.local`;
    for (const slug of [b.slug, tampered, 'xtnw.local', 'xtnw..local']) {
      expect({ slug, poll: await h.poll(a.id, slug) }).toEqual({ slug, poll: undefined });
      expect({ slug, cancel: h.cancel(a.id, slug) }).toEqual({ slug, cancel: false });
    }
    expect(h.has(a.id)).toBe(true);
    expect(h.cancel(a.id, a.slug)).toBe(true);
    expect(h.has(a.id)).toBe(false);
    h.cancel(b.id, b.slug);
  });
});
