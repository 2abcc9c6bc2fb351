/**
 * One router process per core (`WORKERS`). The primary process forks the workers, which share the
 * data port (node:cluster hands each new client connection to one of them), and serves the admin
 * port for all of them: `/readyz` is ready when every worker is, `/metrics` sums the workers'
 * metrics (prom-client's cluster aggregation). A worker that dies is started again; SIGTERM drains
 * every worker and then the primary exits.
 *
 * Workers share no state, and need none: polls carry their coordinator's prefix and go
 * Gateway -> coordinator, OAuth2 cookies are sealed with a shared secret, and a held query is
 * sealed with the address of the worker holding it (its own peer port, `PEER_PORT` + index), so a
 * poll for it that lands on another worker, or another replica, is handed to the right one.
 */
import cluster, { type Worker } from 'node:cluster';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { Logger } from 'pino';
import { isActivityMessage, type Activity } from './activity.ts';

/** What the primary asks a worker, and what the worker answers (over the cluster IPC channel). */
interface ReadyQuestion { xtnReadyz: number }
interface ReadyAnswer { xtnReadyz: number; notReady?: string }

const RESTART_DELAY_MS = 1000;
const ASK_TIMEOUT_MS = 2000;

export interface PrimaryOptions {
  workers: number;
  adminPort: number;
  adminHost: string;
  /** How long workers get to drain after SIGTERM before they are killed. */
  drainTimeoutMs: number;
  log: Logger;
  /**
   * Writes the activity the workers hand over (activity.ts), once per runtime per interval for
   * the whole pod; flushed once more after the last worker exited.
   */
  activity?: { log: Activity; intervalMs: number };
}

/** Runs the primary: forks the workers, serves the admin port, restarts and drains workers. */
export async function runPrimary(o: PrimaryOptions): Promise<void> {
  const aggregator = new AggregatorRegistry();
  let stopping = false;
  let question = 0;
  const fork = (index: number): Worker => {
    const w = cluster.fork({ XTN_WORKER_INDEX: String(index) });
    w.on('message', (m: unknown) => {
      if (o.activity && isActivityMessage(m)) for (const id of m.xtnActivity) o.activity.log.note(id);
    });
    // Without a listener, an IPC write to a worker that just died (EPIPE) would crash the primary.
    w.on('error', (err) => o.log.warn({ worker: index, err: err.message }, 'router worker channel failed'));
    w.on('exit', (code, signal) => {
      if (stopping) return;
      o.log.error({ worker: index, code, signal }, 'router worker exited; starting it again');
      setTimeout(() => {
        if (!stopping) workers[index] = fork(index);
      }, RESTART_DELAY_MS).unref();
    });
    return w;
  };
  const workers: Worker[] = Array.from({ length: o.workers }, (_, i) => fork(i));
  const activity = o.activity;
  const activityTimer = activity && activity.intervalMs > 0 ? setInterval(() => void activity.log.flush(), activity.intervalMs) : undefined;
  activityTimer?.unref();

  /** Why one worker is not ready (or undefined when it is); no answer in time counts as not ready. */
  const askReady = (w: Worker, index: number): Promise<string | undefined> =>
    new Promise((resolve) => {
      if (!w.isConnected()) return resolve(`worker ${index} is not running`);
      const id = ++question;
      const timer = setTimeout(() => done(`worker ${index} did not answer`), ASK_TIMEOUT_MS);
      const onMessage = (m: unknown) => {
        if ((m as ReadyAnswer | undefined)?.xtnReadyz === id) done((m as ReadyAnswer).notReady);
      };
      const done = (why: string | undefined) => {
        clearTimeout(timer);
        w.off('message', onMessage);
        resolve(why === undefined ? undefined : why.startsWith('worker') ? why : `worker ${index}: ${why}`);
      };
      w.on('message', onMessage);
      // A worker that is exiting may still look connected: its channel then fails the write
      // (EPIPE), reported to the callback; that worker is not ready.
      w.send({ xtnReadyz: id } satisfies ReadyQuestion, undefined, (err) => {
        if (err) done(`worker ${index} is not running`);
      });
    });

  const admin = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    const text = (status: number, body: string) => {
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`${body}\n`);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return text(405, 'only GET');
    if (path === '/healthz') return text(200, 'ok');
    if (path === '/readyz') {
      if (stopping) return text(503, 'draining');
      void Promise.all(workers.map(askReady)).then((whys) => {
        const why = whys.filter(Boolean).join('; ');
        text(why ? 503 : 200, why || 'ok');
      });
      return;
    }
    if (path === '/metrics') {
      aggregator.clusterMetrics().then(
        (m) => {
          res.writeHead(200, { 'content-type': aggregator.contentType });
          res.end(m);
        },
        (e: Error) => text(500, `metrics unavailable: ${e.message}`),
      );
      return;
    }
    text(404, 'not found: /healthz, /readyz and /metrics are served here');
  });
  admin.headersTimeout = 10_000;
  admin.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    admin.once('error', reject);
    admin.listen(o.adminPort, o.adminHost, () => resolve());
  });
  const a = admin.address() as AddressInfo;
  o.log.info({ workers: o.workers, admin: `${a.address}:${a.port}` }, 'router primary: workers forked, admin port open');

  const shutdown = (sig: string) => {
    if (stopping) return;
    stopping = true;
    o.log.info({ sig }, 'draining workers');
    const alive = workers.filter((w) => !w.isDead());
    for (const w of alive) w.process.kill('SIGTERM');
    const kill = setTimeout(() => {
      for (const w of alive) if (!w.isDead()) w.process.kill('SIGKILL');
    }, o.drainTimeoutMs + 5000);
    // Gone: exited, and its channel closed (what it sent last, its activity, has been read).
    const gone = (w: Worker) => Promise.all([
      new Promise((r) => (w.isDead() ? r(undefined) : w.once('exit', r))),
      new Promise((r) => (w.isConnected() ? w.once('disconnect', r) : r(undefined))),
    ]);
    void Promise.all(alive.map(gone)).then(async () => {
      clearTimeout(kill);
      if (activityTimer) clearInterval(activityTimer);
      await activity?.log.flush();
      admin.close();
      admin.closeAllConnections();
      process.exit(0);
    });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

/** In a worker: answers the primary's readiness questions and reports this registry's metrics. */
export function serveWorker(subject: { metrics: Registry; notReadyReason(): string | undefined }): void {
  AggregatorRegistry.setRegistries([subject.metrics]);
  new AggregatorRegistry(); // constructing one is what makes prom-client answer the primary's metric requests
  process.on('message', (m: unknown) => {
    const q = m as ReadyQuestion | undefined;
    if (typeof q?.xtnReadyz !== 'number') return;
    const why = subject.notReadyReason();
    process.send?.({ xtnReadyz: q.xtnReadyz, ...(why ? { notReady: why } : {}) } satisfies ReadyAnswer);
  });
}

/** This process's worker index: 0 without workers. */
export function workerIndex(): number {
  return cluster.isWorker ? Number(process.env.XTN_WORKER_INDEX ?? 0) : 0;
}

export const isPrimaryOf = (workers: number): boolean => workers > 1 && cluster.isPrimary;
