/**
 * One chat connection on k6's event loop (k6/websockets), with promises instead of callbacks so
 * checks read as steps. A VU can hold many sessions at once. Every session guards isolation: any
 * per-user message that names another user counts as a violation, whatever the scenario.
 */
import { WebSocket } from 'k6/websockets';
import type { Config } from './config.ts';
import { redactUrl } from './config.ts';
import { connectionSuccess, isolationViolations } from './metrics.ts';
import { handshakeParts, isConnectionEstablished, ownerOf, parseFrame } from './protocol/chat.ts';
import type { ClientMessage, ServerMessage, TokenCarrier } from './protocol/chat.ts';

export type SessionState = 'connecting' | 'open' | 'closed';

export interface CloseInfo {
  code: number;
  reason: string;
  /** Milliseconds between the session opening and closing. */
  afterMs: number;
}

export interface SessionOptions {
  userId: string;
  token: string | undefined;
  carrier?: TokenCarrier;
  /** Milliseconds to wait for connection_established. */
  connectTimeoutMs?: number;
  /** Whether the attempt counts in wsgate_connection_success (negative controls do not). */
  countsTowardSuccess?: boolean;
}

interface Waiter {
  match: (m: ServerMessage) => boolean;
  resolve: (m: ServerMessage | undefined) => void;
  timer: ReturnType<typeof setTimeout>;
}

export class Session {
  state: SessionState = 'connecting';
  /** The connection_established message, once received. */
  established: ServerMessage | undefined;
  closeInfo: CloseInfo | undefined;
  /** Messages that named another user; each was counted in wsgate_isolation_violations. */
  readonly foreign: ServerMessage[] = [];
  readonly userId: string;
  private readonly ws: WebSocket;
  private waiters: Waiter[] = [];
  private listeners: ((m: ServerMessage) => void)[] = [];
  private openedAt = 0;
  private readonly ready: Promise<boolean>;
  private readonly closedPromise: Promise<CloseInfo>;

  constructor(config: Config, opts: SessionOptions) {
    this.userId = opts.userId;
    const parts = handshakeParts(opts.token, opts.carrier ?? 'header', config.origin);
    // @types/k6 still types `protocols` as reserved; k6 v2.2 sends them (the jwt.<token> carrier).
    const protocols = (parts.protocols.length > 0 ? parts.protocols : null) as null;
    this.ws = new WebSocket(config.wsUrl, protocols, {
      headers: parts.headers,
      tags: { name: redactUrl(config.wsUrl) },
    });
    let resolveClosed: (c: CloseInfo) => void = () => undefined;
    this.closedPromise = new Promise((r) => (resolveClosed = r));
    this.ws.onopen = () => {
      this.openedAt = Date.now();
    };
    this.ws.onmessage = (e) => this.dispatch(e?.data);
    this.ws.onerror = () => {
      // The handshake status is not visible to k6/websockets; the close that follows settles things.
    };
    // @types/k6 declares onclose without its event; k6 passes {code, reason}.
    (this.ws as unknown as { onclose: (e?: { code?: number; reason?: string }) => void }).onclose = (e) => {
      this.state = 'closed';
      this.closeInfo = { code: e?.code ?? 1006, reason: e?.reason ?? '', afterMs: this.openedAt ? Date.now() - this.openedAt : 0 };
      for (const w of this.waiters) {
        clearTimeout(w.timer);
        w.resolve(undefined);
      }
      this.waiters = [];
      resolveClosed(this.closeInfo);
    };
    this.ready = this.next(isConnectionEstablished, opts.connectTimeoutMs ?? 10_000).then((m) => {
      this.established = m;
      const ok = m !== undefined && m['user_id'] === this.userId;
      if (ok) this.state = 'open';
      if (opts.countsTowardSuccess !== false) connectionSuccess.add(ok);
      if (!ok && m === undefined) this.close();
      return ok;
    });
  }

  /** Resolves true once connection_established arrived for this user, false otherwise. */
  opened(): Promise<boolean> {
    return this.ready;
  }

  /** Resolves when the connection closes, whoever closed it. */
  closed(): Promise<CloseInfo> {
    return this.closedPromise;
  }

  send(m: ClientMessage): boolean {
    if (this.ws.readyState !== 1) return false;
    this.ws.send(JSON.stringify(m));
    return true;
  }

  /** The next message matching `match`, or undefined on timeout or close. */
  next(match: (m: ServerMessage) => boolean, timeoutMs: number): Promise<ServerMessage | undefined> {
    if (this.state === 'closed') return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        match,
        resolve,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          resolve(undefined);
        }, timeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  /** Calls `fn` for every message from now on. */
  onMessage(fn: (m: ServerMessage) => void): void {
    this.listeners.push(fn);
  }

  close(code = 1000): void {
    if (this.ws.readyState === 0 || this.ws.readyState === 1) this.ws.close(code);
  }

  /** Closes and waits for the close to complete (bounded, so a dead peer cannot hang a VU). */
  async closeAndWait(timeoutMs = 5000): Promise<void> {
    this.close();
    await Promise.race([this.closedPromise, new Promise<void>((r) => setTimeout(() => r(), timeoutMs))]);
  }

  private dispatch(data: unknown): void {
    const m = parseFrame(data);
    if (!m) return;
    const owner = ownerOf(m);
    if (owner !== undefined && owner !== this.userId) {
      this.foreign.push(m);
      isolationViolations.add(1);
      if (this.foreign.length <= 3) {
        console.warn(
          `ISOLATION user ${this.userId} received ${m.type}${m['run_id'] ? ' of run ' + String(m['run_id']) : ''} belonging to ${owner}`,
        );
      }
    }
    for (const l of this.listeners) l(m);
    const keep: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.match(m)) {
        clearTimeout(w.timer);
        w.resolve(m);
      } else keep.push(w);
    }
    this.waiters = keep;
  }
}
