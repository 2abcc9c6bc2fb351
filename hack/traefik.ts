/**
 * Traefik v3.7 as the local stack's Gateway API implementation, run out of cluster: its Gateway
 * provider reads KUBECONFIG, its entry point listens on 127.0.0.1, and it dials ClusterIPs
 * (`traefik.io/service.nativelb` on every Service the stack creates: there is no kube-proxy).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { appendOutput } from './process-log.ts';
import { join } from 'node:path';
import { componentDir } from '../test/components.ts';

export const TRAEFIK_CONTROLLER = 'traefik.io/gateway-controller';
export const TRAEFIK_CLASS = 'traefik';

export function startTraefik(o: { kubeconfig: string; gatewayPort: number; logFile: string }): ChildProcess {
  const p = spawn(join(componentDir('traefik'), 'traefik'), [
    '--providers.kubernetesgateway=true', '--providers.kubernetesgateway.statusaddress.ip=127.0.0.1',
    `--entryPoints.web.address=127.0.0.1:${o.gatewayPort}`, '--log.level=INFO', '--global.checknewversion=false', '--global.sendanonymoususage=false',
  ], { env: { ...process.env, KUBECONFIG: o.kubeconfig }, stdio: ['ignore', 'pipe', 'pipe'] });
  appendOutput(p, o.logFile);
  return p;
}

/** `v3.7.13`, as the binary reports it. */
export function traefikVersion(): string {
  return execFileSync(join(componentDir('traefik'), 'traefik'), ['version']).toString().match(/Version:\s+(\S+)/)?.[1] ?? 'unknown';
}
