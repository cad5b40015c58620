// Signs and verifies with jose inside k6; imported by jose-probe.ts (with the polyfills) and by
// jose-probe-bare.ts (without them, which must fail: the proof that the polyfills are what works).
import { runtime } from '#runtime';
import { outcome } from './k6-probe-helpers.ts';
import { SignJWT, decodeJwt, errors, jwtVerify } from 'jose';

export const options = { thresholds: { checks: ['rate==1'] }, iterations: 1, vus: 1 };

const secret = new TextEncoder().encode('k6-jose-probe-secret-of-at-least-32-bytes');
const other = new TextEncoder().encode('another-secret-that-is-also-32-bytes-long');


export default async function (): Promise<void> {
  const now = Math.floor(Date.now() / 1000);
  const sign = (exp: number) =>
    new SignJWT({ scope: 'chat' }).setProtectedHeader({ alg: 'HS256' }).setSubject('u1').setIssuer('iss').setAudience('aud').setIssuedAt(now).setExpirationTime(exp).sign(secret);
  let token = '';
  const signed = await outcome(async () => (token = await sign(now + 60)));
  runtime.check('jose signs an HS256 token in k6', signed === 'ok' && token.split('.').length === 3);
  const verified = await outcome(() => jwtVerify(token, secret, { algorithms: ['HS256'], issuer: 'iss', audience: 'aud' }));
  runtime.check('jose verifies its own token in k6', verified === 'ok');
  const decoded = await outcome(async () => decodeJwt(token).sub === 'u1' || Promise.reject(new Error('wrong sub')));
  runtime.check('decodeJwt reads the subject', decoded === 'ok');
  const wrong = await outcome(() => jwtVerify(token, other, { algorithms: ['HS256'] }));
  runtime.check('a token verified with another secret is refused', wrong === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED');
  let expiredToken = '';
  await outcome(async () => (expiredToken = await sign(now - 60)));
  const expired = await outcome(() => jwtVerify(expiredToken, secret, { algorithms: ['HS256'] }));
  runtime.check('an expired token is refused with ERR_JWT_EXPIRED', expired === new errors.JWTExpired('x', {}).code);
}

/** The checks as data (k6's handleSummary shape), for the test to read instead of k6's human summary. */
export function handleSummary(data: { root_group: { checks: { name: string; passes: number; fails: number }[] } }): Record<string, string> {
  return { [runtime.env['PROBE_SUMMARY'] ?? 'jose-summary.json']: JSON.stringify(data.root_group.checks) };
}
