/**
 * Whether a coordinator takes new queries: `GET /v1/info` answers 200 and does not say
 * `starting`. One check at a time per coordinator, shared by every caller that can use its
 * answer (the periodic health round, every held query waiting for a waking runtime), and each
 * bounded by its own timeout: a hung coordinator costs one pending check, never another
 * coordinator's answer or a check per waiting client.
 */
import { request } from 'undici';

interface Check {
  at: number;
  up: boolean;
  pending: Promise<boolean> | undefined;
}

export class CoordinatorHealth {
  private readonly checks = new Map<string, Check>();
  private readonly timeoutMs: number;

  constructor(o: { timeoutMs: number }) {
    this.timeoutMs = o.timeoutMs;
  }

  /**
   * Whether the coordinator at `origin` is up, from a check no older than `maxAgeMs`: the last
   * answer if fresh enough, else the check in flight, else a new one. Never throws.
   */
  up(origin: string, maxAgeMs: number): Promise<boolean> {
    let c = this.checks.get(origin);
    if (!c) this.checks.set(origin, (c = { at: 0, up: false, pending: undefined }));
    if (c.pending) return c.pending;
    if (maxAgeMs > 0 && Date.now() - c.at <= maxAgeMs) return Promise.resolve(c.up);
    const check = c;
    check.pending = this.info(origin).then((up) => {
      check.at = Date.now();
      check.up = up;
      check.pending = undefined;
      return up;
    });
    return check.pending;
  }

  /** Drops what is known of coordinators no longer in the route table. */
  retain(origins: Set<string>): void {
    for (const o of this.checks.keys()) if (!origins.has(o)) this.checks.delete(o);
  }

  private async info(origin: string): Promise<boolean> {
    try {
      const res = await request(`${origin}/v1/info`, { headersTimeout: this.timeoutMs, bodyTimeout: this.timeoutMs, signal: AbortSignal.timeout(this.timeoutMs) });
      if (res.statusCode !== 200) {
        await res.body.dump();
        return false;
      }
      const body = (await res.body.json()) as { starting?: boolean };
      return body.starting !== true;
    } catch {
      return false;
    }
  }
}
