/**
 * A KubeConfig whose API clients share one connection pool to the API server.
 *
 * `@kubernetes/client-node` 2.0.1 builds a new undici Agent in `applySecurityAuthentication` for
 * every request (config.js, `createDispatcher`, uncached), so no connection is ever reused: each
 * call opens a new TLS connection and leaves it open until the server's idle timeout. Measured
 * here: 1,000 sequential GETs left 611 more open sockets and 170 MB more RSS; the controller at
 * 1,000 XTrinodes held about 200 MB of native memory for them. This keeps the first Agent built
 * and hands it to every later request (the new one is closed unused). The Agent carries the TLS
 * settings (CA, client certificate) of that first request; tokens travel in headers, set per
 * request as before, so a rotated ServiceAccount token is still picked up.
 *
 * @example
 * const kc = reuseConnections(loaded);
 * kc.makeApiClient(k8s.CoreV1Api); // all clients from kc share one pool
 */
import type * as k8s from '@kubernetes/client-node';

export function reuseConnections(kc: k8s.KubeConfig): k8s.KubeConfig {
  const shared = Object.create(kc) as k8s.KubeConfig;
  let pool: ReturnType<k8s.RequestContext['getDispatcher']>;
  shared.applySecurityAuthentication = async (context) => {
    await kc.applySecurityAuthentication(context);
    const made = context.getDispatcher();
    if (made === undefined) return; // plain http: Node's global pool, already shared
    if (pool === undefined) {
      pool = made;
      return;
    }
    if (made !== pool) {
      context.setDispatcher(pool);
      void made.close().catch(() => undefined); // never connected
    }
  };
  return shared;
}
