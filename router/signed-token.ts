/**
 * HMAC-signed routing tokens: the OAuth2 routing cookie and the route marker added to OAuth2
 * challenge URLs (which name an XTrinode, never an address), and sealed tokens for what clients
 * must not read (the router replica holding a query). They carry a backend id and an expiry; every router replica configured with the
 * same secret accepts what another issued. A token with a bad signature or in the past is refused.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

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

  /**
   * Like sign(), but the content is also encrypted (AES-256-GCM, key derived from the secret):
   * for values a client must not read, such as a router replica's address.
   */
  seal(text: string, expiresAtMs: number): string {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.sealKey(), iv);
    const body = Buffer.concat([c.update(`${text}|${Math.floor(expiresAtMs / 1000)}`, 'utf8'), c.final()]);
    return Buffer.concat([iv, body, c.getAuthTag()]).toString('base64url');
  }

  unseal(token: string, nowMs: number): { ok: true; text: string } | { ok: false; reason: 'malformed' | 'bad-signature' | 'expired' } {
    const raw = Buffer.from(token, 'base64url');
    if (raw.length < 12 + 16 + 3 || token.length > 1024) return { ok: false, reason: 'malformed' };
    let text: string;
    try {
      const d = createDecipheriv('aes-256-gcm', this.sealKey(), raw.subarray(0, 12));
      d.setAuthTag(raw.subarray(raw.length - 16));
      text = Buffer.concat([d.update(raw.subarray(12, raw.length - 16)), d.final()]).toString('utf8');
    } catch {
      return { ok: false, reason: 'bad-signature' };
    }
    const bar = text.lastIndexOf('|');
    const exp = Number(text.slice(bar + 1));
    if (bar <= 0 || !Number.isFinite(exp)) return { ok: false, reason: 'malformed' };
    if (exp * 1000 < nowMs) return { ok: false, reason: 'expired' };
    return { ok: true, text: text.slice(0, bar) };
  }

  private sealKey(): Buffer {
    return createHash('sha256').update('xtrinode-seal:').update(this.secret).digest();
  }

  private mac(payload: string): string {
    return createHmac('sha256', this.secret).update(payload).digest('base64url');
  }
}
