/**
 * Where tokens come from, per config.tokenSource:
 *   mint - signed here with the shared secret (jose), so expiry and refresh tests can shape claims;
 *   auth - fetched from the auth service's /auth/token with the test user's password;
 *   file - read from a JSON file of pre-issued tokens ({"user id": "token"}).
 * Tokens are never logged; errors name the user and the status, never the token.
 */
import { runtime } from '#runtime';
import { SignJWT, decodeJwt } from 'jose';
import type { Config } from './core/config.ts';
import { redactUrl } from './core/url.ts';
import { TokenError } from './core/errors.ts';
import { dialectFor } from './dialect-for.ts';

export interface MintOptions {
  /** Lifetime in seconds; negative values make an already expired token. */
  ttlS?: number;
  /** Sign with this secret instead of the configured one (the forged-token controls). */
  secret?: string | Uint8Array;
  issuer?: string;
  audience?: string;
}

const encoder = new TextEncoder();

interface Claims {
  sub: string;
  iss: string;
  aud: string;
  iat: number;
  exp: number;
  jti: string;
}

/** The claims of the auth service's access tokens; both signers below sign exactly these. */
function claimsFor(config: Config, userId: string, opts: MintOptions = {}): Claims {
  const now = Math.floor(Date.now() / 1000);
  return {
    sub: userId,
    iss: opts.issuer ?? config.issuer,
    aud: opts.audience ?? config.audience,
    iat: now,
    exp: now + (opts.ttlS ?? 900),
    jti: randomHex(16),
  };
}

function secretFor(config: Config, userId: string, opts: MintOptions): string | Uint8Array {
  const secret = opts.secret ?? config.jwtSecret;
  if (secret === undefined) {
    throw new TokenError(`minting a token for ${userId} needs WSGATE_JWT_SECRET; set it or use WSGATE_TOKEN_SOURCE=auth`);
  }
  return secret;
}

/**
 * Signs an HS256 access token with jose: the checks that shape tokens (expired, forged, short-lived
 * for refresh) use this one.
 */
export async function mintToken(config: Config, userId: string, opts: MintOptions = {}): Promise<string> {
  const secret = secretFor(config, userId, opts);
  const c = claimsFor(config, userId, opts);
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(c.sub)
    .setIssuer(c.iss)
    .setAudience(c.aud)
    .setIssuedAt(c.iat)
    .setExpirationTime(c.exp)
    .setJti(c.jti)
    .sign(typeof secret === 'string' ? encoder.encode(secret) : secret);
}

const NATIVE_HEADER = runtime.base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));

/**
 * The same token signed by the runtime's native HMAC (k6: 0.015 ms a token against jose's 0.46 ms in
 * k6's interpreter), which matters when thousands of users connect. Used for the per-user tokens of
 * the mint source; test/lib/tokens.test.ts proves jose verifies what it signs.
 */
export async function mintTokenNative(config: Config, userId: string, opts: MintOptions = {}): Promise<string> {
  const secret = secretFor(config, userId, opts);
  const body = `${NATIVE_HEADER}.${runtime.base64url(JSON.stringify(claimsFor(config, userId, opts)))}`;
  return `${body}.${await runtime.hmacSha256(secret, body)}`;
}

/** The dialect's auth service; callers check the auth-service capability first. */
function authOf(config: Config): NonNullable<ReturnType<typeof dialectFor>['auth']> {
  const auth = dialectFor(config).auth;
  if (!auth) throw new TokenError(`the ${config.dialect} dialect has no auth service to ask for tokens; use WSGATE_TOKEN_SOURCE=mint or file`);
  return auth;
}

/** A fresh random 32-byte key: tokens signed with it must be refused by any honest backend. */
export function randomSecret(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(32));
}

export interface IssuedToken {
  accessToken: string;
  refreshToken: string | undefined;
}

/** Asks the auth service for a token, as a real client would. */
export async function fetchToken(config: Config, userId: string): Promise<IssuedToken> {
  const auth = authOf(config);
  const url = config.authUrl + auth.tokenPath;
  const res = await runtime.http({
    method: 'POST',
    url,
    body: auth.tokenRequest(userId, config.authPassword),
    headers: { 'Content-Type': 'application/json' },
    timeoutMs: 10_000,
  });
  const parsed = res.status === 200 ? auth.parseTokenResponse(res.body) : undefined;
  if (!parsed) {
    throw new TokenError(
      `the auth service at ${redactUrl(url)} did not issue a token for ${userId} (HTTP ${res.status}${res.error ? ', ' + res.error : ''})`,
    );
  }
  return parsed;
}

/** Trades a refresh token for a new access token at /auth/refresh; undefined when refused. */
export async function refreshAtAuthService(config: Config, refreshToken: string): Promise<{ status: number; token: IssuedToken | undefined }> {
  const auth = authOf(config);
  const url = config.authUrl + auth.refreshPath;
  const res = await runtime.http({
    method: 'POST',
    url,
    body: auth.refreshRequest(refreshToken),
    headers: { 'Content-Type': 'application/json' },
    timeoutMs: 10_000,
  });
  return { status: res.status, token: res.status === 200 ? auth.parseTokenResponse(res.body) : undefined };
}

/** The claims of a token, unverified: for explaining a refusal, never for trusting one. */
export function peekClaims(token: string): Record<string, unknown> | undefined {
  try {
    return decodeJwt(token) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** A user and a token that authenticates as that user. */
interface Credential {
  userId: string;
  token: string;
}

/**
 * Gives a credential for the wanted user from the configured source. The file source holds tokens
 * of fixed users, so the credential's user may differ from the wanted one: checks use `userId`.
 */
export interface TokenProvider {
  credentialFor(wantedUser: string): Promise<Credential>;
}

/**
 * Builds the provider. Call it in init code: the file source reads its file with runtime.readFile(),
 * which k6 allows only there.
 */
export function createTokenProvider(config: Config): TokenProvider {
  switch (config.tokenSource) {
    case 'mint':
      return { credentialFor: async (userId) => ({ userId, token: await mintTokenNative(config, userId) }) };
    case 'auth':
      return { credentialFor: async (userId) => ({ userId, token: (await fetchToken(config, userId)).accessToken }) };
    case 'file': {
      const tokens = readTokenFile(config.tokensFile ?? '');
      const users = Object.keys(tokens);
      return {
        // Pre-issued tokens belong to fixed users; wsgate's generated user ids map onto them in turn.
        credentialFor: async (wanted) => {
          const userId = tokens[wanted] !== undefined ? wanted : (users[hash(wanted) % users.length] ?? '');
          return { userId, token: tokens[userId] ?? '' };
        },
      };
    }
  }
}

function readTokenFile(path: string): Record<string, string> {
  let text: string;
  try {
    text = runtime.readFile(path);
  } catch {
    throw new TokenError(`WSGATE_TOKENS_FILE "${path}" cannot be read; give the path of a JSON file of {"user id": "token"}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new TokenError(`WSGATE_TOKENS_FILE "${path}" is not JSON; it must be an object of {"user id": "token"}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new TokenError(`WSGATE_TOKENS_FILE "${path}" must hold a JSON object of {"user id": "token"}`);
  }
  const entries = Object.entries(parsed as Record<string, unknown>).filter((e): e is [string, string] => typeof e[1] === 'string');
  if (entries.length === 0) throw new TokenError(`WSGATE_TOKENS_FILE "${path}" holds no tokens; add at least one "user id": "token" pair`);
  return Object.fromEntries(entries);
}

function hash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) >>> 0;
  return h;
}

function randomHex(bytes: number): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, '0')).join('');
}
