/**
 * The engine's native side of its minimal scripts, as plain as a hand-written script on wsgate's
 * engine would be: the engine's scripting API is the runtime port (`#runtime`: variables, sockets,
 * HMAC, timers), as k6's is __ENV, k6/websockets, k6/crypto and its timers for bench/k6/common.ts.
 * What both engines' scripts share (timeline, claims, judging, schedule, the iterations) is
 * bench/lib/minimal.ts.
 */
import { runtime } from '#runtime';
import type { MetricHandle, RuntimeSocket } from '../../lib/runtime/port.ts';
import { frameOf, greeting, handshakeHeaders, unsignedToken, userId } from '../lib/minimal.ts';
import type { Io, Target } from '../lib/minimal.ts';

/** The variables the harness hands over. */
export const env = runtime.env;

/** An HS256 access token for `sub`, signed with the runtime's HMAC. */
export async function mint(to: Target, sub: string): Promise<string> {
  const body = unsignedToken(to, sub, (text) => runtime.base64url(text));
  return `${body}.${await runtime.hmacSha256(to.secret, body)}`;
}

/** The engine's sockets and timers for the shared iterations; each greeting settles `connected`. */
export function engineIo(to: Target, connected: MetricHandle): Io<RuntimeSocket> {
  return {
    sleep: (ms) => runtime.sleep(Math.max(0, ms)),
    async open(u, onFrame) {
      const token = await mint(to, userId(u));
      const greeted = greeting(connected, u);
      let onClosed: () => void = () => undefined;
      const closed = new Promise<void>((r) => (onClosed = r));
      const ws = runtime.openSocket(to.url, { headers: handshakeHeaders(token) }, {
        onMessage(data) {
          const m = frameOf(data);
          if (!greeted.frame(m.type)) onFrame?.(m);
        },
        onRefused: (status, error) => greeted.failed(`refused: ${status} ${error}`),
        onClose: () => onClosed(),
      });
      return { ws, closed };
    },
  };
}
