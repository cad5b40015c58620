/**
 * Access tokens: HS256 JWTs signed by the auth service and verified by the backend, each with its own
 * secret so that the two can disagree (the `jwt_secret_desync` regression).
 */
import { randomUUID, webcrypto } from 'node:crypto';
import { SignJWT, jwtVerify } from 'jose';

/** Same bytes jose would import from `TextEncoder().encode(secret)`, imported once instead of per call. */
export async function hmacKey(secret: string, usage: 'sign' | 'verify'): Promise<webcrypto.CryptoKey> {
  const bytes = new TextEncoder().encode(secret);
  return webcrypto.subtle.importKey('raw', bytes, { name: 'HMAC', hash: 'SHA-256' }, false, [usage]);
}

export interface TokenClaims {
  readonly issuer: string;
  readonly audience: string;
}

export async function signAccessToken(
  key: webcrypto.CryptoKey,
  claims: TokenClaims,
  userId: string,
  ttlS: number,
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(userId)
    .setIssuer(claims.issuer)
    .setAudience(claims.audience)
    .setIssuedAt(now)
    .setExpirationTime(now + ttlS)
    .setJti(randomUUID())
    .sign(key);
}

export interface VerifiedToken {
  readonly userId: string;
  /** `exp` in milliseconds since the epoch. */
  readonly expiresAtMs: number;
}

/**
 * Verifies a token the way the handshake does: HS256 only, `iss`/`aud`/`exp`/`sub` required and
 * checked, at most 5 s of clock tolerance. Returns `undefined` for any failure; why it failed is not
 * the client's business (every case is the same 403).
 */
export async function verifyAccessToken(
  key: webcrypto.CryptoKey,
  claims: TokenClaims,
  token: string,
): Promise<VerifiedToken | undefined> {
  try {
    const { payload } = await jwtVerify(token, key, {
      algorithms: ['HS256'],
      issuer: claims.issuer,
      audience: claims.audience,
      requiredClaims: ['exp', 'sub', 'iss', 'aud'],
      clockTolerance: 5,
    });
    if (typeof payload.sub !== 'string' || payload.sub === '' || typeof payload.exp !== 'number') return undefined;
    return { userId: payload.sub, expiresAtMs: payload.exp * 1000 };
  } catch {
    return undefined;
  }
}
