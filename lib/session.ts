/**
 * One chat connection on the runtime's event loop, with promises instead of callbacks so checks read
 * as steps. A VU can hold many sessions at once. Every session guards isolation: any
 * per-user message that names another user counts as a violation, whatever the scenario.
 *
 * A session is held by the thousand in stress runs, so it keeps little per connection: promises and
 * arrays are made only when someone asks for them, and the socket's handlers are the same few
 * functions for every session.
 */
import { runtime } from '#runtime';
import type { RuntimeSocket } from './runtime/port.ts';
import type { Config } from './config.ts';
import { connectionSuccess, greetingLatency, isolationChecked, isolationViolations } from './metrics.ts';
import { handshakeParts, isConnectionEstablished, ownerOf, parseFrame } from './protocol/chat.ts';
import type { ClientMessage, ServerMessage, TokenCarrier } from './protocol/chat.ts';

export type SessionState = 'connecting' | 'open' | 'closed';

export interface CloseInfo {
  code: number;
  reason: string;
  /** Milliseconds between connection_established and the close (0 if it never opened). */
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
  /** Overrides the configured Origin; null sends none. */
  origin?: string | null;
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
  readonly userId: string;
  /** HTTP status of a refused handshake (401, 403, ...), 0 when no HTTP answer came; undefined if not refused. */
  refusedStatus: number | undefined;
  /** The subprotocol the server selected; never logged or tagged (a hostile server may echo a token). */
  protocol = '';
  private readonly ws: RuntimeSocket;
  private readonly counts: boolean;
  private openedAt = 0;
  private readonly startedAt = Date.now();
  /** Per-user messages the isolation guard examined; added to wsgate_isolation_checked once, at close. */
  private guarded = 0;
  private readyTimer: ReturnType<typeof setTimeout> | undefined;
  private readyResult: boolean | undefined;
  private readyWaiters: ((ok: boolean) => void)[] | undefined;
  private closeWaiters: ((c: CloseInfo) => void)[] | undefined;
  private waiters: Waiter[] | undefined;
  private listeners: ((m: ServerMessage) => void)[] | undefined;
  private foreignMessages: ServerMessage[] | undefined;

  constructor(config: Config, opts: SessionOptions) {
    this.userId = opts.userId;
    this.counts = opts.countsTowardSuccess !== false;
    const origin = opts.origin === null ? undefined : (opts.origin ?? config.origin);
    const parts = handshakeParts(opts.token, opts.carrier ?? 'header', origin);
    this.ws = runtime.openSocket(
      config.wsUrl,
      { headers: parts.headers, protocols: parts.protocols },
      {
        onOpen: (info) => (this.protocol = info.protocol),
        onMessage: (data) => this.dispatch(data),
        onRefused: (status) => (this.refusedStatus = status),
        onClose: (code, reason) => this.onClose(code, reason),
      },
    );
    this.readyTimer = setTimeout(() => this.settleReady(undefined), opts.connectTimeoutMs ?? 10_000);
  }

  /** Messages that named another user; each was counted in wsgate_isolation_violations. */
  get foreign(): readonly ServerMessage[] {
    return this.foreignMessages ?? [];
  }

  /** Resolves true once connection_established arrived for this user, false otherwise. */
  opened(): Promise<boolean> {
    if (this.readyResult !== undefined) return Promise.resolve(this.readyResult);
    return new Promise((resolve) => (this.readyWaiters ??= []).push(resolve));
  }

  /** Resolves when the connection closes, whoever closed it. */
  closed(): Promise<CloseInfo> {
    if (this.closeInfo) return Promise.resolve(this.closeInfo);
    return new Promise((resolve) => (this.closeWaiters ??= []).push(resolve));
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
          this.waiters = this.waiters?.filter((w) => w !== waiter);
          resolve(undefined);
        }, timeoutMs),
      };
      (this.waiters ??= []).push(waiter);
    });
  }

  /** Calls `fn` for every message from now on. */
  onMessage(fn: (m: ServerMessage) => void): void {
    (this.listeners ??= []).push(fn);
  }

  close(code = 1000): void {
    if (this.ws.readyState === 0 || this.ws.readyState === 1) this.ws.close(code);
  }

  /** Closes and waits for the close to complete (bounded, so a dead peer cannot hang a VU). */
  async closeAndWait(timeoutMs = 5000): Promise<void> {
    this.close();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.closed(), new Promise<void>((r) => (timer = setTimeout(() => r(), timeoutMs)))]);
    // An iteration stays alive until its last timer fires: a forgotten one costs timeoutMs per iteration.
    clearTimeout(timer);
  }

  private settleReady(m: ServerMessage | undefined): void {
    if (this.readyResult !== undefined) return;
    clearTimeout(this.readyTimer);
    this.readyTimer = undefined;
    this.established = m;
    const ok = m !== undefined && m['user_id'] === this.userId;
    this.readyResult = ok;
    if (ok) {
      this.state = 'open';
      this.openedAt = Date.now();
      greetingLatency.add(this.openedAt - this.startedAt);
    }
    if (this.counts) connectionSuccess.add(ok);
    if (!ok && m === undefined) this.close();
    const waiting = this.readyWaiters;
    this.readyWaiters = undefined;
    if (waiting) for (const w of waiting) w(ok);
  }

  private onClose(code: number, reason: string): void {
    this.state = 'closed';
    this.closeInfo = { code, reason, afterMs: this.openedAt ? Date.now() - this.openedAt : 0 };
    if (this.guarded > 0) isolationChecked.add(this.guarded);
    this.settleReady(undefined);
    const waiters = this.waiters;
    this.waiters = undefined;
    if (waiters) {
      for (const w of waiters) {
        clearTimeout(w.timer);
        w.resolve(undefined);
      }
    }
    const closeWaiters = this.closeWaiters;
    this.closeWaiters = undefined;
    if (closeWaiters) for (const w of closeWaiters) w(this.closeInfo);
  }

  private dispatch(data: string): void {
    const m = parseFrame(data);
    if (!m) return;
    if (this.readyResult === undefined && isConnectionEstablished(m)) {
      this.settleReady(m);
      return;
    }
    const owner = ownerOf(m);
    if (owner !== undefined) this.guarded++;
    if (owner !== undefined && owner !== this.userId) {
      const foreign = (this.foreignMessages ??= []);
      foreign.push(m);
      isolationViolations.add(1);
      if (foreign.length <= 3) {
        console.warn(
          `ISOLATION user ${this.userId} received ${m.type}${m['run_id'] ? ' of run ' + String(m['run_id']) : ''} belonging to ${owner}`,
        );
      }
    }
    if (this.listeners) for (const l of this.listeners) l(m);
    if (!this.waiters) return;
    const keep: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.match(m)) {
        clearTimeout(w.timer);
        w.resolve(m);
      } else keep.push(w);
    }
    this.waiters = keep.length > 0 ? keep : undefined;
  }
}
