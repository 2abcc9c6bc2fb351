/**
 * The router's process settings: what a bad or missing one gets at start, before any traffic.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseActivityInterval, parseBytes, peerIdentity } from './main.ts';

describe('router settings', () => {
  const secret = 'a'.repeat(32);
  test('with resume on, a missing or short ROUTER_SECRET refuses to start and says how to create it', () => {
    expect(() => peerIdentity({ POD_IP: '10.0.0.5' }, true, 8080)).toThrow(/ROUTER_SECRET is not set\..*kubectl -n trino-gateway create secret generic xtrinode-router/);
    expect(() => peerIdentity({ POD_IP: '10.0.0.5', ROUTER_SECRET: 'short' }, true, 8080)).toThrow(/shorter than 32 characters/);
    expect(() => peerIdentity({ ROUTER_SECRET: secret }, true, 8080)).toThrow(/POD_IP is not set/);
    expect(peerIdentity({ POD_IP: '10.0.0.5', ROUTER_SECRET: secret }, true, 8080)).toEqual({ selfAddress: '10.0.0.5:8080', secret });
    expect(peerIdentity({ POD_IP: 'fd00::5', ROUTER_SECRET: secret }, true, 8080)).toEqual({ selfAddress: '[fd00::5]:8080', secret });
  });

  test('with resume off (a file route table, no held queries) no secret is needed', () => {
    expect(peerIdentity({}, false, 8080)).toBeUndefined();
  });

  test('sizes take Kubernetes units and refuse anything else', () => {
    expect(parseBytes('STATEMENT_BUDGET', '160Mi')).toBe(160 * 2 ** 20);
    expect(parseBytes('STATEMENT_BUDGET', '1Gi')).toBe(2 ** 30);
    expect(parseBytes('STATEMENT_BUDGET', '4096')).toBe(4096);
    for (const bad of ['', '160M', '-1Mi', '1.5Gi', 'lots']) expect(() => parseBytes('STATEMENT_BUDGET', bad)).toThrow(/STATEMENT_BUDGET must be a size like 160Mi/);
  });

  test('ACTIVITY_INTERVAL is a duration of at least 1s', () => {
    expect(parseActivityInterval(undefined)).toBe(30_000);
    expect(parseActivityInterval('1s')).toBe(1000);
    expect(parseActivityInterval('1h')).toBe(3_600_000);
    for (const bad of ['0s', '500ms', '0ms']) expect(() => parseActivityInterval(bad)).toThrow(/^ACTIVITY_INTERVAL must be at least 1s, not "[^"]+": it is how often/);
    for (const bad of ['', 'soon', '30', '0']) expect(() => parseActivityInterval(bad)).toThrow(/^ACTIVITY_INTERVAL: "[^"]*" is not a duration like 30s/);
  });
});

test('a router process started for several replicas without ROUTER_SECRET exits at once with the reason', () => {
  const r = spawnSync(process.execPath, [fileURLToPath(new URL('./main.ts', import.meta.url))], { env: { PATH: process.env.PATH, RESUME: 'on', POD_IP: '10.0.0.5', ROUTER_PORT: '0', ADMIN_PORT: '0' }, encoding: 'utf8', timeout: 20_000 });
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(/^router: ROUTER_SECRET is not set\. With RESUME=on every router replica needs the same secret/);
});
