/**
 * End to end on the local stack, for one Gateway API implementation: the conformance suite
 * (conformance/suite.ts) through a real Gateway, the controller and router from the project's
 * image, real Trino 476 coordinators for a shared group, the Trino CLI, JDBC, python and the npm
 * trino-client. conformance.test.ts runs it through Traefik, conformance-envoy.test.ts through
 * Envoy Gateway with Envoy. Each run rewrites its implementation's report in conformance/reports/
 * (`CONFORMANCE_REPORT_DIR` elsewhere): the committed reports are those of the last run.
 */
import { writeFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { request } from 'undici';
import { startStack, GATEWAY, STACK_QUEUE, GATEWAY_NAMES, type GatewayImplementation, type Stack } from '../hack/stack.ts';
import { envoyClusterNotFound } from '../hack/envoy-gateway.ts';
import { TRINO_JAVA_HOME, trinoAvailable } from '../hack/trino.ts';
import { REPO_ROOT, componentDir } from '../test/components.ts';
import { runConformance, CASE_NAMES, type ConformanceReport } from './suite.ts';
import { localBackends } from './local-backends.ts';
import { routerSettings } from '../hack/manifests.ts';

/** The committed report of each implementation, under conformance/reports/. */
export const REPORT_FILES: Record<GatewayImplementation, string> = { traefik: 'traefik-local.yaml', envoy: 'envoy-gateway-local.yaml' };

/**
 * Declares the suites for `gateway`. `fakeChecks`: also check the fake coordinator against real
 * Trino (the same answers whichever Gateway is in front: one implementation's run does it).
 */
export function localConformance(gateway: GatewayImplementation, o: { fakeChecks: boolean }): void {
  let stack: Stack;
  let report: ConformanceReport;
  // Real Trino is part of the test run, not an option: without it the run fails and says what to install.
  const realTrino = trinoAvailable();
  const INSTALL = 'run as root (network namespaces) with Java 24+ at TRINO_JAVA_HOME (default /usr/lib/jvm/temurin-25-jdk-amd64, Debian: apt-get install temurin-25-jdk from the Adoptium repository) and iproute2';
  if (!realTrino.ok) process.stderr.write(`\n!!! REAL TRINO UNAVAILABLE: ${realTrino.reason}. The RealTrino* cases FAIL: ${INSTALL}.\n\n`);
  /** Where this run's report goes: the committed one unless CONFORMANCE_REPORT_DIR says otherwise. */
  const REPORT = join(process.env.CONFORMANCE_REPORT_DIR ?? join(REPO_ROOT, 'conformance/reports'), REPORT_FILES[gateway]);

  beforeAll(async () => {
    stack = await startStack({ gateway, logsDir: join(REPO_ROOT, `.logs/conformance-${gateway}`) });
    // trino-client follows nextUri literally, so it reaches the real Trino group by header selector.
    await stack.apply({ apiVersion: 'analytics.xtrinode.io/v1', kind: 'XTrinode', metadata: { name: 'runtime-shared-1', namespace: 'production' }, spec: { size: 'm', routing: { routingGroup: 'shared', hostnameDomain: 'trino.example.com', header: 'X-Trino-XTrinode=shared' } } });
    // CONFORMANCE_ONLY=CaseA,CaseB runs those cases alone while developing them: the run then
    // fails its "every case ran" test and leaves the committed report alone.
    const only = process.env.CONFORMANCE_ONLY?.split(',').filter((x) => x.length > 0);
    report = await runConformance({
      kubeConfig: stack.kubeConfig,
      gateway: GATEWAY,
      gatewayClass: stack.gatewayClass,
      gatewayUrl: stack.gatewayUrl,
      backends: localBackends(stack),
      implementationVersion: stack.gatewayVersion,
      ...(stack.realTrino.ok ? { realClients: { trinoCli: { java: join(TRINO_JAVA_HOME, 'bin/java'), jar: stack.trinoCliJar, jdbcJar: join(componentDir('trino'), 'trino-jdbc.jar') }, trinoGroup: { hostname: 'shared.trino.example.com', header: 'shared', xtrinode: { namespace: 'production', name: 'runtime-shared-1' } }, python: join(componentDir('python-trino'), 'bin/python') } } : {}),
      log: (l) => process.stderr.write(`[conformance] ${l}\n`),
      routerMetricsUrls: [`${stack.routerAdminUrl}/metrics`],
      routerQueue: { ...STACK_QUEUE, processes: Number(routerSettings().env.WORKERS ?? '1') },
      setSharedGroups: (mode) => stack.restartController(mode ? { SHARED_GROUPS: mode } : {}),
      restartRouter: () => stack.restartRouter(),
      ...(gateway === 'envoy' ? { clusterNotFoundAnswers: (host: string, sinceMs: number) => Promise.resolve(envoyClusterNotFound(join(stack.logsDir, 'envoy-gateway.log'), host, sinceMs)) } : {}),
    }, only ? { only } : {});
    if (!only) {
      mkdirSync(join(REPORT, '..'), { recursive: true });
      writeFileSync(REPORT, stringify(report, { lineWidth: 0 }));
    }
  }, 600_000);

  afterAll(async () => {
    await stack?.stop();
  });

  /**
   * What a coordinator answers for queries and paths it does not know, asked of a real Trino 476
   * and of the fake coordinator the fast tests use: the fake must answer the same, or the router's
   * tests would prove behaviour against answers Trino never gives.
   */
  const UNKNOWN = '20200101_000000_00000_zzzzz';
  const UNKNOWN_QUERY_ANSWERS: Array<[method: 'GET' | 'DELETE', path: string, headers: Record<string, string>]> = [
    ['GET', `/v1/query/${UNKNOWN}`, { 'x-trino-user': 'me' }],
    ['DELETE', `/v1/query/${UNKNOWN}`, { 'x-trino-user': 'me' }],
    ['GET', `/v1/statement/queued/${UNKNOWN}/y0123/1`, { 'x-trino-user': 'me' }],
    ['GET', `/v1/statement/executing/${UNKNOWN}/y0123/1`, { 'x-trino-user': 'me' }],
    ['DELETE', `/v1/statement/queued/${UNKNOWN}/y0123/1`, { 'x-trino-user': 'me' }],
    ['DELETE', `/v1/statement/executing/${UNKNOWN}/y0123/1`, { 'x-trino-user': 'me' }],
    ['GET', `/ui/api/query/${UNKNOWN}`, {}],
    ['GET', '/ui/api/stats', {}],
    ['GET', '/v1/spooled/download/unknown-segment', { 'x-trino-user': 'me' }],
    ['GET', '/v1/jmx/mbean/trino.execution:name=QueryManager', {}],
    ['GET', '/v1/jmx/mbean/trino.execution:name=QueryManager', { 'x-trino-user': 'xtrinode-gateway' }],
    ['GET', '/no/such/path', {}],
  ];

  if (o.fakeChecks) describe('the fake coordinator answers like Trino 476', () => {
    test('real Trino runs on this machine', () => {
      expect({ realTrino: realTrino.ok ? 'available' : `${realTrino.reason}: ${INSTALL}` }).toEqual({ realTrino: 'available' });
    });

    test('for unknown queries, unknown paths, the UI API without login and the MBean the router reads', async () => {
      const all = [...stack.coordinators.values()];
      const trino = all.find((c) => c.trino);
      if (!trino) throw new Error(`no real Trino coordinator in the stack: ${INSTALL}`);
      const fake = all.find((c) => c.fake)!;
      const ask = async (base: string, [method, path, headers]: (typeof UNKNOWN_QUERY_ANSWERS)[number]) => {
        const r = await request(`${base}${path}`, { method, headers });
        const text = await r.body.text();
        const type = String(r.headers['content-type'] ?? '').split(';')[0];
        const attributes = type === 'application/json' && path.includes('jmx') ? (JSON.parse(text) as { attributes: Array<{ name: string; value: unknown }> }).attributes.filter((a) => ['QueuedQueries', 'RunningQueries', 'StartedQueries.TotalCount', 'SubmittedQueries.TotalCount', 'CompletedQueries.TotalCount'].includes(a.name)).map((a) => `${a.name}:${typeof a.value}`).sort() : [];
        return `${method} ${path} ${JSON.stringify(headers)} -> ${r.statusCode} ${type} ${type === 'text/plain' ? text.trim() : ''} ${attributes.join(',')}`;
      };
      const real: string[] = [];
      const faked: string[] = [];
      for (const q of UNKNOWN_QUERY_ANSWERS) {
        real.push(await ask(trino.trino!.url, q));
        faked.push(await ask(`http://${fake.clusterIP}:8080`, q));
      }
      expect(faked).toEqual(real);
    });
  });

  describe(`the controller and the router as their Deployments run them (${GATEWAY_NAMES[gateway]})`, () => {
    test('ran from the project image with podman, as manifests/ describes them (user, read-only root, memory limit, ServiceAccount)', () => {
      expect(stack.run).toBe('image');
    });

    test('met no refusal from the API server: the RBAC in manifests/ holds every permission they used', () => {
      const refused = ['controller.log', 'router.log'].flatMap((f) =>
        readFileSync(join(stack.logsDir, f), 'utf8').split('\n').filter((l) => /\b403\b|forbidden/i.test(l)).map((l) => `${f}: ${l.slice(0, 600)}`));
      expect(refused).toEqual([]);
    });


    test('served the whole suite within its memory limit (a cgroup set from manifests/router/deployment.yaml)', () => {
      const limit = routerSettings().memoryLimitBytes;
      const peak = stack.routerMemory.peakBytes();
      process.stderr.write(`[conformance] router memory peak ${(peak / 2 ** 20).toFixed(0)} MiB of ${(limit / 2 ** 20).toFixed(0)} MiB\n`);
      expect({ limit: stack.routerMemory.limitBytes, oomKills: stack.routerMemory.oomKills(), underLimit: peak > 0 && peak <= limit }).toEqual({ limit, oomKills: 0, underLimit: true });
    });
  });

  describe(`routing conformance on the local stack (${GATEWAY_NAMES[gateway]})`, () => {
    test('every case ran', () => {
      expect(report.cases.map((c) => c.name)).toEqual(CASE_NAMES);
    });
    for (const name of CASE_NAMES) {
      test(name, () => {
        const c = report.cases.find((x) => x.name === name)!;
        expect({ name, result: c.result, reason: c.reason }).toEqual({ name, result: 'Passed', reason: undefined });
      });
    }
  });
}
