/**
 * Service addresses for a router running outside the cluster network (local stack, development):
 * instead of cluster DNS, it watches Services and dials their ClusterIP. In a cluster, DNS
 * (`<name>.<namespace>.svc.<domain>`) is used and this is not needed.
 */
import type { ApiServer, KubeObject } from './api-server.ts';

export interface ServiceAddresses {
  /** ClusterIP of ns/name, when known. */
  clusterIP(namespace: string, name: string): string | undefined;
  stop(): void;
}

export async function watchServiceAddresses(api: ApiServer, onError: (e: Error) => void = () => undefined): Promise<ServiceAddresses> {
  const ips = new Map<string, string>();
  type Service = KubeObject & { spec?: { clusterIP?: string } };
  const key = (s: Service) => `${s.metadata?.namespace}/${s.metadata?.name}`;
  const set = (s: Service) => {
    const ip = s.spec?.clusterIP;
    if (ip && ip !== 'None') ips.set(key(s), ip);
    else ips.delete(key(s));
  };
  const stop = await api.watch<Service>('/api/v1/services', {
    replaced: (items) => {
      ips.clear();
      items.forEach(set);
    },
    added: set,
    modified: set,
    deleted: (s) => ips.delete(key(s)),
  }, onError);
  return { clusterIP: (namespace, name) => ips.get(`${namespace}/${name}`), stop };
}
