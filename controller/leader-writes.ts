/**
 * A KubeConfig whose API clients write only while this replica leads. Every request of a client
 * made from it (generated APIs and KubernetesObjectApi alike) passes through
 * `applySecurityAuthentication` just before it is sent; a write (any method but GET) is refused
 * there when `leading()` is false, so a pass that was under way when leadership ended sends
 * nothing more, instead of relying on every code path to check a flag. Reads go on.
 */
import * as k8s from '@kubernetes/client-node';

export class NotLeaderError extends Error {
  readonly code = 'NOT_LEADER';
}

export function leaderOnlyWrites(kc: k8s.KubeConfig, leading: () => boolean): k8s.KubeConfig {
  const guarded = Object.create(kc) as k8s.KubeConfig;
  guarded.applySecurityAuthentication = async (context) => {
    const method = String(context.getHttpMethod()).toUpperCase();
    if (method !== 'GET' && !leading()) throw new NotLeaderError(`${method} ${new URL(context.getUrl()).pathname} not sent: this controller replica is not the leader (leadership lost or stopping)`);
    return kc.applySecurityAuthentication(context);
  };
  return guarded;
}
