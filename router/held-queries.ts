/**
 * New queries for a runtime that is waking up. The Trino CLI and JDBC never retry the initial
 * `POST /v1/statement`, so instead of failing it the router answers with a QUEUED QueryResults
 * whose nextUri points back at the router; the client polls it like any queued query. Once a
 * coordinator of the group is up, the router submits the statement exactly once and answers the
 * next poll with the coordinator's own response (real query id and nextUri), which the client
 * follows from then on. A wait past its bound ends with a FAILED result naming the runtime.
 *
 * The wait URI names the replica holding the query, sealed (encrypted and authenticated with the
 * replicas' shared secret: a client can neither read the address nor point a router anywhere);
 * a poll that lands on another replica is forwarded to the holder. It also carries 128 random
 * bits drawn for that one query: without them a poll or a cancel is a 404, so nobody reads or
 * cancels another client's query by guessing its id.
 *
 * Held statements count against the router's statement budget until they are submitted or
 * dropped; a held query its client stopped polling for `abandonAfterMs` is dropped (Trino's own
 * coordinator abandons a query after 5 minutes without a poll, the same default here).
 */
import { failedResult, notRunStats } from './failed-result.ts';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { RouteBackend, RouteGroup } from '../routetable/schema.ts';
import type { TokenSigner } from './signed-token.ts';
import { errors } from './errors.ts';
import type { StatementBudget } from './statement-budget.ts';

/**
 * Wait URIs live under this prefix, which every generated HTTPRoute sends to the router, also
 * routes that go straight to a coordinator: a client still polling after its runtime woke up and
 * its routes switched back to the coordinator must still reach the router.
 */
export const ROUTER_PATH_PREFIX = '/xtrinode/';
export const WAIT_PATH_PREFIX = '/xtrinode/wait/';
export const WAIT_SLUG_PREFIX = 'xtnw.';
/** How often a held query asks whether its runtime is ready (the answer is shared, see CoordinatorHealth). */
const READY_CHECK_MS = 250;

export interface CapturedResponse {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
}

export interface HeldQueryHost {
  group(name: string): RouteGroup | undefined;
  /** Whether the group's members have query limits (capacity.ts): its held statements go in FIFO order. */
  limited?(group: RouteGroup): boolean;
  /** A backend of the group that takes new queries now (Ready in the table and answering /v1/info). */
  readyBackend(group: RouteGroup): Promise<RouteBackend | undefined>;
  /** Sends the statement; throws `NotSentError` when the connection failed before sending. Retries end by `deadline`. */
  submit(backend: RouteBackend, headers: Record<string, string | string[]>, body: Buffer, deadline: number): Promise<CapturedResponse>;
  resume(group: RouteGroup): void;
}

export class NotSentError extends Error {}

/** Why a statement is held: its runtime is waking, or every member of its group is at its limit. */
/** resume: a member is suspended, a resume is asked for; starting: a member is NotReady, nothing is asked; capacity: every member is at its limit. */
export type HoldReason = 'resume' | 'starting' | 'capacity';

interface Held {
  id: string;
  reason: HoldReason;
  /** When it was held (the queue wait starts). */
  since: number;
  /** The query's capability in its wait URI (128 random bits, base64url). */
  secret: string;
  group: string;
  headers: Record<string, string | string[]>;
  body: Buffer;
  /** Bytes of the statement budget this query holds (its body; nothing once submitted). */
  bytes: number;
  base: string;
  /** When its client last polled (or submitted) it. */
  seen: number;
  deadline: number;
  token: number;
  result: CapturedResponse | undefined;
  failure: { message: string; name: string } | undefined;
  cancelled: boolean;
  changed: Array<() => void>;
}

export interface HeldQueriesOptions {
  timeoutMs: number;
  /** How long one poll waits for news before answering QUEUED again. */
  pollWaitMs?: number;
  /** This replica's address (host:port) as other replicas reach it, and the signer for it. */
  selfAddress?: string;
  signer?: TokenSigner;
  /** Bytes of held statements; over it, new holds are refused. Default: unbounded. */
  budget?: StatementBudget;
  /** A held query not polled for this long is dropped. Default 5 minutes. */
  abandonAfterMs?: number;
  /** How long a statement waits in a full group's queue. Default 10 minutes. */
  queueTimeoutMs?: number;
  /** Statements waiting per group in this process; over it, new ones fail. Default 1,000. */
  queueLimit?: number;
  /** Called with the group and seconds waited when a held statement leaves the queue (submitted). */
  waited?: (group: string, seconds: number) => void;
  /** Called when the group's capacity queue in this process becomes non-empty or empty (queue-events.ts). */
  queueing?: (group: RouteGroup, queueing: boolean, waiting: number) => void;
}

export class HeldQueries {
  private readonly held = new Map<string, Held>();
  /** Per group, the held statements not yet handed to a coordinator, oldest first. */
  private readonly queues = new Map<string, Held[]>();
  /** Per group, the waits to cut short when its queue moves. */
  private readonly kicks = new Map<string, Array<() => void>>();
  private readonly host: HeldQueryHost;
  private readonly o: HeldQueriesOptions;
  private seq = 0;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(host: HeldQueryHost, o: HeldQueriesOptions) {
    this.host = host;
    this.o = o;
  }

  private get abandonAfterMs(): number {
    return this.o.abandonAfterMs ?? 300_000;
  }

  get size(): number {
    return this.held.size;
  }

  get queueLimit(): number {
    return this.o.queueLimit ?? 1000;
  }

  get queueTimeoutMs(): number {
    return this.o.queueTimeoutMs ?? 600_000;
  }

  /** Statements of the group waiting for a coordinator in this process. */
  waiting(group: string): number {
    return this.queues.get(group)?.length ?? 0;
  }

  /** Every group's waiting statements (metrics). */
  depths(): Map<string, number> {
    return new Map([...this.queues.entries()].map(([g, q]) => [g, q.length]));
  }

  /**
   * A FAILED QueryResults for a statement that is not held (its group's queue is full): the client
   * shows the message and stops.
   */
  refusal(base: string, message: string, name: string): string {
    const h = { id: this.newId(), since: Date.now(), deadline: Date.now(), base } as Held;
    return JSON.stringify(this.failed(h, { message, name }, 0));
  }

  private newId(): string {
    const stamp = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);
    return `${stamp.slice(0, 8)}_${stamp.slice(8, 14)}_${String(this.seq++ % 100000).padStart(5, '0')}_${randomBytes(4).toString('hex').slice(0, 5).replace(/[^a-z0-9]/g, 'x')}`;
  }

  /**
   * Holds a statement and returns the first QUEUED response body. `budgeted` says the caller
   * already took the body's bytes from the budget (they pass to the held query); otherwise they
   * are taken here. Throws a 503 RouterError when the budget is spent.
   */
  hold(group: RouteGroup, headers: Record<string, string | string[]>, body: Buffer, base: string, budgeted = false, reason: HoldReason = 'resume'): string {
    if (!budgeted && this.o.budget && !this.o.budget.take(body.length)) throw errors.overloaded(`statements being read or held fill the router's memory budget for them (${Math.round(this.o.budget.limitBytes / 1048576)} MiB)`);
    const id = this.newId();
    const now = Date.now();
    const h: Held = { id, reason, since: now, secret: randomBytes(16).toString('base64url'), group: group.name, headers, body, bytes: this.o.budget ? body.length : 0, base, seen: now, deadline: now + (reason === 'capacity' ? this.queueTimeoutMs : this.o.timeoutMs), token: 0, result: undefined, failure: undefined, cancelled: false, changed: [] };
    this.held.set(id, h);
    const q = this.queues.get(group.name) ?? [];
    const wasQueueing = q.some((x) => x.reason === 'capacity');
    q.push(h);
    this.queues.set(group.name, q);
    if (reason === 'capacity' && !wasQueueing) this.o.queueing?.(group, true, q.length);
    this.sweep();
    // Scale-out: a member suspended by spec.suspend is resumed when statements wait for the group.
    if (reason === 'resume' || group.backends.some((b) => b.state === 'Suspended')) this.host.resume(group);
    void this.run(h);
    return JSON.stringify(this.queued(h));
  }

  /** The wait-URI slug of a held query: `xtnw.<its secret>.<this replica, sealed>`. */
  private slug(h: Held): string {
    const who = this.o.signer && this.o.selfAddress ? this.o.signer.seal(this.o.selfAddress, Date.now() + this.o.timeoutMs + 600_000) : 'local';
    return `${WAIT_SLUG_PREFIX}${h.secret}.${who}`;
  }

  /** Which replica holds a wait URI: 'self', a verified peer address, or undefined (forged/expired). */
  holderOf(slug: string): 'self' | string | undefined {
    const rest = slug.slice(WAIT_SLUG_PREFIX.length);
    const dot = rest.indexOf('.');
    if (dot < 0) return undefined;
    const token = rest.slice(dot + 1);
    if (token === 'local') return 'self';
    if (!this.o.signer) return undefined;
    const v = this.o.signer.unseal(token, Date.now());
    if (!v.ok) return undefined;
    return v.text === this.o.selfAddress ? 'self' : v.text;
  }

  has(id: string): boolean {
    return this.held.has(id);
  }

  /** The held query a wait URI names, if its slug carries that query's secret. */
  private find(id: string, slug: string): Held | undefined {
    const h = this.held.get(id);
    if (!h) return undefined;
    const given = Buffer.from(slug.slice(WAIT_SLUG_PREFIX.length).split('.')[0] ?? '');
    const want = Buffer.from(h.secret);
    return given.length === want.length && timingSafeEqual(given, want) ? h : undefined;
  }

  /**
   * Answers a poll of a held query: the real response once submitted, else QUEUED (after waiting a
   * little); undefined when the id is unknown or the slug lacks the query's secret.
   */
  async poll(id: string, slug: string): Promise<CapturedResponse | undefined> {
    const h = this.find(id, slug);
    if (!h) return undefined;
    h.seen = Date.now();
    if (!h.result && !h.failure) {
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(t);
          resolve();
        };
        const t = setTimeout(() => {
          const i = h.changed.indexOf(wake); // no news: this poll stops waiting
          if (i >= 0) h.changed.splice(i, 1);
          resolve();
        }, this.o.pollWaitMs ?? 1000);
        h.changed.push(wake);
      });
    }
    h.seen = Date.now(); // a poll that waited is as recent as its answer
    // Once answered for good, a retried poll gets the same answer for a minute (the sweeper drops it).
    if (h.result) return h.result;
    const body = JSON.stringify(h.failure ? this.failed(h, h.failure, this.position(h)) : this.queued(h));
    return { status: 200, headers: { 'content-type': 'application/json' }, body: Buffer.from(body) };
  }

  cancel(id: string, slug: string): boolean {
    const h = this.find(id, slug);
    if (!h) return false;
    this.drop(h);
    return true;
  }

  /** Forgets a held query: stops its wait, gives its bytes back. */
  private drop(h: Held): void {
    h.cancelled = true;
    this.held.delete(h.id);
    this.dequeue(h);
    this.release(h);
  }

  /** Takes the statement out of its group's queue and lets the next one try. */
  private dequeue(h: Held): void {
    const q = this.queues.get(h.group);
    if (!q) return;
    const i = q.indexOf(h);
    if (i >= 0) q.splice(i, 1);
    if (q.length === 0) this.queues.delete(h.group);
    if (i >= 0 && h.reason === 'capacity' && !q.some((x) => x.reason === 'capacity')) {
      const group = this.host.group(h.group);
      if (group) this.o.queueing?.(group, false, 0);
    }
    for (const k of this.kicks.get(h.group)?.splice(0) ?? []) k();
  }

  /** Waits `ms`, or less when the group's queue moves. */
  private pause(group: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const list = this.kicks.get(group) ?? [];
      const done = () => {
        clearTimeout(t);
        const i = list.indexOf(done);
        if (i >= 0) list.splice(i, 1);
        if (list.length === 0 && this.kicks.get(group) === list) this.kicks.delete(group);
        resolve();
      };
      const t = setTimeout(done, ms);
      list.push(done);
      this.kicks.set(group, list);
    });
  }

  /** 1 for the next statement of its group's queue. */
  private position(h: Held): number {
    return (this.queues.get(h.group)?.indexOf(h) ?? -1) + 1;
  }

  private release(h: Held): void {
    this.o.budget?.give(h.bytes);
    h.bytes = 0;
    h.body = Buffer.alloc(0);
  }

  /**
   * Drops held queries nobody polls: never polled for `abandonAfterMs`, or answered for good
   * (submitted or failed) a minute ago. Runs while anything is held.
   */
  private sweep(): void {
    if (this.sweeper) return;
    const every = Math.max(50, Math.min(10_000, Math.floor(this.abandonAfterMs / 4)));
    this.sweeper = setInterval(() => {
      const now = Date.now();
      for (const h of this.held.values()) {
        if (h.changed.length > 0) continue; // a poll is waiting on it right now
        const done = h.result !== undefined || h.failure !== undefined;
        if (now - h.seen > (done ? Math.min(60_000, this.abandonAfterMs) : this.abandonAfterMs)) this.drop(h);
      }
      if (this.held.size === 0) {
        clearInterval(this.sweeper);
        this.sweeper = undefined;
      }
    }, every);
    this.sweeper.unref();
  }

  /** Stops the sweeper and drops every held query (router shutdown). */
  close(): void {
    for (const h of [...this.held.values()]) this.drop(h);
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  /** The held query was answered for good (submitted or failed): its body is no longer needed. */
  private notify(h: Held): void {
    this.dequeue(h);
    this.release(h);
    for (const f of h.changed.splice(0)) f();
  }

  private async run(h: Held): Promise<void> {
    let lastResume = Date.now();
    while (!h.cancelled) {
      if (Date.now() > h.deadline) {
        h.failure = h.reason === 'capacity'
          ? { name: 'XTRINODE_QUEUE_TIMEOUT', message: `xtrinode-gateway: the query waited ${Math.round(this.queueTimeoutMs / 1000)}s (QUEUE_TIMEOUT) in the gateway queue of routing group ${h.group}, whose members were all at their capacity.maxQueries; it was not submitted. Run it again later, or raise the limits (kubectl get xtrinode).` }
          : { name: 'XTRINODE_RUNTIME_NOT_READY', message: `xtrinode-gateway: Trino runtime group ${h.group} did not become ready within ${Math.round(this.o.timeoutMs / 1000)}s${h.reason === 'resume' ? ' of the resume' : ''}; the query was not submitted. Check kubectl describe xtrinode.` };
        this.notify(h);
        return;
      }
      const group = this.host.group(h.group);
      if (!group) {
        h.failure = { name: 'XTRINODE_RUNTIME_NOT_READY', message: `xtrinode-gateway: routing group ${h.group} no longer exists; the query was not submitted.` };
        this.notify(h);
        return;
      }
      // A group with limits serves its queue in order: only the oldest waiting statement asks.
      const fifo = this.host.limited?.(group) === true;
      const backend = fifo && this.position(h) !== 1 ? undefined : await this.host.readyBackend(group);
      if (backend) {
        if (h.cancelled) return;
        this.dequeue(h); // its slot is taken: the next statement may ask while this one is submitted
        this.o.waited?.(h.group, (Date.now() - h.since) / 1000);
        try {
          const result = await this.host.submit(backend, h.headers, h.body, h.deadline);
          if (h.cancelled) return; // dropped meanwhile; the coordinator's query is abandoned by Trino
          h.result = result;
          this.notify(h);
          return;
        } catch (e) {
          if (!(e instanceof NotSentError)) {
            // The statement may have reached the coordinator: never send it twice.
            h.failure = { name: 'XTRINODE_SUBMISSION_BROKEN', message: 'xtrinode-gateway: the connection to the coordinator broke while submitting the query; it was not retried to avoid running it twice. Run it again.' };
            this.notify(h);
            return;
          }
        }
      } else if ((h.reason === 'resume' || group.backends.some((b) => b.state === 'Suspended')) && Date.now() - lastResume > 2000) {
        this.host.resume(group); // deduplicated; takes over a Lease whose holder died
        lastResume = Date.now();
      }
      if (backend) {
        // Not sent: the coordinator is unreachable; back in the queue at its place in time.
        const q = this.queues.get(h.group) ?? [];
        const at = q.findIndex((x) => x.since > h.since);
        q.splice(at < 0 ? q.length : at, 0, h);
        this.queues.set(h.group, q);
      }
      await this.pause(h.group, READY_CHECK_MS);
    }
  }

  private queued(h: Held) {
    return { id: h.id, infoUri: `${h.base}/ui/`, nextUri: `${h.base}${WAIT_PATH_PREFIX}${h.id}/${this.slug(h)}/${++h.token}`, stats: notRunStats('QUEUED', h.since, this.position(h)), warnings: [] };
  }

  /** A Trino QueryResults that failed: the client shows the message and stops polling. */
  private failed(h: Held, f: { message: string; name: string }, position: number) {
    const type = f.name === 'XTRINODE_RUNTIME_NOT_READY' || f.name === 'XTRINODE_SUBMISSION_BROKEN' ? 'EXTERNAL' : 'INSUFFICIENT_RESOURCES';
    return failedResult({ id: h.id, base: h.base, message: f.message, name: f.name, type, since: h.since, position });
  }
}
