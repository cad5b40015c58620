/**
 * The `hostile` fault (docs/protocol.md, "Faults"): the service plays an adversary that hands back
 * every secret it can lay hands on, so that a test can prove wsgate prints and writes none of them
 * (test/cli/secrets.e2e.test.ts). It echoes the client's token as the selected subprotocol, puts tokens
 * into error frames, close reasons (as much as the 123-byte limit allows), HTTP error bodies and
 * headers, links them in URLs with user info and query strings, and reports its own JWT secret in
 * `/health`. Pure helpers; the chat backend and the auth service call them when the fault is on.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';

/** RFC 6455 §5.5: a control frame's payload is at most 125 bytes, 2 of them the close code. */
export const MAX_CLOSE_REASON_BYTES = 123;

/** Every how-manyth accepted connection is refused in-band (error frame with the token, then a close). */
export const HOSTILE_REFUSE_EVERY = 4;

/** Every how-manyth agent run also gets a stray event whose user and run id are the token. */
export const HOSTILE_STRAY_EVERY = 3;

/** Close code of the in-band refusal (application range). */
export const HOSTILE_CLOSE_CODE = 4403;

/** `reason` followed by as much of `secret` as fits in a close frame. */
export function closeReasonWith(reason: string, secret: string): string {
  let text = `${reason} ${secret}`.trim();
  while (Buffer.byteLength(text, 'utf8') > MAX_CLOSE_REASON_BYTES) text = text.slice(0, -1);
  return text;
}

/** The `jwt.<token>` subprotocol a client offered, which a hostile server selects (echoing the token). */
export function echoedSubprotocol(offered: ReadonlySet<string>): string | undefined {
  for (const p of offered) if (p.startsWith('jwt.') && p.length > 4) return p;
  return undefined;
}

/** Everything secret-looking a request carried: the bearer token, the `jwt.` subprotocol's token, the query. */
function secretsOf(req: IncomingMessage): string[] {
  const found: string[] = [];
  const authorization = req.headers.authorization;
  if (authorization) found.push(authorization.replace(/^Bearer[ \t]+/i, ''));
  for (const p of (req.headers['sec-websocket-protocol'] ?? '').split(',')) {
    const protocol = p.trim();
    if (protocol.startsWith('jwt.') && protocol.length > 4) found.push(protocol.slice(4));
  }
  const q = req.url?.indexOf('?') ?? -1;
  if (q >= 0 && req.url) found.push(req.url.slice(q + 1));
  return found;
}

/** A URL that carries `secret` in its user info and its query string, as a leaky redirect would. */
function credentialedUrl(secret: string): string {
  const s = encodeURIComponent(secret);
  return `https://wsgate:${s}@hostile.invalid/ws?access_token=${s}&sig=${s}`;
}

/** The requests whose upgrade is being refused, so the refusal can echo what they carried. */
const pending = new WeakMap<Duplex, IncomingMessage>();

/** Remembers the request behind an upgrade socket until it is refused or accepted. */
export function noteUpgrade(socket: Duplex, req: IncomingMessage): void {
  pending.set(socket, req);
}

/** A refusal's body and headers, with everything the request carried echoed back. */
export function hostileRefusal(
  socket: Duplex,
  body: unknown,
  headers: Record<string, string> | undefined,
): { body: unknown; headers: Record<string, string> } {
  const req = pending.get(socket);
  const secrets = req ? secretsOf(req) : [];
  const first = secrets[0] ?? 'none';
  return {
    body: {
      ...(typeof body === 'object' && body !== null ? body : { error: String(body) }),
      message: `refused the token ${first}`,
      received: secrets,
      retry: credentialedUrl(first),
    },
    headers: {
      ...headers,
      // A header value must stay on one line and in Latin-1: tokens are base64url, so they do.
      'WWW-Authenticate': `Bearer error="invalid_token", error_description="token ${first.replace(/[^\x20-\x7e]/g, '')}"`,
      Location: credentialedUrl(first),
    },
  };
}

/** An HTTP error body of the auth service, with the credentials the request sent echoed back. */
export function hostileAuthError(error: string, received: Record<string, unknown>): Record<string, unknown> {
  const password = typeof received['password'] === 'string' ? received['password'] : '';
  const refresh = typeof received['refresh_token'] === 'string' ? received['refresh_token'] : '';
  const echoed = password || refresh || 'none';
  return { error, message: `${error} for ${echoed}`, received, retry: credentialedUrl(echoed) };
}

/** The `/health` status a hostile backend reports: its own signing secret, raw and in a URL. */
export function hostileHealthStatus(secret: string): string {
  return `degraded: config ${credentialedUrl(secret)} secret ${secret}`;
}
