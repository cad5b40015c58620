/**
 * The runtime port: everything scenario and library code needs from the program that runs it. Two
 * implementations exist, chosen when bundling (package.json "imports" maps `#runtime` with the `k6`
 * condition to ./k6.ts, otherwise to ./engine.ts):
 *   k6.ts      k6's modules (k6/websockets, k6/http, k6/metrics, k6/execution, ...);
 *   engine.ts  wsgate's own engine (ws, fetch, the engine's metric registry), many VUs per event loop.
 * Nothing else in lib/ or scenarios/ names a k6 module. Everything that waits is async, because the
 * engine runs many VUs on one event loop and nothing may block it.
 *
 * Module-level state is shared by every VU of an engine worker: per-VU state lives in values created
 * inside an iteration (or keyed by {@link Runtime.vu}), never in module variables.
 */

export type Tags = Record<string, string>;

export interface MetricHandle {
  readonly name: string;
  /** Counter: adds; Gauge: sets; Rate: true/non-zero counts as a pass; Trend: one observation. */
  add(value: number | boolean, tags?: Tags): void;
}

export type MetricKind = 'counter' | 'gauge' | 'rate' | 'trend';

/** Who is running: the VU, its iteration and its scenario (k6/execution's names). */
export interface Identity {
  /** 1-based VU number unique in the whole test (across workers and instances). */
  vuIdInTest: number;
  /** 0-based iteration of this VU in the current scenario. */
  iterationInScenario: number;
  /** 0-based iteration unique across the scenario (all VUs, all instances). */
  iterationInTest: number;
  scenario: string;
  /** Epoch ms when the current scenario started. */
  scenarioStartTime: number;
}

export interface HttpResponse {
  /** HTTP status; 0 when no HTTP answer came (refused, timeout, TLS). */
  status: number;
  body: string;
  /**
   * Transport error text when status is 0, redacted (lib/core/redact.ts): no URL's user info or query, no
   * secret of the run, nothing token-shaped.
   */
  error: string | undefined;
  headers: Record<string, string>;
}

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: string;
  body?: string | null;
  headers?: Record<string, string>;
  timeoutMs?: number;
  /** Extra sample tags; the URL is always tagged redacted as `name`. */
  tags?: Tags;
}

/** What became of a WebSocket handshake. */
interface SocketOpenInfo {
  /** The subprotocol the server selected ('' if none); never tagged or logged, it may carry a token. */
  protocol: string;
}

export interface SocketHandlers {
  onOpen?(info: SocketOpenInfo): void;
  onMessage(data: string): void;
  /**
   * The handshake did not complete: `status` is the HTTP status of the refusal (401, 403, ...) or 0 when
   * no HTTP answer came; `error` says why, redacted. onClose follows with 1006.
   */
  onRefused?(status: number, error: string): void;
  /** The peer's close reason arrives redacted like errors: a hostile server may put a token in it. */
  onClose(code: number, reason: string): void;
}

export interface SocketOptions {
  headers?: Record<string, string>;
  protocols?: string[];
  /** Extra sample tags; the URL is always tagged redacted as `name`. */
  tags?: Tags;
}

export type ReadyState = 0 | 1 | 2 | 3;

export interface RuntimeSocket {
  readonly readyState: ReadyState;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  /** Sends a WebSocket ping; resolves with the round trip in ms, or undefined if none came within timeoutMs. */
  ping(timeoutMs: number): Promise<number | undefined>;
}

export interface Runtime {
  /** Which implementation this is, for the rare place that must say so in a message. */
  readonly name: 'k6' | 'engine';
  /** The run's variables (k6's __ENV). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Milliseconds from an arbitrary origin, monotonic; sub-millisecond on the engine, 1 ms on k6. */
  now(): number;
  sleep(ms: number): Promise<void>;
  /** Declares a metric; call at module load (init), as k6 requires. */
  metric(kind: MetricKind, name: string, isTime?: boolean): MetricHandle;
  /** Records a k6-style check (the `checks` rate, tagged `check` and `scenario`). */
  check(name: string, ok: boolean, tags?: Tags): void;
  vu(): Identity;
  /** Stops the whole test now; exit code 108 (k6's exec.test.abort). The reason is printed redacted. */
  abort(reason: string): never;
  http(req: HttpRequest): Promise<HttpResponse>;
  openSocket(url: string, opts: SocketOptions, handlers: SocketHandlers): RuntimeSocket;
  /** HMAC-SHA256 of `data` under `key`, base64url without padding. */
  hmacSha256(key: string | Uint8Array, data: string): Promise<string>;
  /** base64url (no padding) of a UTF-8 string. */
  base64url(text: string): string;
  /** Reads a text file; call at init (k6 only allows open() there). */
  readFile(path: string): string;
}
