// jose, inside k6, verifies the tokens lib/tokens.ts signs with k6's native HMAC, with the claims the
// jose signer would give, and refuses them under another secret. setup() mints one more for the test
// to verify outside k6, with Node's jose: k6's jose runs on the polyfills, so it alone could agree
// with a token that nothing else accepts.
import '../../lib/polyfills.ts';
import { runtime } from '#runtime';
import { outcome, probeSummary } from './k6-probe-helpers.ts';
import { jwtVerify } from 'jose';
import { loadConfig } from '../../lib/core/config.ts';
import { mintTokenNative, randomSecret } from '../../lib/tokens.ts';

export const options = { thresholds: { checks: ['rate==1'] }, iterations: 1, vus: 1 };

const SECRET = 'native-mint-probe-secret-of-at-least-32b';

/** A natively signed token for the test to verify outside k6. */
export async function setup(): Promise<{ token: string }> {
  return { token: await mintTokenNative(loadConfig({ WSGATE_JWT_SECRET: SECRET }), 'u42', { ttlS: 60 }) };
}

export default async function (): Promise<void> {
  const config = loadConfig({ WSGATE_JWT_SECRET: SECRET });
  const token = await mintTokenNative(config, 'u42', { ttlS: 60 });
  let payload: Record<string, unknown> = {};
  const verified = await outcome(async () => {
    payload = (await jwtVerify(token, new TextEncoder().encode(SECRET), { algorithms: ['HS256'], issuer: config.issuer, audience: config.audience })).payload;
  });
  runtime.check('jose verifies a natively signed token', verified === 'ok');
  runtime.check(
    'the native token carries sub, iss, aud, iat, exp (60 s later) and a jti',
    payload['sub'] === 'u42' && Number(payload['exp']) - Number(payload['iat']) === 60 && typeof payload['jti'] === 'string',
  );
  const bytesKey = await mintTokenNative(config, 'u42', { secret: new TextEncoder().encode(SECRET) });
  const foreign = await mintTokenNative(config, 'u42', { secret: randomSecret() });
  const refused = await outcome(() => jwtVerify(foreign, new TextEncoder().encode(SECRET), { algorithms: ['HS256'] }));
  runtime.check('a token signed with another secret is refused', refused === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED');
  const verifiedBytes = await outcome(() => jwtVerify(bytesKey, new TextEncoder().encode(SECRET), { algorithms: ['HS256'] }));
  runtime.check('jose verifies a token signed with a byte secret', verifiedBytes === 'ok');
}

export const handleSummary = probeSummary;
