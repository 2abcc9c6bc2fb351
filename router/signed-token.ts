/**
 * HMAC-signed routing tokens: the OAuth2 routing cookie and the route marker added to OAuth2
 * challenge URLs. They carry a backend id and an expiry; every router replica configured with the
 * same secret accepts what another issued. A token with a bad signature or in the past is refused.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export class TokenSigner {
  private readonly secret: Buffer;
  constructor(secret: string) {
    if (secret.length < 16) throw new Error('the cookie signing secret must be at least 16 characters');
    this.secret = Buffer.from(secret, 'utf8');
  }

  sign(backendId: string, expiresAtMs: number): string {
    const payload = Buffer.from(`${backendId}|${Math.floor(expiresAtMs / 1000)}`, 'utf8').toString('base64url');
    return `${payload}.${this.mac(payload)}`;
  }

  /** Returns the backend id, or a reason the token is refused. */
  verify(token: string, nowMs: number): { ok: true; backendId: string } | { ok: false; reason: 'malformed' | 'bad-signature' | 'expired' } {
    const dot = token.indexOf('.');
    if (dot <= 0 || token.length > 1024) return { ok: false, reason: 'malformed' };
    const payload = token.slice(0, dot);
    const mac = Buffer.from(token.slice(dot + 1), 'utf8');
    const want = Buffer.from(this.mac(payload), 'utf8');
    if (mac.length !== want.length || !timingSafeEqual(mac, want)) return { ok: false, reason: 'bad-signature' };
    const text = Buffer.from(payload, 'base64url').toString('utf8');
    const bar = text.lastIndexOf('|');
    const exp = Number(text.slice(bar + 1));
    if (bar <= 0 || !Number.isFinite(exp)) return { ok: false, reason: 'malformed' };
    if (exp * 1000 < nowMs) return { ok: false, reason: 'expired' };
    return { ok: true, backendId: text.slice(0, bar) };
  }

  private mac(payload: string): string {
    return createHmac('sha256', this.secret).update(payload).digest('base64url');
  }
}
