// Signs and verifies with jose inside k6; imported by jose-probe.ts (with the polyfills) and by
// jose-probe-bare.ts (without them, which must fail: the proof that the polyfills are what works).
// setup() signs one more token and hands it, with how its signing went, to handleSummary: the test
// verifies that token outside k6, with Node's jose, so a polyfill that k6's jose agrees with but that
// makes a wrong token still fails.
import { runtime } from '#runtime';
import { outcome, probeSummary } from './k6-probe-helpers.ts';
import { SignJWT, decodeJwt, errors, jwtVerify } from 'jose';

export const options = { thresholds: { checks: ['rate==1'] }, iterations: 1, vus: 1 };

const secret = new TextEncoder().encode('k6-jose-probe-secret-of-at-least-32-bytes');
const other = new TextEncoder().encode('another-secret-that-is-also-32-bytes-long');

const sign = (now: number, exp: number): Promise<string> =>
  new SignJWT({ scope: 'chat' }).setProtectedHeader({ alg: 'HS256' }).setSubject('u1').setIssuer('iss').setAudience('aud').setIssuedAt(now).setExpirationTime(exp).sign(secret);

/** A token for the test to verify outside k6, and 'ok' or why signing it failed. */
export async function setup(): Promise<{ token: string; signing: string }> {
  const now = Math.floor(Date.now() / 1000);
  let token = '';
  const signing = await outcome(async () => (token = await sign(now, now + 600)));
  return { token, signing };
}

export default async function (): Promise<void> {
  const now = Math.floor(Date.now() / 1000);
  let token = '';
  const signed = await outcome(async () => (token = await sign(now, now + 60)));
  runtime.check('jose signs an HS256 token in k6', signed === 'ok' && token.split('.').length === 3);
  const verified = await outcome(() => jwtVerify(token, secret, { algorithms: ['HS256'], issuer: 'iss', audience: 'aud' }));
  runtime.check('jose verifies its own token in k6', verified === 'ok');
  const decoded = await outcome(async () => decodeJwt(token).sub === 'u1' || Promise.reject(new Error('wrong sub')));
  runtime.check('decodeJwt reads the subject', decoded === 'ok');
  const wrong = await outcome(() => jwtVerify(token, other, { algorithms: ['HS256'] }));
  runtime.check('a token verified with another secret is refused', wrong === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED');
  let expiredToken = '';
  await outcome(async () => (expiredToken = await sign(now, now - 60)));
  const expired = await outcome(() => jwtVerify(expiredToken, secret, { algorithms: ['HS256'] }));
  runtime.check('an expired token is refused with ERR_JWT_EXPIRED', expired === new errors.JWTExpired('x', {}).code);
}

export const handleSummary = probeSummary;
