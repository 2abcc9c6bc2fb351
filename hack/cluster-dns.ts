/**
 * A stand-in for cluster DNS on the local stack: a hosts file naming every Service
 * (`<name>.<namespace>.svc.cluster.local` and `<name>.<namespace>.svc`) with its ClusterIP, kept
 * current from a watch on Services. Containers get it as their /etc/hosts (glibc reads the file
 * on every lookup), so the router resolves coordinator Services by name as it does in a cluster,
 * with no permission beyond what its manifests grant.
 */
import * as k8s from '@kubernetes/client-node';
import { writeFileSync } from 'node:fs';

export interface ClusterDns {
  readonly hostsFile: string;
  stop(): void;
}

export async function startClusterDns(kubeConfig: k8s.KubeConfig, hostsFile: string, clusterDomain = 'cluster.local'): Promise<ClusterDns> {
  const core = kubeConfig.makeApiClient(k8s.CoreV1Api);
  const informer = k8s.makeInformer(kubeConfig, '/api/v1/services', () => core.listServiceForAllNamespaces());
  const write = () => {
    const lines = ['127.0.0.1 localhost'];
    for (const s of informer.list()) {
      const ip = s.spec?.clusterIP;
      if (!ip || ip === 'None') continue;
      const { name, namespace } = s.metadata!;
      lines.push(`${ip} ${name}.${namespace}.svc.${clusterDomain} ${name}.${namespace}.svc`);
    }
    // In place (same inode): the file is bind-mounted into running containers.
    writeFileSync(hostsFile, lines.join('\n') + '\n');
  };
  writeFileSync(hostsFile, '127.0.0.1 localhost\n');
  for (const ev of ['add', 'update', 'delete'] as const) informer.on(ev, write);
  let stopped = false;
  // A watch that ends in an error is listed again, until stop(): a stopped informer's aborted watch
  // also ends in an error, and restarting it then would poll a stopped API server forever.
  informer.on('error', () => {
    if (stopped) return;
    setTimeout(() => {
      if (!stopped) void informer.start().catch(() => undefined);
    }, 1000).unref();
  });
  await informer.start();
  write();
  return {
    hostsFile,
    stop: () => {
      stopped = true;
      void informer.stop();
    },
  };
}
