/**
 * The client side of the router's HTTP server: how long a client may take to send its request,
 * and what it gets when Node's HTTP parser refuses it before any route runs (a timeout, headers
 * too large, bytes that are not HTTP). Every such answer has the router's one error form: a
 * plain-text message and `X-XTrinode-Error`, like every error of `errors.ts`.
 *
 * A client that is too slow gets a 408 and its connection is closed; the request it was
 * streaming to a coordinator is aborted with it (the upstream body stream errors), so a few slow
 * clients cannot hold the coordinator connection pool.
 */
import { createServer, type RequestListener, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { RouterErrorCode } from './errors.ts';

export interface ClientLimits {
  /** From the first byte of a request to the end of its headers. */
  headersTimeoutMs: number;
  /** From the first byte of a request to the end of its body (a statement upload). */
  requestTimeoutMs: number;
}

/** Creates the HTTP server fastify runs on, with the limits enforced at about a tenth of their size. */
export function clientServer(limits: ClientLimits): (handler: RequestListener) => Server {
  return (handler) => {
    const server = createServer(
      {
        headersTimeout: limits.headersTimeoutMs,
        requestTimeout: limits.requestTimeoutMs,
        connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs) / 10))),
      },
      handler,
    );
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => refuse(err, socket, limits));
    return server;
  };
}

const REFUSALS: Record<string, { status: number; reason: string; code: RouterErrorCode; text: (l: ClientLimits) => string }> = {
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, reason: 'Request Timeout', code: RouterErrorCode.ClientTimeout, text: (l) => `the request was not received within ${l.requestTimeoutMs / 1000}s (headers within ${l.headersTimeoutMs / 1000}s); it was not forwarded, or was aborted. Retry from a faster connection.` },
  HPE_HEADER_OVERFLOW: { status: 431, reason: 'Request Header Fields Too Large', code: RouterErrorCode.Malformed, text: () => 'the request headers are too large.' },
};

function refuse(err: NodeJS.ErrnoException, socket: Socket, limits: ClientLimits): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const known = REFUSALS[err.code ?? ''];
  const status = known?.status ?? 400;
  const body = `xtrinode-gateway: ${known ? known.text(limits) : 'malformed request: not valid HTTP/1.1.'}\n`;
  // Only when no response has started on this connection: never corrupt one in progress.
  const inProgress = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (socket.writable && !inProgress?.headersSent) {
    socket.write(
      `HTTP/1.1 ${status} ${known?.reason ?? 'Bad Request'}\r\nContent-Type: text/plain; charset=utf-8\r\nX-XTrinode-Error: ${known?.code ?? RouterErrorCode.Malformed}\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}
