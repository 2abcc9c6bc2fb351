/**
 * New queries: choosing a coordinator of the request's group (the only coordinator; weighted
 * round-robin or adaptive among healthy ones), and, where the router can resume runtimes, the
 * statement buffered so that a sleeping group or an unreachable coordinator holds the query for
 * later instead of failing a client that never retries its POST.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RouteBackend, RouteGroup } from '../routetable/schema.ts';
import { Balancer } from './balancer.ts';
import { RouterError, errors } from './errors.ts';
import { upstreamHeaders } from './forwarding-headers.ts';
import { clientBase } from './failed-result.ts';
import type { HeldQueries } from './held-queries.ts';
import { limited, type Capacity } from './capacity.ts';
import type { Resumer } from './resume.ts';
import type { RoutingContext } from './router-options.ts';
import type { StatementBudget } from './statement-budget.ts';

export class NewStatements {
  private readonly ctx: RoutingContext;
  private readonly balancer: Balancer;
  private readonly resumer: Resumer | undefined;
  private readonly capacity: Capacity | undefined;

  constructor(ctx: RoutingContext, resumer: Resumer | undefined, capacity?: Capacity) {
    this.ctx = ctx;
    this.resumer = resumer;
    this.capacity = capacity;
    this.balancer = new Balancer(ctx.opts.balancing);
  }

  /** The coordinator for a new query of the group; a 503 (and a resume) when none can take it. */
  choose(group: RouteGroup): RouteBackend {
    if (draining(group)) throw errors.runtimeDraining(group.name);
    if (group.backends.length === 1) {
      const b = group.backends[0]!;
      if (b.state === 'Suspended') {
        if (this.resumer) void this.resumer.resume(group);
        throw errors.suspended(b.id);
      }
      if (b.state === 'NotReady') throw errors.notReady(b.id);
      if (b.state === 'Unresolved') throw errors.unresolved(b.id);
      return b;
    }
    const b = this.balancer.choose(group, (id) => this.ctx.health.of(id));
    if (!b) {
      const suspended = group.backends.find((x) => x.state === 'Suspended');
      if (suspended && group.backends.every((x) => x.state !== 'Ready')) {
        if (this.resumer) void this.resumer.resume(group);
        throw errors.suspended(suspended.id);
      }
      throw errors.noHealthy(group.name);
    }
    return b;
  }

  /** A new statement when the router can hold queries: buffered within the statement budget. */
  async place(req: FastifyRequest, reply: FastifyReply, group: RouteGroup, held: HeldQueries, budget: StatementBudget): Promise<string> {
    const body = await budget.read(req, this.ctx.opts.maxStatementBytes);
    let budgeted = true; // until the bytes pass to a held query or the statement is forwarded
    try {
      return await this.placeBuffered(req, reply, group, body, held, () => (budgeted = false));
    } finally {
      if (budgeted) budget.give(body.length);
    }
  }

  private async placeBuffered(req: FastifyRequest, reply: FastifyReply, group: RouteGroup, body: Buffer, held: HeldQueries, handedOver: () => void): Promise<string> {
    const headers = upstreamHeaders(req);
    const base = clientBase(req);
    // Waiting for a coordinator: a resume is asked for only when a member is suspended by spec.suspend.
    const hold = (): string => {
      const text = held.hold(group, headers, body, base, true, group.backends.some((b) => b.state === 'Suspended') ? 'resume' : 'starting');
      handedOver();
      reply.code(200).header('content-type', 'application/json').send(text);
      return 'held-for-resume';
    };
    if (draining(group)) throw errors.runtimeDraining(group.name);
    if (this.capacity && limited(group)) {
      // Query limits: a member with room now, else the group's queue (FIFO), if there is room in it.
      const b = held.waiting(group.name) === 0 ? await this.capacity.admit(group) : undefined;
      if (!b) {
        if (held.waiting(group.name) >= held.queueLimit) {
          reply.code(200).header('content-type', 'application/json').send(held.refusal(base, `xtrinode-gateway: the gateway queue of routing group ${group.name} is full (${held.queueLimit} statements waiting, QUEUE_LIMIT); every member is at its capacity.maxQueries. Run the query again later, or raise the limits (kubectl get xtrinode).`, 'XTRINODE_QUEUE_FULL'));
          return 'queue-full';
        }
        const text = held.hold(group, headers, body, base, true, 'capacity');
        handedOver();
        reply.code(200).header('content-type', 'application/json').send(text);
        return 'queued-for-capacity';
      }
      await this.ctx.forwarder.forward(req, reply, b, { learnFromBody: true, body, onNotSent: () => {
        this.ctx.health.markUnhealthy(b.id);
        return hold();
      } });
      return 'proxied';
    }
    if (!group.backends.some((b) => b.state === 'Ready' && b.weight > 0) && group.backends.some((b) => b.state === 'Suspended' || b.state === 'NotReady')) return hold();
    let backend: RouteBackend;
    try {
      backend = this.choose(group);
    } catch (e) {
      // Every coordinator unhealthy (unreachable, starting): wait for one rather than fail a POST.
      if (e instanceof RouterError && e.code === 'XTN_NO_HEALTHY_COORDINATOR') return hold();
      throw e;
    }
    await this.ctx.forwarder.forward(req, reply, backend, { learnFromBody: true, body, onNotSent: () => {
      this.ctx.health.markUnhealthy(backend.id);
      return hold();
    } });
    return 'proxied';
  }
}

/** Every member's XTrinode is being deleted: the group takes no new statements (follow-ups go on). */
function draining(group: RouteGroup): boolean {
  return group.backends.length > 0 && group.backends.every((b) => b.draining === true);
}
