/**
 * Service addresses for a router running outside the cluster network (local stack, development):
 * instead of cluster DNS, it watches Services and dials their ClusterIP. In a cluster, DNS
 * (`<name>.<namespace>.svc.<domain>`) is used and this is not needed.
 */
import * as k8s from '@kubernetes/client-node';

export interface ServiceAddresses {
  /** ClusterIP of ns/name, when known. */
  clusterIP(namespace: string, name: string): string | undefined;
  stop(): void;
}

export async function watchServiceAddresses(kubeConfig: k8s.KubeConfig): Promise<ServiceAddresses> {
  const core = kubeConfig.makeApiClient(k8s.CoreV1Api);
  const informer = k8s.makeInformer<k8s.V1Service>(kubeConfig, '/api/v1/services', () => core.listServiceForAllNamespaces());
  let stopped = false;
  informer.on('error', () => {
    if (!stopped) setTimeout(() => void informer.start().catch(() => undefined), 1000);
  });
  await informer.start();
  return {
    clusterIP: (namespace, name) => {
      const ip = informer.get(name, namespace)?.spec?.clusterIP;
      return ip && ip !== 'None' ? ip : undefined;
    },
    stop: () => {
      stopped = true;
      void informer.stop();
    },
  };
}
