/**
 * The memory the router may spend on statement bodies it buffers: those being read before they
 * are forwarded, and those held for a waking runtime. Over the budget a new statement is refused
 * with a Trino-shaped 503 and Retry-After, so many or large held statements slow clients down
 * instead of running the router out of memory.
 */
import type { FastifyRequest } from 'fastify';
import { RouterError, errors } from './errors.ts';

export class StatementBudget {
  readonly limitBytes: number;
  private used = 0;

  constructor(limitBytes: number) {
    this.limitBytes = limitBytes;
  }

  get usedBytes(): number {
    return this.used;
  }

  /** Takes `n` bytes; false (and nothing taken) when that would go over the budget. */
  take(n: number): boolean {
    if (this.used + n > this.limitBytes) return false;
    this.used += n;
    return true;
  }

  give(n: number): void {
    this.used = Math.max(0, this.used - n);
  }

  /**
   * Reads a statement body, taking its bytes as they arrive. The caller owns the returned bytes
   * and gives them back when done; on any failure nothing stays taken.
   */
  async read(req: FastifyRequest, maxBytes: number): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let n = 0;
    try {
      for await (const c of req.raw) {
        const chunk = c as Buffer;
        if (n + chunk.length > maxBytes) throw new RouterError('XTN_MALFORMED_REQUEST', 413, `xtrinode-gateway: the statement is over ${maxBytes} bytes.`);
        if (!this.take(chunk.length)) throw errors.overloaded(`statements being read or held fill the router's memory budget for them (${Math.round(this.limitBytes / 1048576)} MiB)`);
        n += chunk.length;
        chunks.push(chunk);
      }
    } catch (e) {
      this.give(n);
      throw e;
    }
    return Buffer.concat(chunks, n);
  }
}
