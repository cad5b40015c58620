/**
 * The handshake as a status code: "refused with exactly 403" needs the HTTP status of a refused
 * upgrade, which the runtime port reports on both engines (SocketHandlers.onRefused). A probe closes
 * as soon as it has the server's first message.
 */
import { runtime } from '#runtime';
import type { Config } from './config.ts';
import { authFailures, connectionSuccess } from './metrics.ts';
import { handshakeParts, isConnectionEstablished, parseFrame } from './protocol/chat.ts';
import type { ServerMessage, TokenCarrier } from './protocol/chat.ts';

export interface HandshakeResult {
  /** HTTP status of the upgrade: 101 on success; 0 when no HTTP answer came at all. */
  status: number;
  /** The server's first message after a 101, when it came within the wait. */
  first: ServerMessage | undefined;
  /** The subprotocol the server selected. */
  protocol: string | undefined;
  /** Transport error text, if any (never includes headers, so never a token). */
  error: string | undefined;
}

export interface ProbeOptions {
  token: string | undefined;
  carrier?: TokenCarrier;
  /** Overrides the configured Origin; null sends none. */
  origin?: string | null;
  /** For handshakes that should succeed: record them in wsgate_connection_success and wsgate_auth_failures. */
  expectSuccess?: boolean;
  firstMessageTimeoutMs?: number;
}

/** How long a probe waits for an HTTP answer at all before giving up on the handshake. */
const HANDSHAKE_TIMEOUT_MS = 10_000;

export function probeHandshake(config: Config, opts: ProbeOptions): Promise<HandshakeResult> {
  const origin = opts.origin === null ? undefined : (opts.origin ?? config.origin);
  const parts = handshakeParts(opts.token, opts.carrier ?? 'header', origin);
  return new Promise((resolve) => {
    let status = 0;
    let first: ServerMessage | undefined;
    let protocol: string | undefined;
    let error: string | undefined;
    let timer = setTimeout(() => socket.close(), HANDSHAKE_TIMEOUT_MS);
    const socket = runtime.openSocket(
      config.wsUrl,
      { headers: parts.headers, protocols: parts.protocols },
      {
        onOpen(info) {
          status = 101;
          protocol = info.protocol;
          clearTimeout(timer);
          timer = setTimeout(() => socket.close(), opts.firstMessageTimeoutMs ?? 5000);
        },
        onMessage(data) {
          if (first !== undefined) return;
          first = parseFrame(data);
          socket.close();
        },
        onRefused(refusedStatus, why) {
          status = refusedStatus;
          error = why;
        },
        onClose() {
          clearTimeout(timer);
          if (opts.expectSuccess) {
            connectionSuccess.add(status === 101 && first !== undefined && isConnectionEstablished(first));
            authFailures.add(status === 401 || status === 403);
          }
          resolve({ status, first, protocol, error });
        },
      },
    );
  });
}

/** "101 + connection_established for u1", "403", "no answer (dial tcp: connection refused)". */
export function describeHandshake(r: HandshakeResult): string {
  if (r.status === 0) return `no HTTP answer (${r.error ?? 'unknown error'})`;
  if (r.status !== 101) return `HTTP ${r.status}`;
  if (!r.first) return 'HTTP 101 but no first message';
  return `HTTP 101, first message ${r.first.type}${r.first['user_id'] ? ' for ' + String(r.first['user_id']) : ''}`;
}
