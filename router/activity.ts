/**
 * Activity for idle suspension: which runtimes the router served, written as the
 * `analytics.xtrinode.io/last-activity` annotation on their XTrinodes (the controller suspends a
 * runtime whose last activity is older than its idleTimeout; it ignores updates of this
 * annotation alone, controller.ts xtrinodeChange).
 *
 * One writer per router pod, not per worker process: with WORKERS=2 each worker used to patch every
 * XTrinode it served every 30 s, twice the API writes for the same fact. Workers now hand what they
 * served to the primary (`ForwardedActivity`, over the cluster IPC channel) and the primary patches
 * each runtime once per interval (`AnnotationActivity`). A single-process router patches itself.
 */
import type { ApiServer } from './api-server.ts';
import type { Logger } from 'pino';

export const ANNOTATION_LAST_ACTIVITY = 'analytics.xtrinode.io/last-activity';
const MERGE_PATCH = 'application/merge-patch+json';
/** A backend id is `<namespace>/<name>` of its XTrinode: DNS names, so at most 253 + 1 + 253. */
const BACKEND_ID = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\/[a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?$/;
/** Ids one worker may hand over at once: more than any route table holds is a broken worker. */
const MAX_IDS_PER_MESSAGE = 100_000;

export interface Activity {
  /** The router served (or placed a query on) this runtime. */
  note(backendId: string): void;
  /** Writes (or hands over) what was noted since the last flush. Never throws. */
  flush(): Promise<void>;
}

/** Patches the annotation on each XTrinode noted since the last flush, once each. */
export class AnnotationActivity implements Activity {
  private readonly noted = new Set<string>();
  private readonly api: ApiServer;
  private readonly log: Logger;

  constructor(api: ApiServer, log: Logger) {
    this.api = api;
    this.log = log;
  }

  note(backendId: string): void {
    if (BACKEND_ID.test(backendId)) this.noted.add(backendId);
  }

  async flush(): Promise<void> {
    const ids = [...this.noted];
    this.noted.clear();
    const now = new Date().toISOString();
    await Promise.all(ids.map(async (id) => {
      const [namespace, name] = id.split('/') as [string, string];
      try {
        await this.api.call('PATCH', `/apis/analytics.xtrinode.io/v1/namespaces/${encodeURIComponent(namespace)}/xtrinodes/${encodeURIComponent(name)}`, { metadata: { annotations: { [ANNOTATION_LAST_ACTIVITY]: now } } }, MERGE_PATCH);
      } catch (e) {
        this.log.debug({ xtrinode: id, err: e instanceof Error ? e.message : String(e) }, 'activity not recorded');
      }
    }));
  }
}

/** What a worker sends the primary. */
export interface ActivityMessage { xtnActivity: string[] }

export function isActivityMessage(m: unknown): m is ActivityMessage {
  const ids = (m as Partial<ActivityMessage> | undefined)?.xtnActivity;
  return Array.isArray(ids) && ids.length <= MAX_IDS_PER_MESSAGE && ids.every((id) => typeof id === 'string');
}

/** In a worker: hands what it served to the primary, which writes it (see the module comment). */
export class ForwardedActivity implements Activity {
  private readonly noted = new Set<string>();
  private readonly send: (m: ActivityMessage) => Promise<void>;
  private readonly log: Logger;

  constructor(send: (m: ActivityMessage) => Promise<void>, log: Logger) {
    this.send = send;
    this.log = log;
  }

  note(backendId: string): void {
    this.noted.add(backendId);
  }

  async flush(): Promise<void> {
    if (this.noted.size === 0) return;
    const ids = [...this.noted];
    this.noted.clear();
    try {
      await this.send({ xtnActivity: ids });
    } catch (e) {
      this.log.debug({ err: e instanceof Error ? e.message : String(e), runtimes: ids.length }, 'activity not handed to the primary');
    }
  }
}

/** `process.send` as a promise (a worker's channel to the primary). */
export function sendToPrimary(m: ActivityMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!process.send) return reject(new Error('no channel to the primary'));
    process.send(m, undefined, {}, (err) => (err ? reject(err) : resolve()));
  });
}
