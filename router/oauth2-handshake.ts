/**
 * OAuth2 handshakes on one coordinator. Trino's OAuth2 flow (challenge, browser redirect, token
 * poll) holds state on the coordinator that issued the challenge, so every step must reach it:
 * the router appends a signed route marker to the `x_redirect_server` / `x_token_server` URLs of
 * a 401 challenge, and sets a signed cookie on routing paths; requests carrying either go to that
 * coordinator through any replica. Tampered, forged or expired ones are refused and cleared.
 */
import type { FastifyRequest } from 'fastify';
import type { OutgoingHttpHeaders } from 'node:http';
import type { RouteBackend } from '../routetable/schema.ts';
import type { RouteIndex } from './route-index.ts';
import { TokenSigner } from './signed-token.ts';
import { errors } from './errors.ts';
import { forwardedProto } from './forwarding-headers.ts';

export const ROUTE_MARKER_PARAM = 'xtrinode_route';

export interface OAuth2CookieOptions {
  /** Shared HMAC secret; all router replicas need the same one. Never logged. */
  secret: string;
  routingPaths: string[];
  deletePaths: string[];
  lifetimeMs: number;
  name: string;
}

/** What an answer to the client gets from the handshake: a cookie set or cleared, a marked challenge. */
export interface HandshakeMarks {
  setCookieFor?: RouteBackend | undefined;
  deleteCookie?: boolean;
  markChallengeFor?: RouteBackend;
}

export class OAuth2Handshake {
  readonly o: OAuth2CookieOptions;
  private readonly signer: TokenSigner;

  constructor(o: OAuth2CookieOptions) {
    this.o = o;
    this.signer = new TokenSigner(o.secret);
  }

  isRoutingPath(path: string): boolean {
    return this.o.routingPaths.some((p) => path.startsWith(p));
  }

  isDeletePath(path: string): boolean {
    return this.o.deletePaths.some((p) => path.startsWith(p));
  }

  /** The coordinator a route marker (first) or the cookie names; throws for bad ones. */
  pinned(req: FastifyRequest, url: string, index: RouteIndex): { backend: RouteBackend; fromMarker: boolean } | undefined {
    const now = Date.now();
    const q = url.indexOf('?');
    if (q >= 0) {
      const marker = new URLSearchParams(url.slice(q + 1)).get(ROUTE_MARKER_PARAM);
      if (marker !== null) {
        const v = this.signer.verify(marker, now);
        if (!v.ok) throw errors.badCookie(v.reason === 'expired' ? 'expired' : 'not valid');
        const entry = index.backends.get(v.backendId);
        if (entry) return { backend: entry.backend, fromMarker: true };
      }
    }
    const cookie = readCookie(req.headers.cookie, this.o.name);
    if (cookie === undefined) return undefined;
    const v = this.signer.verify(cookie, now);
    if (!v.ok) throw errors.badCookie(v.reason === 'expired' ? 'expired' : 'not valid');
    const entry = index.backends.get(v.backendId);
    return entry ? { backend: entry.backend, fromMarker: false } : undefined;
  }

  /** Adds the cookie (set or cleared) and the challenge marker to a response's headers, in place. */
  mark(req: FastifyRequest, headers: OutgoingHttpHeaders, m: HandshakeMarks): void {
    const cookies: string[] = [];
    const secure = forwardedProto(req) === 'https' ? '; Secure' : '';
    if (m.setCookieFor) {
      const token = this.signer.sign(m.setCookieFor.id, Date.now() + this.o.lifetimeMs);
      cookies.push(`${this.o.name}=${token}; Path=/; Max-Age=${Math.floor(this.o.lifetimeMs / 1000)}; HttpOnly; SameSite=Lax${secure}`);
    }
    if (m.deleteCookie) cookies.push(`${this.o.name}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax${secure}`);
    if (cookies.length > 0) {
      const prev = headers['set-cookie'];
      headers['set-cookie'] = [...(prev === undefined ? [] : Array.isArray(prev) ? prev : [String(prev)]), ...cookies];
    }
    if (m.markChallengeFor && headers['www-authenticate'] !== undefined) {
      const token = this.signer.sign(m.markChallengeFor.id, Date.now() + this.o.lifetimeMs);
      headers['www-authenticate'] = markChallenge(headers['www-authenticate'] as string | string[], token);
    }
  }

  /** The Set-Cookie that clears a refused cookie. */
  clearing(): string {
    return `${this.o.name}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax`;
  }
}

function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Adds the signed route marker to the x_redirect_server / x_token_server URLs of a challenge. */
export function markChallenge(v: string | string[], token: string): string | string[] {
  const mark = (s: string) =>
    s.replace(/(x_redirect_server|x_token_server)="([^"]*)"/g, (_m, k: string, u: string) => `${k}="${u}${u.includes('?') ? '&' : '?'}${ROUTE_MARKER_PARAM}=${token}"`);
  return Array.isArray(v) ? v.map(mark) : mark(v);
}
