/**
 * Text from the other side (close reasons, error frames, refusal reasons, user and run ids a server
 * sent, exception messages), cleaned before wsgate prints it or writes it anywhere: a hostile or
 * careless server can hand back the token it was sent, the shared secret, the password. Known secrets
 * (the run's own, from its environment) are cut out exactly; anything secret-shaped is cut out by its
 * shape: URLs' user info and query values (lib/core/url.ts), JWTs and their truncated heads, `jwt.<token>`
 * subprotocols, bearer credentials, `password=`-style pairs, long random-looking strings.
 * Pure module: runs on both engines and in the CLI.
 */
import { redactText } from './url.ts';

/** The variables that hold a secret wsgate itself knows; their values never appear in output. */
const SECRET_VARIABLES = [
  'WSGATE_JWT_SECRET',
  'WSGATE_AUTH_PASSWORD',
  'WSGATE_SERVER_API_KEY',
  'WSGATE_ADMIN_TOKEN',
  'WSGATE_WEBHOOK_URL',
] as const;

/** Shorter known secrets are not cut out by value (they would shred innocent text); shapes still apply. */
const MIN_SECRET_LENGTH = 6;

/** What stands where something secret-shaped was. */
export const REDACTED = '<redacted>';
/** What stands where one of the run's own secrets was (URL-safe, as lib/core/url.ts writes it). */
export const KNOWN = 'REDACTED';

/** The values of {@link SECRET_VARIABLES} in `env` worth searching for, longest first. */
export function secretsFrom(env: Readonly<Record<string, string | undefined>>): string[] {
  const found = new Set<string>();
  for (const name of SECRET_VARIABLES) {
    const value = env[name];
    if (value === undefined || value.length < MIN_SECRET_LENGTH) continue;
    found.add(value);
    // The same secret as it appears in URLs and JSON strings.
    let encoded = value;
    try {
      encoded = encodeURIComponent(value);
    } catch {
      // a lone surrogate: the raw value is all there is
    }
    found.add(encoded);
    found.add(JSON.stringify(value).slice(1, -1));
  }
  return [...found].sort((a, b) => b.length - a.length);
}

// A JWT (header.payload.signature), or the head of one cut short (close reasons hold 123 bytes).
// Every JSON header starts `{"`, which base64url writes as `eyJ`.
const JWT_HEAD = /eyJ[A-Za-z0-9_-]{4,}(?:\.[A-Za-z0-9_-]*){0,2}/g;
// Any three long base64url parts joined by dots (a JWS whose header is not JSON-first).
const JWS = /[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/g;
// The token-carrying subprotocol, whatever follows it.
const JWT_PROTOCOL = /\bjwt\.[^\s,;"'()<>\]]+/gi;
// A bearer credential (RFC 6750's token68); prose says "bearer token", whose next word is short.
const BEARER = /\b(Bearer)([ \t]+)[A-Za-z0-9._~+/-]{8,}=*/gi;
// key=value and "key": "value" pairs whose key says secret.
const SECRET_PAIR =
  /\b((?:access_|refresh_|id_|api_|auth_)?(?:token|secret|password|passwd|pwd|api[_-]?key|apikey|key|signature|sig|credential)s?)(["']?\s*[:=]\s*["']?)([^\s"',;&)}\]]+)/gi;
// Long runs of base64url / base64 / hex: random values (tokens, keys, refresh tokens).
const LONG_RUN = /[A-Za-z0-9_+-]{32,}={0,2}/g;

const count = (run: string, re: RegExp): number => run.match(re)?.length ?? 0;

/**
 * A long run that looks random rather than like a name or an id wsgate makes (those are lowercase,
 * or words with a capital or two): hex, or mixed case throughout with digits.
 */
function looksRandom(run: string): boolean {
  if (/^[0-9a-f]{32,}$/i.test(run)) return true;
  return count(run, /[A-Z]/g) >= 3 && count(run, /[a-z]/g) >= 3 && count(run, /[0-9]/g) >= 1;
}

/**
 * `text` with every known secret and every secret-shaped substring replaced by `<redacted>`. `secrets`
 * are the run's own (see {@link secretsFrom}). Cheap on short text; empty text costs nothing.
 */
export function redactSecrets(text: string, secrets: readonly string[] = []): string {
  if (text === '') return text;
  // Known secrets first, wherever they are (a URL's path included), with a marker a URL can hold;
  // then URLs, whose user info and query values go whatever they hold; then shapes.
  let out = text;
  for (const secret of secrets) if (secret.length >= MIN_SECRET_LENGTH && out.includes(secret)) out = out.split(secret).join(KNOWN);
  out = redactText(out);
  out = out.replace(JWT_PROTOCOL, `jwt.${REDACTED}`);
  out = out.replace(JWT_HEAD, REDACTED);
  out = out.replace(JWS, REDACTED);
  out = out.replace(BEARER, `$1$2${REDACTED}`);
  out = out.replace(SECRET_PAIR, (all, key: string, sep: string, value: string) =>
    value.length < 4 || /^\d+$/.test(value) || value === REDACTED || value === 'REDACTED' ? all : `${key}${sep}${REDACTED}`,
  );
  out = out.replace(LONG_RUN, (run) => (looksRandom(run) ? REDACTED : run));
  return out;
}

/** A redactor bound to the secrets of one environment (computed once). */
export function redactorFor(env: Readonly<Record<string, string | undefined>>): (text: string) => string {
  let secrets: string[] | undefined;
  return (text) => redactSecrets(text, (secrets ??= secretsFrom(env)));
}
