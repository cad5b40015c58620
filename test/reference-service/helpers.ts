/**
 * Test helpers for the reference service: real sockets on port 0, a WebSocket client with a message
 * queue (`next()`), and a handshake probe that returns the refusal's status and body.
 */
import { webcrypto } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { IncomingMessage } from 'node:http';
import { SignJWT } from 'jose';
import { WebSocket } from 'ws';
import type { ClientOptions } from 'ws';
import { startTarget } from '../../reference-service/service.ts';
import { opensslMissing, selfSignedCertFiles } from '../helpers/tools.ts';
import { delay, within } from '../helpers/wait.ts';
import type { RunningTarget, TargetOptions } from '../../reference-service/service.ts';

export const SECRET = 'test-secret-0123456789abcdef-0123456789';
export const ISSUER = 'wsgate-reference-auth';
export const AUDIENCE = 'wsgate-reference-chat';

export type Frame = Record<string, unknown> & { type: string };

export { delay, eventually, within } from '../helpers/wait.ts';

/** Starts a target on random ports with the test secret; `t.after` closes it. */
export async function start(
  t: { after: (fn: () => Promise<void> | void) => void },
  options: TargetOptions = {},
): Promise<RunningTarget> {
  const target = await startTarget({ authSecret: SECRET, backendSecret: SECRET, ...options });
  t.after(() => target.close());
  return target;
}

export async function postJson(url: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

export async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** An access token from the target's own auth service. */
export async function tokenFor(target: RunningTarget, userId: string): Promise<string> {
  const { status, body } = await postJson(`${target.authUrl}/auth/token`, { user_id: userId });
  if (status !== 200 || typeof body['access_token'] !== 'string') throw new Error(`token request failed: ${status}`);
  return body['access_token'];
}

export interface SignOverrides {
  readonly secret?: string;
  readonly sub?: string;
  readonly iss?: string;
  readonly aud?: string;
  /** Seconds since the epoch. */
  readonly exp?: number;
  readonly alg?: string;
}

/** A token signed in the test, to forge or to control `exp` exactly. */
export async function signToken(overrides: SignOverrides = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const key = await webcrypto.subtle.importKey(
    'raw',
    new TextEncoder().encode(overrides.secret ?? SECRET),
    { name: 'HMAC', hash: overrides.alg === 'HS512' ? 'SHA-512' : 'SHA-256' },
    false,
    ['sign'],
  );
  return new SignJWT({})
    .setProtectedHeader({ alg: overrides.alg ?? 'HS256' })
    .setSubject(overrides.sub ?? 'u1')
    .setIssuer(overrides.iss ?? ISSUER)
    .setAudience(overrides.aud ?? AUDIENCE)
    .setIssuedAt(now)
    .setExpirationTime(overrides.exp ?? now + 600)
    .setJti(webcrypto.randomUUID())
    .sign(key);
}

export interface ConnectOptions {
  readonly token?: string;
  /** How the token travels: `Authorization: Bearer` (default) or the `jwt.<token>` subprotocol. */
  readonly via?: 'header' | 'subprotocol';
  readonly origin?: string;
  readonly protocols?: readonly string[];
  readonly ws?: ClientOptions;
}

function clientArgs(options: ConnectOptions): { protocols: string[]; opts: ClientOptions } {
  const protocols = [...(options.protocols ?? [])];
  const headers: Record<string, string> = {};
  if (options.token !== undefined) {
    if (options.via === 'subprotocol') protocols.push('wsgate.v1', `jwt.${options.token}`);
    else headers['authorization'] = `Bearer ${options.token}`;
  }
  const opts: ClientOptions = { headers, ...(options.origin === undefined ? {} : { origin: options.origin }), ...options.ws };
  return { protocols, opts };
}

export interface Closed {
  readonly code: number;
  readonly reason: string;
}

/** A connected client: frames queue up from the first byte; `next()` takes them in order. */
export class Client {
  private readonly queue: Frame[] = [];
  private waiter: ((frame: Frame) => void) | undefined;
  readonly closed: Promise<Closed>;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as Frame;
      const waiter = this.waiter;
      if (waiter !== undefined) {
        this.waiter = undefined;
        waiter(frame);
      } else this.queue.push(frame);
    });
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    });
    ws.on('error', () => {});
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** The next frame, or a rejection after `timeoutMs`. */
  next(timeoutMs = 2000): Promise<Frame> {
    const queued = this.queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new Error(`no frame within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiter = (frame) => {
        clearTimeout(timer);
        resolve(frame);
      };
    });
  }

  async take(n: number, timeoutMs = 2000): Promise<Frame[]> {
    const frames: Frame[] = [];
    for (let i = 0; i < n; i++) frames.push(await this.next(timeoutMs));
    return frames;
  }

  /** Every frame that arrives within `ms` (including any already queued). */
  async drain(ms: number): Promise<Frame[]> {
    await delay(ms);
    return this.queue.splice(0);
  }

  /** Sends a ping and returns the pong; proves the connection is alive and in order. */
  async roundTrip(id: unknown = 'rt'): Promise<Frame> {
    this.send({ type: 'ping', id });
    return this.next();
  }

  /** The close code and reason, or a rejection when the connection is still open after `timeoutMs`. */
  whenClosed(timeoutMs = 3000): Promise<Closed> {
    return within(this.closed, timeoutMs, 'the connection to close');
  }

  close(): Promise<Closed> {
    this.ws.close(1000);
    return this.whenClosed();
  }
}

/** Opens a WebSocket and resolves once it is open (its first frame is still queued). */
export function connect(url: string, options: ConnectOptions = {}): Promise<Client> {
  const { protocols, opts } = clientArgs(options);
  const ws = new WebSocket(url, protocols, opts);
  const client = new Client(ws);
  const opened = new Promise<Client>((resolve, reject) => {
    ws.once('open', () => resolve(client));
    ws.once('unexpected-response', (_req, res: IncomingMessage) => {
      res.resume();
      reject(new Error(`handshake refused with ${res.statusCode}`));
    });
    ws.once('error', reject);
  });
  return within(opened, 3000, 'the handshake');
}

/** Connects as `userId` with a token from the target's auth service and takes `connection_established`. */
export async function connectAs(target: RunningTarget, userId: string, options: ConnectOptions = {}): Promise<Client> {
  const client = await connect(target.wsUrl, { token: await tokenFor(target, userId), ...options });
  const first = await client.next();
  if (first.type !== 'connection_established') throw new Error(`first frame was ${first.type}`);
  return client;
}

export interface Refusal {
  readonly status: number;
  readonly body: Record<string, unknown>;
  readonly headers: IncomingMessage['headers'];
}

/** Attempts a handshake that is expected to be refused; resolves with the HTTP answer. */
export function refusal(url: string, options: ConnectOptions = {}): Promise<Refusal> {
  const { protocols, opts } = clientArgs(options);
  const ws = new WebSocket(url, protocols, opts);
  const answered = new Promise<Refusal>((resolve, reject) => {
    ws.once('open', () => {
      ws.terminate();
      reject(new Error('handshake was accepted'));
    });
    ws.once('unexpected-response', (_req, res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown>, headers: res.headers });
      });
    });
    ws.once('error', (error) => reject(error));
  });
  return within(answered, 3000, 'the handshake answer');
}

/** Reads one metric sample from the backend's /metrics, e.g. `wsgate_users` or `x{status="401"}`. */
export async function metric(target: RunningTarget, sample: string): Promise<number> {
  const text = await (await fetch(`${target.httpUrl}/metrics`)).text();
  for (const line of text.split('\n')) {
    if (line.startsWith(`${sample} `)) return Number(line.slice(sample.length + 1));
  }
  throw new Error(`metric ${sample} not found`);
}

/** Skip reason for TLS tests when openssl is missing (CI installs it, so there they always run). */
export function withoutOpenssl(): string | false {
  return opensslMissing() ?? false;
}

/** A throwaway self-signed certificate for 127.0.0.1, removed when the test ends. */
export function selfSignedCert(t: TestContext): { cert: Buffer; key: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'wsgate-tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { cert, key } = selfSignedCertFiles(dir);
  return { cert: readFileSync(cert), key: readFileSync(key) };
}
