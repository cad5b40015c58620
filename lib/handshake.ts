/**
 * The handshake as a status code. k6/websockets hides the HTTP status of a refused upgrade, so
 * assertions like "refused with exactly 403" use the legacy k6/ws, whose connect() returns the
 * response. It blocks the VU until the socket closes, so the probe closes as soon as it has the
 * server's first message.
 */
import ws from 'k6/ws';
import type { Config } from './config.ts';
import { redactUrl } from './config.ts';
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

export function probeHandshake(config: Config, opts: ProbeOptions): HandshakeResult {
  const origin = opts.origin === null ? undefined : (opts.origin ?? config.origin);
  const parts = handshakeParts(opts.token, opts.carrier ?? 'header', origin);
  const headers: Record<string, string> = { ...parts.headers };
  if (parts.protocols.length > 0) headers['Sec-WebSocket-Protocol'] = parts.protocols.join(', ');
  let first: ServerMessage | undefined;
  let error: string | undefined;
  let res: ReturnType<typeof ws.connect> | undefined;
  try {
    res = ws.connect(config.wsUrl, { headers, tags: { name: redactUrl(config.wsUrl) } }, (socket) => {
      socket.on('message', (data) => {
        first = parseFrame(data);
        socket.close();
      });
      socket.on('error', (e) => {
        error = String(e.error());
      });
      socket.setTimeout(() => socket.close(), opts.firstMessageTimeoutMs ?? 5000);
    });
  } catch (e) {
    // Dial failures (refused, DNS, TLS) throw instead of returning a response.
    error = String(e instanceof Error ? e.message : e);
  }
  const status = res?.status ?? 0;
  const protocol = res?.headers?.['Sec-Websocket-Protocol'];
  if (opts.expectSuccess) {
    connectionSuccess.add(status === 101 && first !== undefined && isConnectionEstablished(first));
    authFailures.add(status === 401 || status === 403);
  }
  return { status, first, protocol, error: error ?? (res?.error || undefined) };
}

/** "101 + connection_established for u1", "403", "no answer (dial tcp: connection refused)". */
export function describeHandshake(r: HandshakeResult): string {
  if (r.status === 0) return `no HTTP answer (${r.error ?? 'unknown error'})`;
  if (r.status !== 101) return `HTTP ${r.status}`;
  if (!r.first) return 'HTTP 101 but no first message';
  return `HTTP 101, first message ${r.first.type}${r.first['user_id'] ? ' for ' + String(r.first['user_id']) : ''}`;
}
