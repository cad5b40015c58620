/**
 * The auth listener: issues access tokens and opaque, single-use refresh tokens
 * (docs/protocol.md, "Auth service").
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { webcrypto } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TargetConfig } from './config.ts';
import type { FaultName } from './faults.ts';
import { pathOf, readJsonObject, sendJson } from './http.ts';
import type { BodyResult } from './http.ts';
import { signAccessToken } from './tokens.ts';
import { HOSTILE_REFUSE_EVERY, hostileAuthError } from './hostile.ts';

const USER_ID_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;

/** How long a refresh token stays redeemable. */
const REFRESH_TTL_MS = 24 * 3600 * 1000;

interface RefreshEntry {
  readonly userId: string;
  readonly expiresAtMs: number;
}

export interface AuthDeps {
  readonly config: TargetConfig;
  readonly faults: ReadonlySet<FaultName>;
  readonly signKey: webcrypto.CryptoKey;
  readonly uptimeSeconds: () => number;
}

export interface AuthService {
  handle(req: IncomingMessage, res: ServerResponse): void;
  /** Forgets every refresh token (shutdown). */
  clear(): void;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * Opaque, single-use refresh tokens. Insertion order equals expiry order (one TTL for all), so
 * expired entries are always at the front.
 */
class RefreshTokens {
  private readonly byToken = new Map<string, RefreshEntry>();

  /** A new refresh token for `userId`, redeemable for REFRESH_TTL_MS. */
  mint(userId: string): string {
    const token = randomBytes(32).toString('base64url');
    const now = Date.now();
    for (const [old, entry] of this.byToken) {
      if (entry.expiresAtMs > now) break;
      this.byToken.delete(old);
    }
    this.byToken.set(token, { userId, expiresAtMs: now + REFRESH_TTL_MS });
    return token;
  }

  /** The user of a live token, which is spent by this call (a replayed one is refused); undefined for anything else. */
  redeem(presented: unknown): string | undefined {
    const entry = typeof presented === 'string' ? this.byToken.get(presented) : undefined;
    if (typeof presented !== 'string' || entry === undefined || entry.expiresAtMs <= Date.now()) return undefined;
    this.byToken.delete(presented);
    return entry.userId;
  }

  clear(): void {
    this.byToken.clear();
  }
}

function badBody(res: ServerResponse, body: Exclude<BodyResult, { kind: 'ok' }>): void {
  if (body.kind === 'too_large') sendJson(res, 413, { error: 'body_too_large' });
  else sendJson(res, 400, { error: 'invalid_json' });
}

export function createAuthService(deps: AuthDeps): AuthService {
  const { config } = deps;
  const claims = { issuer: config.issuer, audience: config.audience };
  const refreshTokens = new RefreshTokens();
  const passwordDigest = config.authPassword === undefined ? undefined : digest(config.authPassword);
  let hostileRequests = 0;
  // hostile: every error body echoes the credentials the request sent.
  const error = (code: string, received: Record<string, unknown> = {}): Record<string, unknown> =>
    deps.faults.has('hostile') ? hostileAuthError(code, received) : { error: code };

  async function issue(userId: string): Promise<Record<string, unknown>> {
    const accessToken = await signAccessToken(deps.signKey, claims, userId, config.tokenTtlS);
    const refreshToken = refreshTokens.mint(userId);
    return {
      access_token: accessToken,
      refresh_token: refreshToken,
      token_type: 'Bearer',
      expires_in: config.tokenTtlS,
    };
  }

  function passwordMatches(password: unknown): boolean {
    if (passwordDigest === undefined) return true;
    return typeof password === 'string' && timingSafeEqual(digest(password), passwordDigest);
  }

  async function token(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readJsonObject(req);
    if (body.kind !== 'ok') return badBody(res, body);
    const userId = body.value['user_id'];
    if (typeof userId !== 'string' || !USER_ID_PATTERN.test(userId)) {
      return sendJson(res, 400, { error: 'invalid_user_id' });
    }
    if (!passwordMatches(body.value['password'])) return sendJson(res, 401, error('invalid_credentials', body.value));
    if (deps.faults.has('hostile') && ++hostileRequests % HOSTILE_REFUSE_EVERY === 0) {
      return sendJson(res, 401, error('invalid_credentials', body.value));
    }
    sendJson(res, 200, await issue(userId));
  }

  async function refresh(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readJsonObject(req);
    // A broken refresh endpoint fails whatever it is sent.
    if (deps.faults.has('token_refresh_broken')) return sendJson(res, 500, { error: 'internal_error' });
    if (body.kind !== 'ok') return badBody(res, body);
    const userId = refreshTokens.redeem(body.value['refresh_token']);
    if (userId === undefined) return sendJson(res, 401, error('invalid_refresh_token', body.value));
    sendJson(res, 200, await issue(userId));
  }

  function route(req: IncomingMessage, res: ServerResponse): Promise<void> | void {
    const path = pathOf(req.url);
    if (path === '/health') {
      if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: 'method_not_allowed' }, { allow: 'GET' });
      return sendJson(res, 200, { status: 'healthy', uptime_s: deps.uptimeSeconds(), version: config.version });
    }
    if (path === '/auth/token' || path === '/auth/refresh') {
      if (req.method !== 'POST') return sendJson(res, 405, { error: 'method_not_allowed' }, { allow: 'POST' });
      return path === '/auth/token' ? token(req, res) : refresh(req, res);
    }
    sendJson(res, 404, { error: 'not_found' });
  }

  return {
    handle(req, res) {
      Promise.resolve(route(req, res)).catch(() => {
        if (!res.headersSent) sendJson(res, 500, { error: 'internal_error' });
        else res.destroy();
      });
    },
    clear() {
      refreshTokens.clear();
    },
  };
}
