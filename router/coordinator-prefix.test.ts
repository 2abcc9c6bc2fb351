import { parseCoordinatorPath } from './coordinator-prefix.ts';

describe('coordinator paths', () => {
  test('split into coordinator id, prefix and the Trino path', () => {
    expect(parseCoordinatorPath('/xtrinode/c/prod/a/v1/statement/executing/q/y1/2?x=1')).toEqual({ id: 'prod/a', prefix: '/xtrinode/c/prod/a', rest: '/v1/statement/executing/q/y1/2?x=1' });
    expect(parseCoordinatorPath('/xtrinode/c/prod/a')).toEqual({ id: 'prod/a', prefix: '/xtrinode/c/prod/a', rest: '/' });
    expect(parseCoordinatorPath('/xtrinode/c/prod/a?y')).toEqual({ id: 'prod/a', prefix: '/xtrinode/c/prod/a', rest: '/?y' });
  });

  test('other paths are not coordinator paths', () => {
    expect(parseCoordinatorPath('/v1/statement')).toBeUndefined();
    expect(parseCoordinatorPath('/xtrinode/wait/1/x/1')).toBeUndefined();
    expect(parseCoordinatorPath('/xtrinode/cc/a/b')).toBeUndefined();
  });

  test('names that are not DNS labels are malformed, never looked up', () => {
    for (const p of ['/xtrinode/c/', '/xtrinode/c/prod', '/xtrinode/c/Prod/a/v1', '/xtrinode/c/prod/a.b/v1', '/xtrinode/c/prod/..', `/xtrinode/c/${'a'.repeat(64)}/b`, '/xtrinode/c/prod/a%2fb']) {
      expect(parseCoordinatorPath(p)).toHaveProperty('malformed');
    }
  });
});
