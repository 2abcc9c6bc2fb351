/**
 * Writing XTrinode statuses: what a pass computed (translate.ts, status-conditions.ts) merged
 * with what the object carries, written only where it differs (a no-op pass writes nothing), with
 * an Event when Accepted changes notably.
 *
 * - lastTransitionTime is kept for a condition whose status did not change;
 * - status.queries belongs to query-counts.ts and is kept as it is;
 * - fields the translation no longer sets are removed (null in the merge patch).
 */
import { ConditionType, type XTrinode, type XTrinodeStatus } from './api/xtrinode.ts';
import { contains } from './write-plan.ts';

/** Top-level status fields the translation may stop setting; removed from the object then. */
const TRANSLATED_FIELDS = ['hostname', 'hostnames', 'headerSelector', 'rules', 'phase', 'routingGroup', 'routes'];

/** The status to write: `desired` with the live lastTransitionTimes and status.queries kept. */
export function mergeStatus(live: XTrinodeStatus | undefined, desired: XTrinodeStatus, now = new Date()): XTrinodeStatus {
  const stamp = now.toISOString().replace(/\.\d+Z$/, 'Z');
  const conditions = (desired.conditions ?? []).map((c) => {
    const prev = live?.conditions?.find((p) => p.type === c.type);
    return { ...c, lastTransitionTime: prev && prev.status === c.status && prev.lastTransitionTime ? prev.lastTransitionTime : stamp };
  });
  const out: XTrinodeStatus = { ...desired, conditions };
  if (live?.queries !== undefined) out.queries = live.queries;
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  for (const k of TRANSLATED_FIELDS) if (!(k in out) && live && k in live) out[k] = null;
  return out;
}

/** Whether writing `merged` (mergeStatus's result) would change nothing. */
export function sameStatus(live: XTrinodeStatus | undefined, merged: XTrinodeStatus): boolean {
  if (!live) return false;
  if (Object.entries(merged).some(([k, v]) => v === null && k in live)) return false;
  const want = Object.fromEntries(Object.entries(merged).filter(([, v]) => v !== null));
  return contains(live, want) && contains(want, live); // equal, whatever the key order
}

/**
 * The Event a status change deserves: a notable change of Accepted (a selector lost or regained,
 * the spec turning invalid or valid); none for a first, plain acceptance (the status says it).
 */
export function acceptedChange(before: XTrinodeStatus | undefined, after: XTrinodeStatus): { type: 'Normal' | 'Warning'; reason: string; message: string } | undefined {
  const now = after.conditions?.find((c) => c.type === ConditionType.Accepted);
  const prev = before?.conditions?.find((c) => c.type === ConditionType.Accepted);
  if (!now || (prev?.status === now.status && prev.reason === now.reason)) return undefined;
  if (!prev && now.status === 'True') return undefined;
  return { type: now.status === 'True' ? 'Normal' : 'Warning', reason: now.reason, message: now.message };
}

export interface StatusWrite {
  live: XTrinode;
  merged: XTrinodeStatus;
}

/**
 * The statuses of a pass (by `namespace/name` key) that differ from the live objects; keys whose
 * XTrinode is gone are skipped. `desiredOf` completes a status from its live object.
 */
export function statusWrites(keys: Iterable<string>, liveOf: (namespace: string, name: string) => XTrinode | undefined, desiredOf: (live: XTrinode, key: string) => XTrinodeStatus, now = new Date()): StatusWrite[] {
  const out: StatusWrite[] = [];
  for (const key of keys) {
    const [namespace, name] = key.split('/') as [string, string];
    const live = liveOf(namespace, name);
    if (!live) continue;
    const merged = mergeStatus(live.status, desiredOf(live, key), now);
    if (!sameStatus(live.status, merged)) out.push({ live, merged });
  }
  return out;
}
