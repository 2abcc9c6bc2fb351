/**
 * Envoy Gateway v1.9.1 with Envoy 1.39.1 as the local stack's Gateway API implementation, run out
 * of cluster as upstream allows since v1.9.0: `provider.type: Custom` with
 * `custom.resource.type: Kubernetes` (it reads KUBECONFIG and writes route status as in a cluster)
 * and `custom.infrastructure.type: Host` (it runs Envoy as its child, through func-e, from the
 * binary placed at `<dataHome>/envoy-versions/<version>/bin/envoy`: nothing is downloaded).
 *
 * What a cluster would give it and this machine does not, decided here:
 * - TLS for its xDS server and webhook: `envoy-gateway certgen --local` into its config home, and
 *   the process runs there (the build reads ./certs/envoy-gateway instead of /certs; see
 *   hack/get-components.sh for every source edit, all of them listen addresses and cert paths);
 * - no leader election (no Lease in envoy-gateway-system to fight over), no Prometheus listener,
 *   its admin server on a free loopback port;
 * - Envoy reaches backends by ClusterIP (`EnvoyProxy.spec.routingType: Service`): there are no
 *   EndpointSlices here (the API server refuses loopback endpoints), as Traefik's nativeLB;
 * - `--disable-hot-restart`, so two Envoys (two stacks) can share the machine;
 * - `mergeBackends`: one cluster per Service (see envoyProxy() below), what the README recommends
 *   for any Envoy Gateway in front of xtrinode-gateway.
 * The Gateway never turns Programmed=True in Host mode (there is no Service to get an address
 * from); routes are Accepted and ResolvedRefs as in a cluster.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { appendOutput } from './process-log.ts';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { componentDir } from '../test/components.ts';
import { until } from '../test/until.ts';
import { applyFiles, freePort, type ControlPlane } from './control-plane.ts';

export const ENVOY_GATEWAY_CONTROLLER = 'gateway.envoyproxy.io/gatewayclass-controller';
export const ENVOY_GATEWAY_CLASS = 'envoy';
/** Where Envoy Gateway keeps its own objects (its EnvoyProxy) and would keep its Lease. */
export const ENVOY_GATEWAY_NAMESPACE = 'envoy-gateway-system';
/** The Envoy version get-components.sh fetches (ENVOY_VERSION there). */
export const ENVOY_VERSION = '1.39.1';

type Apply = (obj: Record<string, unknown>) => Promise<void>;

/** Envoy Gateway's CRDs (raw server-side apply: typed models drop x-kubernetes-* fields), its namespace, the EnvoyProxy for Host mode and the GatewayClass. */
export async function installEnvoyGateway(cp: ControlPlane, apply: Apply): Promise<void> {
  const crds = join(componentDir('envoy-gateway'), 'crds');
  await applyFiles(cp, readdirSync(crds).filter((n) => n.endsWith('.yaml')).sort().map((n) => join(crds, n)));
  await apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ENVOY_GATEWAY_NAMESPACE } });
  // A CRD just created is served a moment later.
  await until('the EnvoyProxy CRD to be served', async () => (await apply(envoyProxy()), true), 30_000);
  await apply({
    apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: ENVOY_GATEWAY_CLASS },
    spec: { controllerName: ENVOY_GATEWAY_CONTROLLER, parametersRef: { group: 'gateway.envoyproxy.io', kind: 'EnvoyProxy', name: 'local-host', namespace: ENVOY_GATEWAY_NAMESPACE } },
  });
}

function envoyProxy(): Record<string, unknown> {
  return {
    apiVersion: 'gateway.envoyproxy.io/v1alpha1', kind: 'EnvoyProxy', metadata: { name: 'local-host', namespace: ENVOY_GATEWAY_NAMESPACE },
    spec: {
      provider: { type: 'Host', host: { envoyVersion: ENVOY_VERSION } },
      routingType: 'Service',
      // One Envoy cluster per Service, shared by every rule that sends to it without filters of
      // its own (the coordinator prefix rules, a single coordinator's catch-all, the router):
      // its name no longer depends on a rule's index, so routes that change do not send requests
      // to a cluster Envoy does not know yet (503/500 with flag NC, envoyproxy/gateway#9029).
      mergeBackends: {},
      extraArgs: ['--disable-hot-restart'],
      logging: { level: { default: 'warn' } },
    },
  };
}

export interface EnvoyGatewayRun {
  process: ChildProcess;
  adminUrl: string;
}

/** Starts Envoy Gateway (which starts Envoy once a Gateway of its class exists) in `dir`. */
export async function startEnvoyGateway(o: { kubeconfig: string; dir: string; logFile: string }): Promise<EnvoyGatewayRun> {
  const bin = join(componentDir('envoy-gateway'), 'envoy-gateway');
  const envoy = join(componentDir('envoy'), 'envoy');
  const home = (n: string) => {
    const d = join(o.dir, n);
    mkdirSync(d, { recursive: true });
    return d;
  };
  const configHome = home('config');
  const dataHome = home('data');
  const stateHome = home('state');
  const runtimeDir = home('run');
  mkdirSync(join(dataHome, 'envoy-versions', ENVOY_VERSION, 'bin'), { recursive: true });
  symlinkSync(envoy, join(dataHome, 'envoy-versions', ENVOY_VERSION, 'bin', 'envoy'));
  execFileSync(bin, ['certgen', '--local', '--config-home', configHome], { cwd: configHome, stdio: ['ignore', 'ignore', 'pipe'] });
  const adminPort = await freePort();
  const config = {
    apiVersion: 'gateway.envoyproxy.io/v1alpha1', kind: 'EnvoyGateway',
    gateway: { controllerName: ENVOY_GATEWAY_CONTROLLER },
    provider: {
      type: 'Custom',
      custom: {
        resource: { type: 'Kubernetes', kubernetes: { leaderElection: { disable: true }, client: { rateLimit: { qps: 50, burst: 100 } } } },
        infrastructure: { type: 'Host', host: { configHome, dataHome, stateHome, runtimeDir } },
      },
    },
    admin: { address: { host: '127.0.0.1', port: adminPort } },
    telemetry: { metrics: { prometheus: { disable: true } } },
    logging: { level: { default: 'info' } },
  };
  const configPath = join(configHome, 'envoy-gateway.yaml');
  writeFileSync(configPath, stringify(config));
  const p = spawn(bin, ['server', '--config-path', configPath], {
    cwd: configHome,
    env: { ...process.env, KUBECONFIG: o.kubeconfig, ENVOY_GATEWAY_NAMESPACE, HOME: o.dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  appendOutput(p, o.logFile);
  return { process: p, adminUrl: `http://127.0.0.1:${adminPort}` };
}

/** `v1.9.1`, as the binary reports it. */
export function envoyGatewayVersion(): string {
  const out = execFileSync(join(componentDir('envoy-gateway'), 'envoy-gateway'), ['version'], { encoding: 'utf8' });
  return out.match(/ENVOY_GATEWAY_VERSION:\s*(\S+)/)?.[1] ?? out.trim().split('\n')[0] ?? 'unknown';
}

/** Requests for `host` since `sinceMs` that Envoy answered itself with flag NC, from its JSON access log. */
export function envoyClusterNotFound(logFile: string, host: string, sinceMs: number): number {
  let n = 0;
  for (const line of readFileSync(logFile, 'utf8').split('\n')) {
    const at = line.indexOf('{"');
    if (at < 0 || !line.includes('"response_flags":"NC"')) continue;
    try {
      const e = JSON.parse(line.slice(at)) as { ':authority'?: string; start_time?: string };
      if ((e[':authority'] ?? '').split(':')[0] === host && Date.parse(e.start_time ?? '') >= sinceMs) n++;
    } catch {
      /* not an access log line */
    }
  }
  return n;
}
