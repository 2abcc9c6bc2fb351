/**
 * What one reconcile pass writes for the generated objects, in order, from what the translation
 * wants and what the caches hold. Pure: nothing is read from the API server or written here
 * (controller.ts carries the plan out; testdata/write-plan.*.yaml is its golden test).
 *
 * Order, so that no request meets a half-applied state:
 * 1. ReferenceGrants widened: each names its desired Services and those its live version still
 *    names, so an old route keeps working while a new one is taken up.
 * 2. HTTPRoutes that differ from the live ones.
 * 3. The route table ConfigMaps (and table ConfigMaps nobody wants).
 * 4. HTTPRoutes nobody wants, only once the Gateway accepted every route written so far
 *    (`routesAccepted`) and this plan writes no route itself: a replacement is taken up before
 *    what it replaces goes.
 * 5. Grants narrowed to what the routes need and grants nobody wants, only once the routes
 *    settled (`settled`: accepted and the grace since the last route change passed) and this plan
 *    changes no route: a request meeting an old route still finds its backend allowed.
 *
 * @example
 * const phases = planWrites({ desired: out.objects, live, routesAccepted: true, settled: false });
 */
import { LABEL_MANAGED_BY, MANAGED_BY } from './translate/translate.ts';
import type { K8sObject } from './translate/routes.ts';

/** An object to delete. */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string };
}

type Live = { metadata?: { name?: string; namespace?: string; labels?: Record<string, string> }; spec?: unknown } & Record<string, unknown>;

/** The cached objects of the kinds the controller generates. */
export interface LiveObjects {
  get(kind: GeneratedKind, namespace: string, name: string): Live | undefined;
  list(kind: GeneratedKind): readonly Live[];
}

export type GeneratedKind = 'HTTPRoute' | 'ConfigMap' | 'ReferenceGrant';

export interface WritePlanInput {
  desired: K8sObject[];
  live: LiveObjects;
  /** Every route written so far is Accepted by the Gateway at the generation written (or the wait bound passed). */
  routesAccepted: boolean;
  /** `routesAccepted`, and the grace since the last route write or delete passed (route-settling.ts). */
  settled: boolean;
}

export type WriteStep = 'widen grants' | 'routes' | 'route table' | 'stale routes' | 'narrow grants';

export interface WritePhase {
  step: WriteStep;
  apply: K8sObject[];
  delete: ObjectRef[];
}

/** A ReferenceGrant allows at most 16 `to` entries. */
const GRANT_TO_LIMIT = 16;

const API_VERSION: Record<GeneratedKind, string> = { HTTPRoute: 'gateway.networking.k8s.io/v1', ConfigMap: 'v1', ReferenceGrant: 'gateway.networking.k8s.io/v1beta1' };

/** The writes of one pass, phase by phase; a phase with nothing to do is left out. */
export function planWrites(i: WritePlanInput): WritePhase[] {
  const differs = (o: K8sObject) => {
    const live = i.live.get(o.kind as GeneratedKind, o.metadata.namespace, o.metadata.name);
    const { apiVersion: _a, kind: _k, ...fields } = o; // typed list items carry no apiVersion/kind
    return !live || !contains(live, fields);
  };
  const ofKind = (kind: GeneratedKind) => i.desired.filter((o) => o.kind === kind);
  const wanted = new Set(i.desired.map((o) => `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`));
  const stale = (kind: GeneratedKind): ObjectRef[] => i.live.list(kind)
    .filter((o) => o.metadata?.labels?.[LABEL_MANAGED_BY] === MANAGED_BY && o.metadata.name && o.metadata.namespace)
    .map((o) => ({ apiVersion: API_VERSION[kind], kind, metadata: { name: o.metadata!.name!, namespace: o.metadata!.namespace! } }))
    .filter((o) => !wanted.has(`${kind}/${o.metadata.namespace}/${o.metadata.name}`))
    .sort(byKey);

  const grants = ofKind('ReferenceGrant');
  const routes = ofKind('HTTPRoute').filter(differs);
  const staleRoutes = i.routesAccepted && routes.length === 0 ? stale('HTTPRoute') : [];
  const wide = grants.map((g) => widened(g, i.live.get('ReferenceGrant', g.metadata.namespace, g.metadata.name))).filter(differs);
  const phases: WritePhase[] = [
    { step: 'widen grants', apply: wide, delete: [] },
    { step: 'routes', apply: routes, delete: [] },
    { step: 'route table', apply: ofKind('ConfigMap').filter(differs), delete: stale('ConfigMap') },
    { step: 'stale routes', apply: [], delete: staleRoutes },
  ];
  if (i.settled && routes.length === 0 && staleRoutes.length === 0) {
    // A grant with nothing to let go was written whole in step 1 already.
    phases.push({ step: 'narrow grants', apply: grants.filter((g) => differs(g) && !wide.includes(g)), delete: stale('ReferenceGrant') });
  }
  return phases.filter((p) => p.apply.length + p.delete.length > 0);
}

/**
 * A grant naming its desired Services and the Services its live version names (within the 16
 * allowed), in the live order first: a live grant that names all of them already is left as it is.
 */
export function widened(grant: K8sObject, live: Live | undefined): K8sObject {
  type To = { group: string; kind: string; name?: string };
  const want = (grant as unknown as { spec: { from: unknown[]; to: To[] } }).spec;
  const names = new Set(want.to.map((t) => t.name));
  const liveNames = ((live?.spec as { to?: To[] } | undefined)?.to ?? []).filter((t) => t.kind === 'Service' && t.name).map((t) => t.name!);
  if (liveNames.every((n) => names.has(n))) return grant;
  const all = [...new Set([...liveNames, ...want.to.map((t) => t.name!)])];
  if (all.length > GRANT_TO_LIMIT) return grant;
  return { ...grant, spec: { ...want, to: all.map((name) => ({ group: '', kind: 'Service', name })) } } as unknown as K8sObject;
}

/** True when every field of `want` is present with the same value in `have` (extra defaults in `have` are fine). */
export function contains(have: unknown, want: unknown): boolean {
  if (want === null || typeof want !== 'object') return have === want;
  if (Array.isArray(want)) {
    return Array.isArray(have) && have.length === want.length && want.every((w, i) => contains(have[i], w));
  }
  if (have === null || typeof have !== 'object' || Array.isArray(have)) return false;
  const h = have as Record<string, unknown>;
  return Object.entries(want as Record<string, unknown>).every(([k, v]) => contains(h[k], v));
}

function byKey(a: ObjectRef, b: ObjectRef): number {
  const ka = `${a.metadata.namespace}/${a.metadata.name}`;
  const kb = `${b.metadata.namespace}/${b.metadata.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}
