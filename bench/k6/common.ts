/**
 * k6's native side of its minimal scripts, as plain as a hand-written k6 script would be: __ENV, raw
 * k6/websockets, a token signed with k6's native HMAC (k6/crypto), k6's timers. What both engines'
 * scripts share (timeline, claims, judging, schedule, the iterations) is bench/lib/minimal.ts, bundled
 * in like this file.
 */
import k6crypto from 'k6/crypto';
import { b64encode } from 'k6/encoding';
import type { Rate } from 'k6/metrics';
import { WebSocket } from 'k6/websockets';
import { frameOf, greeting, handshakeHeaders, unsignedToken, userId } from '../lib/minimal.ts';
import type { Io, Target } from '../lib/minimal.ts';

/** The variables the harness hands over. */
export const env = __ENV;

/** An HS256 access token for `sub`, signed with k6's native HMAC. */
export function mint(to: Target, sub: string): string {
  const body = unsignedToken(to, sub, (text) => b64encode(text, 'rawurl'));
  return `${body}.${k6crypto.hmac('sha256', to.secret, body, 'base64rawurl')}`;
}

/** k6's sockets and timers for the shared iterations; each greeting settles `connected`. */
export function k6Io(to: Target, connected: Rate): Io<WebSocket> {
  return {
    sleep: (ms) => new Promise((r) => setTimeout(() => r(), Math.max(0, ms))),
    open(u, onFrame) {
      const ws = new WebSocket(to.url, null, { headers: handshakeHeaders(mint(to, userId(u))) });
      const greeted = greeting(connected, u);
      const closed = new Promise<void>((r) => (ws.onclose = () => r()));
      ws.onmessage = (e) => {
        const m = frameOf(String(e?.data));
        if (!greeted.frame(m.type)) onFrame?.(m);
      };
      ws.onerror = (e) => greeted.failed(`error: ${JSON.stringify(e)}`);
      return { ws, closed };
    },
  };
}
