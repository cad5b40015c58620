/**
 * The runtime port on k6 (any official k6 v2.2.x the user already has; wsgate never builds or ships
 * one). The only module in wsgate that imports `k6/*`.
 *
 * k6/websockets hides a refused handshake's HTTP status (the script sees `error` then `close`; the
 * status is only a tag on k6's own samples), so after a refusal this runtime repeats the same upgrade
 * request over k6/http, which does return the status. k6 has no sub-millisecond clock in JS: now() is
 * Date.now().
 */
import { check } from 'k6';
import k6crypto from 'k6/crypto';
import { b64encode } from 'k6/encoding';
import exec from 'k6/execution';
import http from 'k6/http';
import { Counter, Gauge, Rate, Trend } from 'k6/metrics';
import { WebSocket } from 'k6/websockets';
import type { HttpRequest, HttpResponse, MetricHandle, MetricKind, ReadyState, Runtime, RuntimeSocket, SocketHandlers, SocketOptions, Tags } from './port.ts';
import { redactorFor } from '../core/redact.ts';
import { redactUrl } from '../core/url.ts';
import { Pings } from './pings.ts';

/**
 * Server-sent and transport text (close reasons, handshake and request errors, abort reasons), cleaned
 * of URLs' secrets, the run's own secrets and anything token-shaped before a check or a log sees it.
 */
const clean = redactorFor(__ENV);

type K6Metric = { add(value: number | boolean, tags?: Record<string, string>): void };

/** Tag objects are interned per URL, not rebuilt for every connection. */
const tagsByUrl: Record<string, Tags> = {};

function urlTags(url: string, extra: Tags | undefined): Tags {
  const base = (tagsByUrl[url] ??= { name: redactUrl(url), url: redactUrl(url) });
  return extra ? { ...base, ...extra } : base;
}

async function request(req: HttpRequest): Promise<HttpResponse> {
  const res = await http.asyncRequest(req.method, req.url, req.body ?? null, {
    headers: req.headers ?? {},
    tags: urlTags(req.url, req.tags),
    timeout: `${req.timeoutMs ?? 60_000}ms`,
    redirects: 0,
  });
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(res.headers ?? {})) headers[k.toLowerCase()] = String(v);
  return {
    status: res.status,
    body: typeof res.body === 'string' ? res.body : '',
    error: res.status === 0 ? clean(res.error || 'no response') : undefined,
    headers,
  };
}

/** Asks the refused handshake again over k6/http to learn its status (k6/websockets does not say). */
async function refusalStatus(url: string, opts: SocketOptions): Promise<number> {
  const httpUrl = url.replace(/^ws/i, 'http');
  const headers: Record<string, string> = {
    ...opts.headers,
    Connection: 'Upgrade',
    Upgrade: 'websocket',
    'Sec-WebSocket-Version': '13',
    'Sec-WebSocket-Key': 'd3NnYXRlLXJlZnVzYWwtcHJvYmU=',
  };
  if (opts.protocols && opts.protocols.length > 0) headers['Sec-WebSocket-Protocol'] = opts.protocols.join(', ');
  const res = await http.asyncRequest('GET', httpUrl, null, { headers, tags: urlTags(url, { probe: 'handshake_status' }), timeout: '10s', redirects: 0 });
  return res.status;
}

class K6Socket implements RuntimeSocket {
  private readonly ws: WebSocket;
  private opened = false;
  private readonly pings = new Pings();

  constructor(url: string, opts: SocketOptions, handlers: SocketHandlers) {
    // @types/k6 still types `protocols` as reserved; k6 v2.2 sends them.
    const protocols = (opts.protocols && opts.protocols.length > 0 ? opts.protocols : null) as null;
    this.ws = new WebSocket(url, protocols, { headers: opts.headers ?? {}, tags: urlTags(url, opts.tags) });
    let refusal: Promise<void> | undefined;
    this.ws.onopen = () => {
      this.opened = true;
      handlers.onOpen?.({ protocol: (this.ws as unknown as { protocol?: string }).protocol ?? '' });
    };
    this.ws.onmessage = (e) => handlers.onMessage(typeof e?.data === 'string' ? e.data : '');
    this.ws.onerror = (e) => {
      if (this.opened || refusal) return;
      const message = clean(String((e as unknown as { error?: string })?.error ?? 'handshake failed'));
      refusal = refusalStatus(url, opts).then(
        (status) => handlers.onRefused?.(status === 101 ? 0 : status, message),
        () => handlers.onRefused?.(0, message),
      );
    };
    (this.ws as unknown as { onpong: () => void }).onpong = () => void this.pings.ponged(Date.now());
    // @types/k6 declares onclose without its event; k6 passes {code, reason}. A refusal's status
    // arrives before the close so callers see "refused with 403" and then "closed".
    (this.ws as unknown as { onclose: (e: { code?: number; reason?: string } | undefined) => void }).onclose = (e) => {
      const closed = () => {
        this.pings.closed();
        handlers.onClose(e?.code ?? 1006, clean(e?.reason ?? ''));
      };
      if (refusal) void refusal.then(closed);
      else closed();
    };
  }

  get readyState(): ReadyState {
    return this.ws.readyState as ReadyState;
  }

  send(data: string): void {
    if (this.ws.readyState === 1) this.ws.send(data);
  }

  close(code = 1000, reason?: string): void {
    if (this.ws.readyState === 0 || this.ws.readyState === 1) this.ws.close(code, reason);
  }

  ping(timeoutMs: number): Promise<number | undefined> {
    if (this.ws.readyState !== 1) return Promise.resolve(undefined);
    return this.pings.wait(timeoutMs, Date.now(), () => this.ws.ping());
  }
}

const METRIC_CLASSES: Record<MetricKind, new (name: string, isTime?: boolean) => K6Metric> = {
  counter: Counter,
  gauge: Gauge,
  rate: Rate,
  trend: Trend,
};

export const runtime: Runtime = {
  name: 'k6',
  env: __ENV,
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  metric(kind, name, isTime = false): MetricHandle {
    const m = new METRIC_CLASSES[kind](name, isTime);
    return { name, add: (value, tags) => m.add(value, tags) };
  },
  check: (name, ok, tags) => {
    check(null, { [name]: () => ok }, tags);
  },
  vu: () => ({
    vuIdInTest: exec.vu.idInTest,
    iterationInScenario: exec.vu.iterationInScenario,
    iterationInTest: exec.scenario.iterationInTest,
    scenario: exec.scenario.name,
    scenarioStartTime: exec.scenario.startTime,
  }),
  abort: (reason) => {
    const why = clean(reason);
    exec.test.abort(why);
    throw new Error(why);
  },
  http: request,
  openSocket: (url, opts, handlers) => new K6Socket(url, opts, handlers),
  // k6's native HMAC: 0.015 ms a token against 0.46 ms for jose's JavaScript path inside k6.
  hmacSha256: (key, data) =>
    Promise.resolve(k6crypto.hmac('sha256', typeof key === 'string' ? key : (key.buffer.slice(key.byteOffset, key.byteOffset + key.byteLength) as ArrayBuffer), data, 'base64rawurl')),
  base64url: (text) => b64encode(text, 'rawurl'),
  readFile: (path) => open(path),
};
