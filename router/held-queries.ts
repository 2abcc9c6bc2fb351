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
  /** A backend of the group that takes new queries now (Ready in the table and answering /v1/info). */
  readyBackend(group: RouteGroup): Promise<RouteBackend | undefined>;
  /** Sends the statement; throws `NotSentError` when the connection failed before sending. Retries end by `deadline`. */
  submit(backend: RouteBackend, headers: Record<string, string | string[]>, body: Buffer, deadline: number): Promise<CapturedResponse>;
  resume(group: RouteGroup): void;
}

export class NotSentError extends Error {}

interface Held {
  id: string;
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
  failure: string | undefined;
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
}

export class HeldQueries {
  private readonly held = new Map<string, Held>();
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

  /**
   * Holds a statement and returns the first QUEUED response body. `budgeted` says the caller
   * already took the body's bytes from the budget (they pass to the held query); otherwise they
   * are taken here. Throws a 503 RouterError when the budget is spent.
   */
  hold(group: RouteGroup, headers: Record<string, string | string[]>, body: Buffer, base: string, budgeted = false): string {
    if (!budgeted && this.o.budget && !this.o.budget.take(body.length)) throw errors.overloaded(`statements being read or held fill the router's memory budget for them (${Math.round(this.o.budget.limitBytes / 1048576)} MiB)`);
    const now = new Date();
    const stamp = now.toISOString().replace(/[-:T]/g, '').slice(0, 14);
    const id = `${stamp.slice(0, 8)}_${stamp.slice(8, 14)}_${String(this.seq++ % 100000).padStart(5, '0')}_${randomBytes(4).toString('hex').slice(0, 5).replace(/[^a-z0-9]/g, 'x')}`;
    const h: Held = { id, secret: randomBytes(16).toString('base64url'), group: group.name, headers, body, bytes: this.o.budget ? body.length : 0, base, seen: Date.now(), deadline: Date.now() + this.o.timeoutMs, token: 0, result: undefined, failure: undefined, cancelled: false, changed: [] };
    this.held.set(id, h);
    this.sweep();
    this.host.resume(group);
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
    const body = JSON.stringify(h.failure ? this.failed(h, h.failure) : this.queued(h));
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
    this.release(h);
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
    this.release(h);
    for (const f of h.changed.splice(0)) f();
  }

  private async run(h: Held): Promise<void> {
    let lastResume = Date.now();
    while (!h.cancelled) {
      if (Date.now() > h.deadline) {
        h.failure = `xtrinode-gateway: Trino runtime group ${h.group} did not become ready within ${Math.round(this.o.timeoutMs / 1000)}s of the resume; the query was not submitted. Check kubectl describe xtrinode.`;
        this.notify(h);
        return;
      }
      const group = this.host.group(h.group);
      if (!group) {
        h.failure = `xtrinode-gateway: routing group ${h.group} no longer exists; the query was not submitted.`;
        this.notify(h);
        return;
      }
      const backend = await this.host.readyBackend(group);
      if (backend) {
        try {
          const result = await this.host.submit(backend, h.headers, h.body, h.deadline);
          if (h.cancelled) return; // dropped meanwhile; the coordinator's query is abandoned by Trino
          h.result = result;
          this.notify(h);
          return;
        } catch (e) {
          if (!(e instanceof NotSentError)) {
            // The statement may have reached the coordinator: never send it twice.
            h.failure = 'xtrinode-gateway: the connection to the coordinator broke while submitting the query; it was not retried to avoid running it twice. Run it again.';
            this.notify(h);
            return;
          }
        }
      } else if (Date.now() - lastResume > 2000) {
        this.host.resume(group); // deduplicated; takes over a Lease whose holder died
        lastResume = Date.now();
      }
      await new Promise((r) => setTimeout(r, READY_CHECK_MS));
    }
  }

  private queued(h: Held) {
    return { id: h.id, infoUri: `${h.base}/ui/`, nextUri: `${h.base}${WAIT_PATH_PREFIX}${h.id}/${this.slug(h)}/${++h.token}`, stats: this.stats('QUEUED', h), warnings: [] };
  }

  /** A Trino QueryResults that failed: the client shows the message and stops polling. */
  private failed(h: Held, message: string) {
    const error = { message, errorCode: 65536, errorName: 'XTRINODE_RUNTIME_NOT_READY', errorType: 'EXTERNAL', failureInfo: { type: 'io.xtrinode.RuntimeNotReady', message, suppressed: [], stack: [] } };
    return { id: h.id, infoUri: `${h.base}/ui/`, stats: this.stats('FAILED', h), error, warnings: [] };
  }

  private stats(state: string, h: Held) {
    const elapsed = Date.now() - (h.deadline - this.o.timeoutMs);
    return { state, queued: state === 'QUEUED', scheduled: false, nodes: 0, totalSplits: 0, queuedSplits: 0, runningSplits: 0, completedSplits: 0, cpuTimeMillis: 0, wallTimeMillis: 0, queuedTimeMillis: elapsed, elapsedTimeMillis: elapsed, processedRows: 0, processedBytes: 0, physicalInputBytes: 0, peakMemoryBytes: 0, spilledBytes: 0 };
  }
}
