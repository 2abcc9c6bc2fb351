import { hostProblem, pathProblem } from './request-checks.ts';

describe('request checks', () => {
  test('dot segments are refused in every spelling', () => {
    for (const p of ['/v1/../x', '/v1/./x', '/..', '/v1/.%2e/x', '/v1/%2e./x', '/v1/%2E%2E/x', '/v1/..;/x', '/v1/..;jsessionid=1/x', '/v1/.;/x', '/v1%2f..', '/v1%5c..%5cx', '/v1\\..\\x', 'v1/statement']) {
      expect({ p, problem: pathProblem(p) }).toEqual({ p, problem: expect.any(String) });
    }
  });

  test('Trino paths pass', () => {
    for (const p of ['/v1/statement', '/v1/statement/executing/20260101_000000_00001_abcde/y1/2', '/ui/', '/v1/info', '/xtrinode/c/prod/a/v1/statement/queued/20260101_000000_00001_abcde/y1/1', '/ui/assets/app.min.js', '/v1/statement/..x']) {
      expect({ p, problem: pathProblem(p) }).toEqual({ p, problem: undefined });
    }
  });

  test('exactly one Host header', () => {
    expect(hostProblem(['Host', 'a.example.com', 'X-Trino-User', 'me'])).toBeUndefined();
    expect(hostProblem(['X-Trino-User', 'me'])).toMatch(/no Host/);
    expect(hostProblem(['Host', 'a.example.com', 'host', 'b.example.com'])).toMatch(/more than one/);
  });

  test('a Host naming the router itself (filled in by a proxy for a Host-less request) is refused', () => {
    const self = new Set(['10.96.0.12', '10.244.1.7', 'fd00::7']);
    for (const h of ['10.96.0.12:8080', '10.96.0.12', '10.244.1.7:8080', '[fd00::7]:8080']) expect({ h, problem: hostProblem(['Host', h], self) }).toEqual({ h, problem: expect.stringMatching(/without a Host of its own/) });
    for (const h of ['trino.example.com', 'trino.example.com:8080', '10.96.0.13:8080', 'xtrinode-router.trino-gateway.svc:8080']) expect({ h, problem: hostProblem(['Host', h], self) }).toEqual({ h, problem: undefined });
  });
});
