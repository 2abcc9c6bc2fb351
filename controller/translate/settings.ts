/** Where the generated objects go and what they point at. */
export interface GatewaySettings {
  /** The Gateway every HTTPRoute attaches to. */
  gateway: { namespace: string; name: string; sectionName?: string };
  /** Namespace of the HTTPRoutes and the route table ConfigMap. */
  gatewayNamespace: string;
  /** The router Service: target of every request that needs a Trino-aware hop. */
  router: { namespace: string; name: string; port: number };
  /**
   * Shared groups (several coordinators): `router` sends all their traffic through the router
   * (weights, health, query and OAuth2 stickiness, correct for every client); `gateway-weighted`
   * lets the Gateway spread new statements (`POST /v1/statement`) by weighted backendRefs and sends
   * everything else through the router, which finds each query's coordinator. Use the latter only
   * for coordinators without OAuth2.
   */
  sharedGroupPath: 'router' | 'gateway-weighted';
}

export const DEFAULT_SETTINGS: GatewaySettings = {
  gateway: { namespace: 'trino-gateway', name: 'trino-gateway' },
  gatewayNamespace: 'trino-gateway',
  router: { namespace: 'trino-gateway', name: 'xtrinode-router', port: 8080 },
  sharedGroupPath: 'router',
};

/** Parses `NAMESPACE/NAME[/SECTION]`. */
export function parseGatewayRef(s: string): GatewaySettings['gateway'] {
  const parts = s.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p.length === 0)) {
    throw new Error(`--gateway "${s}": expected NAMESPACE/NAME or NAMESPACE/NAME/SECTION`);
  }
  const [namespace, name, sectionName] = parts as [string, string, string?];
  return sectionName === undefined ? { namespace, name } : { namespace, name, sectionName };
}

/** Parses `[NAMESPACE/]NAME[:PORT]` for the router Service. */
export function parseServiceRef(s: string, defaultNamespace: string): GatewaySettings['router'] {
  const m = /^(?:([a-z0-9-]+)\/)?([a-z0-9-]+)(?::([0-9]+))?$/.exec(s);
  if (!m) throw new Error(`--router-service "${s}": expected [NAMESPACE/]NAME[:PORT]`);
  const port = m[3] === undefined ? 8080 : Number(m[3]);
  if (port < 1 || port > 65535) throw new Error(`--router-service "${s}": port out of range`);
  return { namespace: m[1] ?? defaultNamespace, name: m[2]!, port };
}
