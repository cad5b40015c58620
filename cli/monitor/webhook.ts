/**
 * Alerts to a webhook as Slack-compatible JSON (`{"text", "attachments": [{"color", "fields"}]}`,
 * which Slack incoming webhooks, Mattermost and most chat bridges accept).
 *
 * Delivery never blocks monitoring: {@link WebhookSender.send} queues and returns at once; one worker
 * posts the queue in order (so a RESOLVED never overtakes its ALERT), each request with a timeout,
 * retrying network errors, timeouts, 429 and 5xx with backoff. Other 4xx answers are final (the
 * payload will not get better). At exit, {@link WebhookSender.drain} waits a bounded time.
 *
 * Payloads hold only what the monitor prints: no token, no secret, no webhook URL (which is itself a
 * credential for Slack); the URL is only ever shown as its origin.
 */
import { redactSecrets } from '../../lib/core/redact.ts';

interface NotificationField {
  title: string;
  value: string;
  short?: boolean;
}

export interface Notification {
  kind: 'alert' | 'resolved' | 'rollback';
  /** Colours the attachment: critical red, warning amber, ok green. */
  level: 'critical' | 'warning' | 'ok';
  /** The line the console printed. */
  text: string;
  fields: NotificationField[];
  /** Milliseconds since the epoch. */
  at: number;
}

export interface SlackPayload {
  text: string;
  attachments: { color: string; fallback: string; fields: NotificationField[]; footer: string; ts: number }[];
}

const COLORS: Record<Notification['level'], string> = { critical: '#d1242f', warning: '#d4a72c', ok: '#1a7f37' };

export function slackPayload(n: Notification, title: string): SlackPayload {
  return {
    text: `${title}: ${n.text}`,
    attachments: [{ color: COLORS[n.level], fallback: n.text, fields: n.fields, footer: 'wsgate monitor', ts: Math.floor(n.at / 1000) }],
  };
}

/** The origin of a URL, the only part of a webhook URL that may be shown. */
export function webhookOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '<unparseable URL>';
  }
}

export interface DeliveryResult {
  kind: Notification['kind'];
  text: string;
  ok: boolean;
  attempts: number;
  /** The last HTTP status, when there was one. */
  status?: number;
  /** Why the last attempt failed, when it did. */
  error?: string;
}

export interface WebhookOptions {
  /** Retries after the first attempt. */
  retries?: number;
  /** Pause before retry i (the last value repeats). */
  backoffMs?: readonly number[];
  /** Per request. */
  timeoutMs?: number;
  /** Queue bound; beyond it the oldest undelivered notification is dropped (and reported). */
  maxQueue?: number;
  title?: string;
  fetch?: typeof fetch;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  onResult?: (r: DeliveryResult) => void;
}

const WEBHOOK_DEFAULTS = { retries: 3, backoffMs: [500, 1000, 2000], timeoutMs: 5000, maxQueue: 100 } as const;

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}

export class WebhookSender {
  private readonly queue: Notification[] = [];
  private worker: Promise<void> | undefined;
  private readonly stop = new AbortController();
  private readonly retries: number;
  private readonly backoffMs: readonly number[];
  private readonly timeoutMs: number;
  private readonly maxQueue: number;
  private readonly title: string;
  private readonly doFetch: typeof fetch;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  private readonly onResult: (r: DeliveryResult) => void;
  delivered = 0;
  failed = 0;
  dropped = 0;

  constructor(
    private readonly url: string,
    options: WebhookOptions = {},
  ) {
    this.retries = options.retries ?? WEBHOOK_DEFAULTS.retries;
    this.backoffMs = options.backoffMs ?? WEBHOOK_DEFAULTS.backoffMs;
    this.timeoutMs = options.timeoutMs ?? WEBHOOK_DEFAULTS.timeoutMs;
    this.maxQueue = options.maxQueue ?? WEBHOOK_DEFAULTS.maxQueue;
    this.title = options.title ?? 'wsgate monitor';
    this.doFetch = options.fetch ?? fetch;
    this.sleep = options.sleep ?? abortableSleep;
    this.onResult = options.onResult ?? (() => undefined);
  }

  /** Notifications queued or in flight. */
  get pending(): number {
    return this.queue.length + (this.busy ? 1 : 0);
  }

  private busy = false;

  /** Queues a notification and returns at once. */
  send(n: Notification): void {
    if (this.stop.signal.aborted) return;
    this.queue.push(n);
    if (this.queue.length > this.maxQueue) {
      const old = this.queue.shift();
      this.dropped++;
      if (old) this.onResult({ kind: old.kind, text: old.text, ok: false, attempts: 0, error: `dropped: more than ${this.maxQueue} notifications waiting` });
    }
    // The worker starts on a later turn of the event loop: even the first fetch's set-up cost is not
    // paid inside the caller's window loop.
    this.worker ??= new Promise<void>((r) => setImmediate(r))
      .then(() => this.work())
      .finally(() => {
        this.worker = undefined;
      });
  }

  private async work(): Promise<void> {
    for (let n = this.queue.shift(); n; n = this.queue.shift()) {
      this.busy = true;
      const r = await this.deliver(n);
      this.busy = false;
      if (r.ok) this.delivered++;
      else this.failed++;
      this.onResult(r);
      if (this.stop.signal.aborted) break;
    }
  }

  private async deliver(n: Notification): Promise<DeliveryResult> {
    const body = JSON.stringify(slackPayload(n, this.title));
    let last: Pick<DeliveryResult, 'status' | 'error'> = {};
    for (let attempt = 1; ; attempt++) {
      // One signal for both the per-request timeout and giving up at exit.
      const request = new AbortController();
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        request.abort();
      }, this.timeoutMs);
      const onStop = (): void => request.abort();
      this.stop.signal.addEventListener('abort', onStop, { once: true });
      const signal = request.signal;
      let retryable: boolean;
      try {
        const res = await this.doFetch(this.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal, redirect: 'error' });
        await res.body?.cancel().catch(() => undefined);
        if (res.ok) return { kind: n.kind, text: n.text, ok: true, attempts: attempt, status: res.status };
        last = { status: res.status, error: `HTTP ${res.status}` };
        retryable = res.status === 429 || res.status >= 500;
      } catch (err) {
        const e = err as { code?: string; cause?: { code?: string; message?: string }; message?: string };
        // fetch's own messages can quote the whole URL (a credential): only its shape-free remainder is kept.
        const why = e.cause?.code ?? e.code ?? e.cause?.message ?? e.message ?? String(err);
        last = { error: timedOut ? `no answer within ${this.timeoutMs} ms` : this.stop.signal.aborted ? 'given up at exit' : redactSecrets(why, [this.url]) };
        retryable = !this.stop.signal.aborted;
      } finally {
        clearTimeout(timer);
        this.stop.signal.removeEventListener('abort', onStop);
      }
      if (!retryable || attempt > this.retries) return { kind: n.kind, text: n.text, ok: false, attempts: attempt, ...last };
      await this.sleep(this.backoffMs[Math.min(attempt - 1, this.backoffMs.length - 1)] ?? 1000, this.stop.signal);
      if (this.stop.signal.aborted) return { kind: n.kind, text: n.text, ok: false, attempts: attempt, error: 'given up at exit' };
    }
  }

  /**
   * Waits up to `ms` (or until `cut` aborts) for everything queued to be delivered or to fail, then
   * gives up on the rest: the request in flight is aborted and what is still queued is reported as
   * not delivered.
   */
  async drain(ms: number, cut?: AbortSignal): Promise<{ delivered: number; failed: number; abandoned: number }> {
    if (this.worker && !cut?.aborted) {
      let timer: NodeJS.Timeout | undefined;
      let onCut: (() => void) | undefined;
      await Promise.race([
        this.worker,
        new Promise<void>((r) => {
          timer = setTimeout(r, ms);
          onCut = () => r();
          cut?.addEventListener('abort', onCut, { once: true });
        }),
      ]);
      clearTimeout(timer);
      if (onCut) cut?.removeEventListener('abort', onCut);
    }
    const abandoned = this.queue.length;
    for (const n of this.queue.splice(0)) this.onResult({ kind: n.kind, text: n.text, ok: false, attempts: 0, error: 'not sent: time ran out at exit' });
    this.stop.abort();
    await this.worker;
    return { delivered: this.delivered, failed: this.failed + abandoned, abandoned };
  }
}
