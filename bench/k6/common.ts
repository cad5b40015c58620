/**
 * What both minimal scripts share, kept as plain as a hand-written k6 script would be: the timeline
 * the harness hands over in BENCH_* variables, a per-user HS256 token signed the way wsgate's mint
 * source signs it (k6's native HMAC over the same claims: sub, iss, aud, iat, exp, jti), and a
 * handleSummary that writes k6's metric values to BENCH_SUMMARY_FILE.
 */
import k6crypto from 'k6/crypto';
import { b64encode } from 'k6/encoding';

export interface Timeline {
  users: number;
  perVu: number;
  /** Epoch ms when user 0 connects; user u connects u / rampPerS seconds later. */
  rampStart: number;
  rampPerS: number;
  /** Epoch ms when the connections are closed. */
  holdUntil: number;
}

function num(name: string): number {
  const v = Number(__ENV[name]);
  if (!Number.isFinite(v)) throw new Error(`${name} is "${__ENV[name]}"; the bench harness sets it to a number`);
  return v;
}

export function timeline(): Timeline {
  return {
    users: num('BENCH_USERS'),
    perVu: num('BENCH_CONNECTIONS_PER_VU'),
    rampStart: num('BENCH_RAMP_START'),
    rampPerS: num('BENCH_RAMP_PER_S'),
    holdUntil: num('BENCH_HOLD_UNTIL'),
  };
}

export function env(name: string): string {
  const v = __ENV[name];
  if (!v) throw new Error(`${name} is not set; the bench harness sets it`);
  return v;
}

/** The users of this VU's iteration: [first, first + perVu), cut at `users`. */
export function usersOf(t: Timeline, vuIndex: number): number[] {
  const first = vuIndex * t.perVu;
  const n = Math.max(0, Math.min(t.users, first + t.perVu) - first);
  return Array.from({ length: n }, (_, i) => first + i);
}

const HEADER = b64encode(JSON.stringify({ alg: 'HS256', typ: 'JWT' }), 'rawurl');

/** An HS256 access token for `sub`, shaped like the reference auth service's. */
export function mint(secret: string, sub: string, iss: string, aud: string): string {
  const now = Math.floor(Date.now() / 1000);
  const jti = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
  const body = `${HEADER}.${b64encode(JSON.stringify({ sub, iss, aud, iat: now, exp: now + 900, jti }), 'rawurl')}`;
  return `${body}.${k6crypto.hmac('sha256', secret, body, 'base64rawurl')}`;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(() => r(), Math.max(0, ms)));

/** k6's end-of-test metric values, for the harness to read. */
export function summaryFile(data: { metrics: Record<string, { values?: Record<string, number> }> }): Record<string, string> {
  const out: Record<string, Record<string, number>> = {};
  for (const [name, m] of Object.entries(data.metrics)) if (m.values) out[name] = m.values;
  return { [env('BENCH_SUMMARY_FILE')]: JSON.stringify({ metrics: out }) };
}

let warned = 0;
/** At most a few lines per VU: enough to explain a failure, never a flood. */
export function warn(line: string): void {
  if (++warned <= 3) console.warn(line);
}
