/**
 * The runtime port on wsgate's own engine: `ws` sockets, Node's fetch and WebCrypto, and the engine's
 * metric registry. The engine installs its host on globalThis before it loads a bundle: the bundle
 * carries its own copy of this module, so the host is the one object both sides share.
 *
 * Hot path: a socket's handlers are built once per socket, its sample tags once per socket, and a
 * received frame costs one metric add and one string conversion, nothing else.
 */
import { performance } from 'node:perf_hooks';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type {
  HttpRequest,
  HttpResponse,
  Identity,
  MetricHandle,
  MetricKind,
  ReadyState,
  Runtime,
  RuntimeSocket,
  SocketHandlers,
  SocketOptions,
  Tags,
} from './port.ts';
import { redactorFor } from '../core/redact.ts';
import { redactUrl } from '../core/url.ts';
import { Pings } from './pings.ts';

/** A VU's resources that an interruption must close (its sockets). */
export interface Closeable {
  terminate(): void;
}

/** What the engine provides to the bundle; see engine/host.ts. */
export interface EngineHost {
  readonly env: Readonly<Record<string, string | undefined>>;
  declare(kind: MetricKind, name: string, isTime: boolean): void;
  /** Adds a sample; the host adds the current VU's tags to `extraTags`. */
  add(name: string, value: number, extraTags: Tags | undefined): void;
  /** Adds a sample whose tags already include the VU's (built once from tags()): no merging. */
  sample(name: string, value: number, fullTags: Tags): void;
  /** The current VU's tags (scenario, scenario and test tags): one stable object per VU and scenario. */
  tags(): Tags;
  check(name: string, ok: boolean, tags: Tags | undefined): void;
  identity(): Identity;
  abort(reason: string): never;
  /** Ties a resource to the current VU so an interruption can close it; returns the VU's set (to untie). */
  track(resource: Closeable): Set<Closeable> | undefined;
  /** Waits `ms`; an interrupted iteration's sleeps end at once. */
  sleep(ms: number): Promise<void>;
  /** Undefined when another socket fits under the open-files limit; otherwise why it does not. */
  socketAllowed(): string | undefined;
  /** Sockets alive (created, not yet closed), against the open-files limit. */
  liveSockets: number;
  /** Open sockets, for the progress line. */
  socketOpened(): void;
  socketClosed(): void;
  /** The source address for the next socket (k6's --local-ips), undefined for the system's choice. */
  localAddress(): string | undefined;
}

export const HOST_KEY = Symbol.for('wsgate.engine.host');

function host(): EngineHost {
  const h = (globalThis as Record<symbol, EngineHost | undefined>)[HOST_KEY];
  if (!h) throw new Error('this bundle runs on the wsgate engine (wsgate run); no engine host is installed');
  return h;
}

let redactor: ((text: string) => string) | undefined;
/**
 * Server-sent and transport text (close reasons, handshake and request errors, abort reasons), cleaned
 * of URLs' secrets, the run's own secrets and anything token-shaped before a check or a log sees it.
 */
const clean = (text: string): string => (redactor ??= redactorFor(host().env))(text);

/** The EngineSocket a `ws` socket belongs to: the listeners are shared, `this` is the ws socket. */
const OWNER = Symbol('wsgate.engineSocket');
type OwnedWebSocket = WebSocket & { [OWNER]: EngineSocket };
const owner = (ws: WebSocket): EngineSocket => (ws as OwnedWebSocket)[OWNER];

/**
 * Tag sets per VU tags and URL, made once: thousands of sockets of one VU to one URL share one tag
 * object (and one redaction of the URL).
 */
const socketTags = new WeakMap<Tags, Map<string, Tags>>();
function tagsFor(base: Tags, url: string, extra: Tags | undefined): Tags {
  const name = redactUrl(url);
  if (extra) return { ...base, name, url: name, ...extra };
  let byUrl = socketTags.get(base);
  if (!byUrl) socketTags.set(base, (byUrl = new Map()));
  let tags = byUrl.get(url);
  if (!tags) byUrl.set(url, (tags = { ...base, name, url: name }));
  return tags;
}

// The listeners every socket shares; a closure per socket and event would cost ~0.5 KB a connection.
function onUpgrade(this: WebSocket, res: IncomingMessage): void {
  owner(this).upgraded(res);
}
function onUnexpectedResponse(this: WebSocket, req: ClientRequest, res: IncomingMessage): void {
  owner(this).refused(req, res);
}
function onOpen(this: WebSocket): void {
  owner(this).opened();
}
function onMessage(this: WebSocket, data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
  owner(this).received(data, isBinary);
}
function onPong(this: WebSocket): void {
  owner(this).ponged();
}
function onError(this: WebSocket, err: Error): void {
  owner(this).failed(err);
}
function onClose(this: WebSocket, code: number, reason: Buffer): void {
  owner(this).closed(code, reason.toString());
}

class EngineSocket implements RuntimeSocket, Closeable {
  private readonly ws: WebSocket;
  private readonly tags: Tags;
  private readonly startedAt = performance.now();
  private openedAt = 0;
  private socket: Socket | undefined;
  private status = 0;
  /** The VU's set of resources this socket is in, so an interruption can close it. */
  private readonly tracked: Set<Closeable> | undefined;
  /** Made by the first ping(): most sockets are never pinged. */
  private pings: Pings | undefined;
  private ended = false;

  constructor(url: string, opts: SocketOptions, private readonly handlers: SocketHandlers) {
    const h = host();
    this.tags = tagsFor(h.tags(), url, opts.tags);
    const localAddress = h.localAddress();
    const ws = new WebSocket(url, opts.protocols ?? [], {
      headers: opts.headers,
      handshakeTimeout: 60_000,
      perMessageDeflate: false,
      ...(localAddress ? { localAddress } : {}),
    }) as OwnedWebSocket;
    ws[OWNER] = this;
    this.ws = ws;
    h.liveSockets++;
    this.tracked = h.track(this);
    ws.on('upgrade', onUpgrade);
    ws.on('unexpected-response', onUnexpectedResponse);
    ws.on('open', onOpen);
    ws.on('message', onMessage);
    ws.on('pong', onPong);
    ws.on('error', onError);
    ws.on('close', onClose);
  }

  get readyState(): ReadyState {
    return this.ws.readyState as ReadyState;
  }

  /** Closeable: an interrupted iteration's sockets are cut at once. */
  terminate(): void {
    this.ws.terminate();
  }

  send(data: string): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(data);
    host().sample('ws_msgs_sent', 1, this.tags);
  }

  close(code = 1000, reason?: string): void {
    if (this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
    else if (this.ws.readyState === WebSocket.OPEN) this.ws.close(code, reason);
  }

  ping(timeoutMs: number): Promise<number | undefined> {
    if (this.ws.readyState !== WebSocket.OPEN) return Promise.resolve(undefined);
    this.pings ??= new Pings();
    return this.pings.wait(timeoutMs, performance.now(), () => this.ws.ping());
  }

  upgraded(res: IncomingMessage): void {
    this.status = res.statusCode ?? 101;
    this.socket = res.socket as Socket;
  }

  refused(req: ClientRequest, res: IncomingMessage): void {
    this.status = res.statusCode ?? 0;
    this.recordHandshake();
    this.handlers.onRefused?.(this.status, `HTTP ${this.status}`);
    res.resume();
    req.destroy();
    this.ws.terminate();
  }

  opened(): void {
    this.openedAt = performance.now();
    this.recordHandshake();
    host().socketOpened();
    this.handlers.onOpen?.({ protocol: this.ws.protocol });
  }

  received(data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
    host().sample('ws_msgs_received', 1, this.tags);
    this.handlers.onMessage(isBinary ? '' : String(data));
  }

  ponged(): void {
    const rtt = this.pings?.ponged(performance.now());
    if (rtt !== undefined) host().sample('ws_ping', rtt, this.tags);
  }

  failed(err: Error): void {
    if (this.openedAt === 0 && this.status === 0) {
      this.recordHandshake();
      this.handlers.onRefused?.(0, clean(err.message));
    }
  }

  /** ws_sessions and ws_connecting, once per socket, tagged with the handshake's status like k6. */
  private recordHandshake(): void {
    const h = host();
    const tags = this.status ? { ...this.tags, status: String(this.status) } : this.tags;
    h.sample('ws_sessions', 1, tags);
    h.sample('ws_connecting', performance.now() - this.startedAt, tags);
  }

  closed(code: number, reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.tracked?.delete(this);
    const h = host();
    h.liveSockets--;
    if (this.openedAt) {
      h.socketClosed();
      h.sample('ws_session_duration', performance.now() - this.openedAt, this.tags);
    }
    if (this.socket) {
      h.sample('data_received', this.socket.bytesRead, this.tags);
      h.sample('data_sent', this.socket.bytesWritten, this.tags);
    }
    this.pings?.closed();
    this.handlers.onClose(code || 1006, clean(reason));
  }
}

/** A socket that was never opened because the worker is at its open-files limit: refused, then closed. */
function refusedSocket(reason: string, handlers: SocketHandlers): RuntimeSocket {
  queueMicrotask(() => {
    handlers.onRefused?.(0, reason);
    handlers.onClose(1006, '');
  });
  return { readyState: 3, send: () => undefined, close: () => undefined, ping: () => Promise.resolve(undefined) };
}

async function request(req: HttpRequest): Promise<HttpResponse> {
  const h = host();
  const name = redactUrl(req.url);
  const tags = { ...h.tags(), name, url: name, method: req.method, ...req.tags };
  const started = performance.now();
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), req.timeoutMs ?? 60_000);
  try {
    const res = await fetch(req.url, {
      method: req.method,
      headers: req.headers,
      body: req.body ?? undefined,
      signal: controller.signal,
      redirect: 'manual',
    });
    const body = await res.text();
    const duration = performance.now() - started;
    const sampleTags = { ...tags, status: String(res.status) };
    h.sample('http_reqs', 1, sampleTags);
    h.sample('http_req_duration', duration, sampleTags);
    h.sample('http_req_failed', res.status >= 400 ? 1 : 0, sampleTags);
    h.sample('data_received', body.length, sampleTags);
    const headers: Record<string, string> = {};
    res.headers.forEach((v, k) => (headers[k] = v));
    return { status: res.status, body, error: undefined, headers };
  } catch (err) {
    h.sample('http_reqs', 1, tags);
    h.sample('http_req_failed', 1, tags);
    const e = err as Error & { cause?: { code?: string; message?: string } };
    const why = controller.signal.aborted ? `request timeout after ${req.timeoutMs ?? 60_000} ms` : (e.cause?.code ?? e.cause?.message ?? e.message);
    return { status: 0, body: '', error: clean(String(why)), headers: {} };
  } finally {
    clearTimeout(timer);
  }
}

class EngineMetric implements MetricHandle {
  constructor(readonly name: string) {}
  add(value: number | boolean, tags?: Tags): void {
    host().add(this.name, typeof value === 'boolean' ? (value ? 1 : 0) : value, tags);
  }
}

export const runtime: Runtime = {
  name: 'engine',
  get env() {
    return host().env;
  },
  now: () => performance.now(),
  sleep: (ms) => host().sleep(ms),
  metric(kind, name, isTime = false) {
    host().declare(kind, name, isTime);
    return new EngineMetric(name);
  },
  check: (name, ok, tags) => host().check(name, ok, tags),
  vu: () => host().identity(),
  abort: (reason) => host().abort(clean(reason)),
  http: request,
  openSocket: (url, opts, handlers) => {
    const refusal = host().socketAllowed();
    return refusal === undefined ? new EngineSocket(url, opts, handlers) : refusedSocket(refusal, handlers);
  },
  hmacSha256: (key, data) => Promise.resolve(createHmac('sha256', key).update(data).digest('base64url')),
  base64url: (text) => Buffer.from(text, 'utf8').toString('base64url'),
  readFile: (path) => readFileSync(path, 'utf8'),
};
