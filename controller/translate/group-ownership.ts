/**
 * Which namespace owns a routing group, and which members it lets in. A group's members receive
 * its queries, with their `Authorization` headers: a tenant must not be able to join another
 * tenant's group by naming it.
 *
 * - A group named `<namespace>--<name>` (the form of implicit groups) belongs to the namespace of
 *   the XTrinode that implies it: the member whose own `<namespace>--<name>` is the group's name,
 *   the oldest if two do (namespace `a--b` XTrinode `c` and namespace `a` XTrinode `b--c` both
 *   spell `a--b--c`: the name alone is not injective, so the first one keeps it and the other is
 *   refused, loudly). With no such member yet it belongs to the part before the first `--`.
 * - Any other group belongs to the namespace of its oldest member.
 * - A member in another namespace is accepted only when a member in the owner namespace lists
 *   that namespace in `spec.routing.acceptMembersFrom`. A refused member is not routed at all.
 *
 * Pure: members in, decisions out.
 */
import type { Runtime } from './runtime.ts';

export interface Refusal {
  runtime: Runtime;
  message: string;
}

/** The owner namespace of a group, and why (for messages). */
export function groupOwner(group: string, membersOldestFirst: Runtime[]): { namespace: string; why: string } {
  if (group.includes('--')) {
    const implier = membersOldestFirst.find((m) => `${m.namespace}--${m.name}` === group);
    if (implier) return { namespace: implier.namespace, why: `it is the implicit group of ${implier.key}, the oldest XTrinode whose <namespace>--<name> it is` };
    const namespace = group.slice(0, group.indexOf('--'));
    return { namespace, why: `its name has the form of namespace ${namespace}'s implicit groups (${namespace}--<name>)` };
  }
  const oldest = membersOldestFirst[0]!;
  return { namespace: oldest.namespace, why: `its oldest member is ${oldest.key}` };
}

/** Splits runtimes (oldest first) into accepted ones and refusals, group by group. */
export function checkGroupOwnership(runtimesOldestFirst: Runtime[]): { accepted: Runtime[]; refused: Refusal[] } {
  const byGroup = new Map<string, Runtime[]>();
  for (const rt of runtimesOldestFirst) {
    const list = byGroup.get(rt.group);
    if (list) list.push(rt);
    else byGroup.set(rt.group, [rt]);
  }
  const refused: Refusal[] = [];
  const out = new Set<string>();
  for (const [group, members] of byGroup) {
    const owner = groupOwner(group, members);
    const consent = new Set(members.filter((m) => m.namespace === owner.namespace).flatMap((m) => m.acceptMembersFrom));
    for (const m of members) {
      if (m.namespace === owner.namespace || consent.has(m.namespace)) continue;
      out.add(m.key);
      refused.push({
        runtime: m,
        message:
          `Not routed: routing group ${group} belongs to namespace ${owner.namespace} (${owner.why}), and no XTrinode there lists namespace ${m.namespace} in spec.routing.acceptMembersFrom. ` +
          `Ask the owners of ${owner.namespace} to add it, or use a routing group of your own; other runtimes are not affected.`,
      });
    }
  }
  return { accepted: runtimesOldestFirst.filter((rt) => !out.has(rt.key)), refused };
}
