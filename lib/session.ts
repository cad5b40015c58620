/**
 * One connection on the runtime's event loop, in the dialect's vocabulary (lib/dialects/), with
 * promises instead of callbacks so checks read as steps. A VU can hold many sessions at once. Every
 * session guards isolation: any per-user message that belongs to another user counts as a violation,
 * whatever the scenario.
 *
 * A session is held by the thousand in stress runs, so it keeps little per connection: promises and
 * arrays are made only when someone asks for them, and there is one handler object per session.
 */
import { runtime } from '#runtime';
import type { RuntimeSocket } from './runtime/port.ts';
import type { Config } from './core/config.ts';
import { dialectFor } from './dialect-for.ts';
import type { DialectCodec, Inbound, TokenCarrier } from './dialects/dialect.ts';
import { connectionSuccess, greetingLatency, isolationChecked, isolationViolations } from './metrics.ts';
import { warn } from './observe.ts';

export type SessionState = 'connecting' | 'open' | 'closed';

export interface CloseInfo {
  code: number;
  reason: string;
  /** Milliseconds between the greeting and the close (0 if it never opened). */
  afterMs: number;
}

export interface SessionOptions {
  userId: string;
  token: string | undefined;
  carrier?: TokenCarrier;
  /** Milliseconds to wait for the server's greeting. */
  connectTimeoutMs?: number;
  /** Whether the attempt counts in wsgate_connection_success (negative controls do not). */
  countsTowardSuccess?: boolean;
  /** Overrides the configured Origin; null sends none. */
  origin?: string | null;
}

interface Waiter {
  match: (m: Inbound) => boolean;
  resolve: (m: Inbound | undefined) => void;
  timer: ReturnType<typeof setTimeout>;
}

const REPLIES: string[] = [];

export class Session {
  state: SessionState = 'connecting';
  /** The server's greeting, once received. */
  established: Extract<Inbound, { kind: 'connected' }> | undefined;
  /** Why the server refused the connection in-band (an error or a close before the greeting). */
  refusal: string | undefined;
  closeInfo: CloseInfo | undefined;
  readonly userId: string;
  /** HTTP status of a refused handshake (401, 403, ...), 0 when no HTTP answer came; undefined if not refused. */
  refusedStatus: number | undefined;
  /** The subprotocol the server selected; never logged or tagged (a hostile server may echo a token). */
  protocol = '';
  /** The WebSocket handshake completed (HTTP 101), whatever happened after. */
  upgraded = false;
  readonly codec: DialectCodec;
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
  private listeners: ((m: Inbound) => void)[] | undefined;
  private foreignMessages: Inbound[] | undefined;

  constructor(config: Config, opts: SessionOptions) {
    this.userId = opts.userId;
    this.counts = opts.countsTowardSuccess !== false;
    const dialect = dialectFor(config);
    this.codec = dialect.codec(opts.userId);
    const origin = opts.origin === null ? undefined : (opts.origin ?? config.origin);
    const plan = dialect.handshake(config.wsUrl, opts.token, opts.carrier ?? dialect.carriers[0] ?? 'header', origin);
    const token = opts.token;
    this.ws = runtime.openSocket(
      plan.url,
      { headers: plan.headers, protocols: plan.protocols },
      {
        onOpen: (info) => {
          this.upgraded = true;
          this.protocol = info.protocol;
          for (const frame of this.codec.opening(token)) this.ws.send(frame);
        },
        onMessage: (data) => this.dispatch(data),
        onRefused: (status) => (this.refusedStatus = status),
        onClose: (code, reason) => this.onClose(code, reason),
      },
    );
    this.readyTimer = setTimeout(() => this.settleReady(undefined), opts.connectTimeoutMs ?? 10_000);
  }

  /** Messages that belonged to another user; each was counted in wsgate_isolation_violations. */
  get foreign(): readonly Inbound[] {
    return this.foreignMessages ?? [];
  }

  /** Resolves true once the server greeted this user, false otherwise. */
  opened(): Promise<boolean> {
    if (this.readyResult !== undefined) return Promise.resolve(this.readyResult);
    return new Promise((resolve) => (this.readyWaiters ??= []).push(resolve));
  }

  /** Resolves when the connection closes, whoever closed it. */
  closed(): Promise<CloseInfo> {
    if (this.closeInfo) return Promise.resolve(this.closeInfo);
    return new Promise((resolve) => (this.closeWaiters ??= []).push(resolve));
  }

  /** Sends one encoded frame; false when the connection is not open or the dialect has no such message. */
  send(frame: string | undefined): boolean {
    if (frame === undefined || this.ws.readyState !== 1) return false;
    this.ws.send(frame);
    return true;
  }

  /** The next message matching `match`, or undefined on timeout or close. */
  next(match: (m: Inbound) => boolean, timeoutMs: number): Promise<Inbound | undefined> {
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

  /**
   * Is the connection alive? With an application ping (the dialect's), whether the server answers it
   * within `timeoutMs`; without one, whether the connection is still open (a server that expects
   * heartbeats answered has had them answered all along).
   */
  async alive(id: string, timeoutMs: number): Promise<boolean> {
    if (this.state !== 'open') return false;
    const frame = this.codec.ping(id);
    if (frame === undefined) return this.state === 'open';
    this.send(frame);
    return (await this.next((m) => m.kind === 'pong' && m.id === id, timeoutMs)) !== undefined;
  }

  /** Calls `fn` for every message from now on. */
  onMessage(fn: (m: Inbound) => void): void {
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

  private settleReady(m: Extract<Inbound, { kind: 'connected' }> | undefined): void {
    if (this.readyResult !== undefined) return;
    clearTimeout(this.readyTimer);
    this.readyTimer = undefined;
    this.established = m;
    // A server that says which user this is must say ours; one that does not is taken at its word.
    const ok = m !== undefined && (m.userId === undefined || m.userId === this.userId);
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
    if (this.readyResult === undefined && this.refusal === undefined) this.refusal = `closed with ${code}${reason ? ' ' + reason : ''} before the greeting`;
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
    const messages = this.codec.decode(data, REPLIES);
    // Heartbeats the server expects answered are answered at once, before anything else. One array
    // serves every session: decoding is synchronous, so it is always empty between frames.
    while (REPLIES.length > 0) this.send(REPLIES.shift());
    for (const m of messages) this.handle(m);
  }

  private handle(m: Inbound): void {
    if (this.readyResult === undefined) {
      if (m.kind === 'connected') {
        this.settleReady(m);
        return;
      }
      if (m.kind === 'refused') {
        this.refusal = m.reason;
        this.settleReady(undefined);
        return;
      }
    }
    const owner = m.owner;
    if (owner !== undefined) {
      this.guarded++;
      if (owner !== this.userId) {
        const foreign = (this.foreignMessages ??= []);
        foreign.push(m);
        isolationViolations.add(1);
        if (foreign.length <= 3) warn(`ISOLATION user ${this.userId} received ${m.label} belonging to ${owner}`);
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
