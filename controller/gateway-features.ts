/**
 * What the Gateway implementation says it supports: `status.supportedFeatures` of the
 * GatewayClass of the Gateway the routes attach to (Gateway API v1.2+). The controller uses it to
 * choose how shared groups are balanced: weighted backendRefs that each set their coordinator's
 * X-Forwarded-Prefix need `HTTPRouteBackendRequestHeaderModification`.
 *
 * @example
 * const features = new GatewayFeatures(customObjectsApi, { namespace: 'trino-gateway', name: 'trino-gateway' });
 * const path = await features.sharedGroupPath(); // 'gateway-weighted' | 'router'
 */
import type * as k8s from '@kubernetes/client-node';

export const BACKEND_HEADER_FEATURE = 'HTTPRouteBackendRequestHeaderModification';
const GROUP = 'gateway.networking.k8s.io';

/** The feature names of a GatewayClass status (v1.2+ objects `{name}`; earlier, plain strings). */
export function featureNames(gatewayClass: unknown): Set<string> {
  const list = (gatewayClass as { status?: { supportedFeatures?: unknown } } | undefined)?.status?.supportedFeatures;
  const names = new Set<string>();
  if (!Array.isArray(list)) return names;
  for (const f of list) {
    if (typeof f === 'string') names.add(f);
    else if (f && typeof (f as { name?: unknown }).name === 'string') names.add((f as { name: string }).name);
  }
  return names;
}

/**
 * Implementations that support a feature without listing it in `status.supportedFeatures`, by
 * GatewayClass `spec.controllerName`, each with the published conformance report that says so.
 * Consulted only when a class publishes no features at all: what a class publishes always wins.
 */
export const KNOWN_FEATURES: Record<string, { features: string[]; source: string }> = {
  // Envoy Gateway leaves supportedFeatures empty (the line that fills it is commented out in
  // internal/gatewayapi/status/gatewayclass.go, v1.9.1); its v1.9.0 report lists the feature.
  'gateway.envoyproxy.io/gatewayclass-controller': {
    features: [BACKEND_HEADER_FEATURE],
    source: 'Envoy Gateway v1.9 conformance report (kubernetes-sigs/gateway-api conformance/reports/v1.6/envoy-gateway)',
  },
};

/** The features of a GatewayClass: its own list, else what KNOWN_FEATURES says of its controller. */
export function classFeatures(gatewayClass: unknown): { features: Set<string>; from: string } {
  const own = featureNames(gatewayClass);
  if (own.size > 0) return { features: own, from: 'status.supportedFeatures' };
  const controller = (gatewayClass as { spec?: { controllerName?: unknown } } | undefined)?.spec?.controllerName;
  const known = typeof controller === 'string' ? KNOWN_FEATURES[controller] : undefined;
  if (known) return { features: new Set(known.features), from: `the ${known.source}: the class publishes no status.supportedFeatures` };
  return { features: own, from: 'status.supportedFeatures' };
}

/** `stale`: the last read failed (why); path and reason are the last ones read. */
type SharedGroupPath = { path: 'gateway-weighted' | 'router'; reason: string; stale?: string };

export class GatewayFeatures {
  private cached: ({ at: number } & SharedGroupPath) | undefined;
  /** The last answer read from the API server: kept through read errors. */
  private lastRead: SharedGroupPath | undefined;
  private readonly api: k8s.CustomObjectsApi;
  private readonly gateway: { namespace: string; name: string };
  private readonly ttlMs: number;

  constructor(api: k8s.CustomObjectsApi, gateway: { namespace: string; name: string }, ttlMs = 30_000) {
    this.api = api;
    this.gateway = gateway;
    this.ttlMs = ttlMs;
  }

  /**
   * How to balance shared groups on this Gateway, and why; re-read at most every `ttlMs`. Never
   * throws. A failed read keeps the last answer read (a transient API error must not move every
   * shared group to the router and back); with none yet, the router.
   */
  async sharedGroupPath(now = Date.now()): Promise<SharedGroupPath> {
    if (this.cached && now - this.cached.at < this.ttlMs) return this.cached;
    let result: SharedGroupPath;
    try {
      const gw = (await this.api.getNamespacedCustomObject({ group: GROUP, version: 'v1', namespace: this.gateway.namespace, plural: 'gateways', name: this.gateway.name })) as { spec?: { gatewayClassName?: string } };
      const className = gw.spec?.gatewayClassName;
      if (!className) throw new Error(`Gateway ${this.gateway.namespace}/${this.gateway.name} has no gatewayClassName`);
      const gc = await this.api.getClusterCustomObject({ group: GROUP, version: 'v1', plural: 'gatewayclasses', name: className });
      const { features, from } = classFeatures(gc);
      result = features.has(BACKEND_HEADER_FEATURE)
        ? { path: 'gateway-weighted', reason: `GatewayClass ${className} supports ${BACKEND_HEADER_FEATURE} (${from})` }
        : { path: 'router', reason: `GatewayClass ${className} does not list ${BACKEND_HEADER_FEATURE} in status.supportedFeatures` };
      this.lastRead = result;
    } catch (e) {
      // Stable across reads: this text ends up in XTrinode statuses, which are rewritten when it changes.
      const why = `could not read the Gateway or its GatewayClass (${apiErrorText(e)})`;
      result = this.lastRead
        ? { ...this.lastRead, stale: why }
        : { path: 'router', reason: `${why}; shared groups go through the router` };
    }
    this.cached = { at: now, ...result };
    return result;
  }
}

/**
 * An API error as its code, reason and message (client-node's own message carries the response
 * headers: a request id and a date that differ at every read).
 */
function apiErrorText(e: unknown): string {
  const code = (e as { code?: unknown }).code;
  const body = (e as { body?: unknown }).body;
  if (typeof code === 'number') {
    let status: { reason?: unknown; message?: unknown } = {};
    try {
      status = (typeof body === 'string' ? JSON.parse(body) : body ?? {}) as typeof status;
    } catch {
      /* not a Status */
    }
    const reason = typeof status.reason === 'string' ? ` ${status.reason}` : '';
    const message = typeof status.message === 'string' ? `: ${status.message}` : '';
    return `${code}${reason}${message}`.slice(0, 300);
  }
  return (e instanceof Error ? e.message : String(e)).slice(0, 300);
}
