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

export class GatewayFeatures {
  private cached: { at: number; path: 'gateway-weighted' | 'router'; reason: string } | undefined;
  private readonly api: k8s.CustomObjectsApi;
  private readonly gateway: { namespace: string; name: string };
  private readonly ttlMs: number;

  constructor(api: k8s.CustomObjectsApi, gateway: { namespace: string; name: string }, ttlMs = 30_000) {
    this.api = api;
    this.gateway = gateway;
    this.ttlMs = ttlMs;
  }

  /** How to balance shared groups on this Gateway, and why; re-read at most every `ttlMs`. Never throws. */
  async sharedGroupPath(now = Date.now()): Promise<{ path: 'gateway-weighted' | 'router'; reason: string }> {
    if (this.cached && now - this.cached.at < this.ttlMs) return this.cached;
    let result: { path: 'gateway-weighted' | 'router'; reason: string };
    try {
      const gw = (await this.api.getNamespacedCustomObject({ group: GROUP, version: 'v1', namespace: this.gateway.namespace, plural: 'gateways', name: this.gateway.name })) as { spec?: { gatewayClassName?: string } };
      const className = gw.spec?.gatewayClassName;
      if (!className) throw new Error(`Gateway ${this.gateway.namespace}/${this.gateway.name} has no gatewayClassName`);
      const gc = await this.api.getClusterCustomObject({ group: GROUP, version: 'v1', plural: 'gatewayclasses', name: className });
      result = featureNames(gc).has(BACKEND_HEADER_FEATURE)
        ? { path: 'gateway-weighted', reason: `GatewayClass ${className} supports ${BACKEND_HEADER_FEATURE}` }
        : { path: 'router', reason: `GatewayClass ${className} does not list ${BACKEND_HEADER_FEATURE} in status.supportedFeatures` };
    } catch (e) {
      result = { path: 'router', reason: `could not read the Gateway or its GatewayClass (${(e as Error).message ?? String(e)}); shared groups go through the router` };
    }
    this.cached = { at: now, ...result };
    return result;
  }
}
