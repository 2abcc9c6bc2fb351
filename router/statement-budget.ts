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
    const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
    if (declared !== undefined && Number.isSafeInteger(declared)) return this.readDeclared(req, declared, maxBytes);
    const chunks: Buffer[] = [];
    let n = 0;
    try {
      for await (const c of req.raw) {
        const chunk = c as Buffer;
        if (n + chunk.length > maxBytes) throw tooLarge(maxBytes);
        if (!this.take(chunk.length)) throw this.spent();
        n += chunk.length;
        chunks.push(chunk);
      }
    } catch (e) {
      this.give(n);
      throw e;
    }
    return Buffer.concat(chunks, n);
  }

  /**
   * A body of known length: refused before a byte is read when it cannot fit, else read into one
   * buffer of that size (no second copy of a large statement while it is assembled).
   */
  private async readDeclared(req: FastifyRequest, length: number, maxBytes: number): Promise<Buffer> {
    if (length > maxBytes) throw tooLarge(maxBytes);
    if (!this.take(length)) throw this.spent();
    try {
      const body = Buffer.allocUnsafe(length);
      let n = 0;
      for await (const c of req.raw) {
        const chunk = c as Buffer;
        if (n + chunk.length > length) throw new RouterError('XTN_MALFORMED_REQUEST', 400, 'xtrinode-gateway: malformed request: the body is longer than its Content-Length.');
        chunk.copy(body, n);
        n += chunk.length;
      }
      if (n !== length) throw new RouterError('XTN_MALFORMED_REQUEST', 400, 'xtrinode-gateway: malformed request: the body is shorter than its Content-Length.');
      return body;
    } catch (e) {
      this.give(length);
      throw e;
    }
  }

  private spent(): RouterError {
    return errors.overloaded(`statements being read or held fill the router's memory budget for them (${Math.round(this.limitBytes / 1048576)} MiB)`);
  }
}

function tooLarge(maxBytes: number): RouterError {
  return new RouterError('XTN_MALFORMED_REQUEST', 413, `xtrinode-gateway: the statement is over ${maxBytes} bytes.`);
}
