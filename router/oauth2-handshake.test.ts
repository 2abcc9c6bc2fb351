/**
 * OAuth2 handshakes stay on the challenging coordinator through any replica; cookies and route
 * markers are sealed, and forged, tampered or expired ones are refused.
 */
import { TokenSigner } from './signed-token.ts';
import { FakeCoordinator } from '../conformance/fake-coordinator.ts';
import { translate } from '../controller/translate/translate.ts';
import { DEFAULT_SETTINGS } from '../controller/translate/settings.ts';
import { coordinators, urls, makeRouter, call, submit, useFakeCluster, SECRET, xt } from './router-fixture.ts';

useFakeCluster();

describe('OAuth2 stickiness', () => {
  test('the CLI token flow stays on the challenging coordinator, via any replica', async () => {
    const c = new FakeCoordinator({ name: 'oauth-a', oauth2: true });
    const d = new FakeCoordinator({ name: 'oauth-b', oauth2: true });
    await c.start();
    await d.start();
    coordinators['oauth-a'] = c;
    coordinators['oauth-b'] = d;
    const t = translate({ xtrinodes: [xt('oauth-a', { routingGroup: 'sso', hostname: 'sso.example.com' }), xt('oauth-b', { routingGroup: 'sso', hostname: 'sso.example.com' })], settings: DEFAULT_SETTINGS }).table;
    const r1 = makeRouter();
    const r2 = makeRouter();
    r1.setTable(t);
    r2.setTable(t);
    const [u1, u2] = [await r1.listen({ port: 0, host: '127.0.0.1' }), await r2.listen({ port: 0, host: '127.0.0.1' })];
    try {
      for (let i = 0; i < 4; i++) {
        const challenge = await submit(u1, { host: 'sso.example.com' });
        expect(challenge.status).toBe(401);
        const owner = String(challenge.headers['x-fake-coordinator']);
        const www = String(challenge.headers['www-authenticate']);
        const tokenUrl = new URL(/x_token_server="([^"]+)"/.exec(www)![1]!);
        expect(tokenUrl.searchParams.get('xtrinode_route')).toBeTruthy();
        const tok = await call(u2, tokenUrl.pathname + tokenUrl.search, { host: 'sso.example.com' });
        expect(tok.status).toBe(200);
        expect(tok.headers['x-fake-coordinator']).toBe(owner);
        // browser flow: initiate sets the routing cookie, the callback follows it
        const redirect = new URL(/x_redirect_server="([^"]+)"/.exec(www)![1]!);
        const init = await call(u2, redirect.pathname + redirect.search, { host: 'sso.example.com' });
        expect(init.headers['x-fake-coordinator']).toBe(owner);
        const cookie = String(init.headers['set-cookie']).split(';')[0]!;
        expect(cookie).toMatch(/^XTRINODE_OAUTH2=/);
        const cb = await call(u1, '/oauth2/callback?code=1', { host: 'sso.example.com', cookie });
        expect(cb.headers['x-fake-coordinator']).toBe(owner);
        const logout = await call(u2, '/oauth2/logout', { host: 'sso.example.com', cookie });
        expect(logout.headers['x-fake-coordinator']).toBe(owner);
        expect(String(logout.headers['set-cookie'])).toContain('Max-Age=0');
      }
    } finally {
      await Promise.all([r1.drain(), r2.drain(), c.stop(), d.stop()]);
    }
  });

  test('sealed tokens hide their content and refuse tampering, other keys and expiry', () => {
    const signer = new TokenSigner(SECRET);
    const t = signer.seal('10.1.2.3:8080', Date.now() + 60_000);
    expect(Buffer.from(t, 'base64url').toString('latin1')).not.toContain('10.1.2.3');
    expect(signer.unseal(t, Date.now())).toEqual({ ok: true, text: '10.1.2.3:8080' });
    const flipped = Buffer.from(t, 'base64url');
    flipped[14] = flipped[14]! ^ 1;
    expect(signer.unseal(flipped.toString('base64url'), Date.now())).toMatchObject({ ok: false });
    expect(new TokenSigner('another-secret-0123456789').unseal(t, Date.now())).toMatchObject({ ok: false });
    expect(signer.unseal(signer.seal('x', Date.now() - 1000), Date.now())).toEqual({ ok: false, reason: 'expired' });
  });

  test('forged, tampered and expired cookies are refused, not trusted', async () => {
    const signer = new TokenSigner(SECRET);
    const other = new TokenSigner('another-secret-0123456789');
    const good = signer.sign('prod/s1', Date.now() + 60_000);
    const [payload, mac] = good.split('.');
    const cases = {
      forged: other.sign('prod/s1', Date.now() + 60_000),
      tampered: `${Buffer.from('prod/s2|9999999999').toString('base64url')}.${mac}`,
      expired: signer.sign('prod/s1', Date.now() - 1000),
      garbage: 'not-a-token',
    };
    expect(payload).toBeTruthy();
    for (const [what, value] of Object.entries(cases)) {
      const r = await call(urls[0]!, '/oauth2/callback', { host: 'shared.example.com', cookie: `XTRINODE_OAUTH2=${value}` });
      expect({ what, status: r.status, code: r.headers['x-xtrinode-error'] }).toEqual({ what, status: 400, code: 'XTN_BAD_ROUTING_COOKIE' });
      expect(String(r.headers['set-cookie'])).toContain('Max-Age=0');
    }
    const ok = await call(urls[0]!, '/oauth2/callback', { host: 'shared.example.com', cookie: `XTRINODE_OAUTH2=${good}` });
    expect(ok.headers['x-fake-coordinator']).toBe('s1');
    const marker = await call(urls[0]!, `/oauth2/token/abc?xtrinode_route=${cases.forged}`, { host: 'shared.example.com' });
    expect(marker.status).toBe(400);
  });
});
