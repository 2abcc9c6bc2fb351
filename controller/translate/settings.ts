/** Where the generated objects go and what they point at. */
export interface GatewaySettings {
  /** The Gateway every HTTPRoute attaches to. */
  gateway: { namespace: string; name: string; sectionName?: string };
  /** Namespace of the HTTPRoutes and the route table ConfigMap. */
  gatewayNamespace: string;
  /** The router Service: target of every request that needs a Trino-aware hop. */
  router: { namespace: string; name: string; port: number };
  /**
   * Shared groups (several coordinators): `router` sends their new statements through the router
   * (weights, health, OAuth2 stickiness, resume); `gateway-weighted` lets the Gateway spread them
   * by weighted backendRefs, each setting its coordinator's X-Forwarded-Prefix (needs the Gateway
   * feature HTTPRouteBackendRequestHeaderModification and `followUps: prefix`; coordinators
   * without OAuth2). The controller chooses it when the GatewayClass lists that feature.
   */
  sharedGroupPath: 'router' | 'gateway-weighted';
  /** Why `sharedGroupPath` is what it is (SHARED_GROUPS=auto: what the GatewayClass supports), for the status of shared groups' members. */
  sharedGroupReason?: string;
  /**
   * How a query's follow-ups find its coordinator. `prefix` (default): by URL; the Gateway sets
   * X-Forwarded-Prefix `/xtrinode/c/<namespace>/<name>` on every request to a coordinator, Trino
   * writes it into every nextUri, and a prefix route per coordinator carries the polls (needs
   * `http-server.process-forwarded=true`, Trino 452+, and a Gateway with URLRewrite). `router`:
   * by the router's learned stickiness, for coordinators or Gateways that cannot take part;
   * shared groups then always go through the router.
   */
  followUps: 'prefix' | 'router';
  /**
   * Namespaces whose routing rules are in force whatever the default route's owner says (`*`: all).
   * The platform team's consent; the owner of the default route gives its own by
   * `spec.routing.acceptRulesFrom`. Absent: none.
   */
  acceptRulesFrom?: string[];
  /** Whether `X-Trino-Routing-Group: <group>` selects a group (for clients of Trino Gateway). Absent: it does. */
  routingGroupHeader?: boolean;
  /**
   * How client-tag conditions appear in HTTPRoutes: `regex` (default), a RegularExpression header
   * match (RE2 syntax, anchored), or `none` for a Gateway without regex header matches: the
   * rule's match then leaves the tags out (a rule of tags alone gets none) and the router, which
   * every rule match leads to, still applies them; only `kubectl` shows less.
   */
  clientTagMatches?: 'regex' | 'none';
}

export const DEFAULT_SETTINGS: GatewaySettings = {
  gateway: { namespace: 'trino-gateway', name: 'trino-gateway' },
  gatewayNamespace: 'trino-gateway',
  router: { namespace: 'trino-gateway', name: 'xtrinode-router', port: 8080 },
  sharedGroupPath: 'router',
  followUps: 'prefix',
};

/** Parses a comma-separated list of namespaces (or `*`), for ACCEPT_RULES_FROM. */
export function parseNamespaceList(what: string, s: string): string[] {
  const items = s.split(',').map((x) => x.trim()).filter((x) => x.length > 0);
  for (const x of items) {
    if (x !== '*' && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(x)) throw new Error(`${what} "${s}": "${x}" is not a namespace name (DNS label) or *`);
  }
  return items;
}

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

/** Checks a setting against its allowed values; the error names the setting and the choices. */
export function parseChoice<T extends string>(what: string, value: string, choices: readonly T[]): T {
  if ((choices as readonly string[]).includes(value)) return value as T;
  throw new Error(`${what} "${value}": expected ${choices.join(' or ')}`);
}
