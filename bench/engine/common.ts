/**
 * What the engine's minimal scripts share, as plain as a hand-written script on wsgate's engine would
 * be: the engine's scripting API is the runtime port (`#runtime`: sockets, metrics, HMAC), as k6's is
 * k6/websockets, k6/metrics and k6/crypto for bench/k6/common.ts, which these mirror line for line:
 * the timeline the harness hands over in BENCH_* variables, a per-user HS256 token over the claims
 * wsgate's mint source signs (sub, iss, aud, iat, exp, jti), and a handleSummary that writes the
 * engine's metric values to BENCH_SUMMARY_FILE.
 */
import { runtime } from '#runtime';

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
  const v = Number(runtime.env[name]);
  if (!Number.isFinite(v)) throw new Error(`${name} is "${runtime.env[name]}"; the bench harness sets it to a number`);
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
  const v = runtime.env[name];
  if (!v) throw new Error(`${name} is not set; the bench harness sets it`);
  return v;
}

/** The users of this VU's iteration: [first, first + perVu), cut at `users`. */
export function usersOf(t: Timeline, vuIndex: number): number[] {
  const first = vuIndex * t.perVu;
  const n = Math.max(0, Math.min(t.users, first + t.perVu) - first);
  return Array.from({ length: n }, (_, i) => first + i);
}

const HEADER = runtime.base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));

/** An HS256 access token for `sub`, shaped like the reference auth service's. */
export async function mint(secret: string, sub: string, iss: string, aud: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jti = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
  const body = `${HEADER}.${runtime.base64url(JSON.stringify({ sub, iss, aud, iat: now, exp: now + 900, jti }))}`;
  return `${body}.${await runtime.hmacSha256(secret, body)}`;
}

export const sleep = (ms: number): Promise<void> => runtime.sleep(Math.max(0, ms));

/** The engine's end-of-test metric values, for the harness to read. */
export function summaryFile(data: { metrics: Record<string, { values?: Record<string, number> }> }): Record<string, string> {
  const out: Record<string, Record<string, number>> = {};
  for (const [name, m] of Object.entries(data.metrics)) if (m.values) out[name] = m.values;
  return { [env('BENCH_SUMMARY_FILE')]: JSON.stringify({ metrics: out }) };
}

let warned = 0;
/** At most a few lines per worker: enough to explain a failure, never a flood. */
export function warn(line: string): void {
  if (++warned <= 3) console.warn(line);
}
