/**
 * A test client for a real Centrifugo: Node's `ws` socket driven by the centrifugo dialect's protocol
 * module, with a queue of decoded server messages (`next()`), optional automatic pongs, the HTTP
 * status of the handshake and the close code, reason and time.
 */
import type { IncomingMessage } from 'node:http';
import { SignJWT } from 'jose';
import { WebSocket } from 'ws';
import { CentrifugoClientProtocol, type ServerMessage } from '../../lib/dialects/centrifugo/protocol.ts';
import { CentrifugoError, findCentrifugo } from '../../third-party/centrifugo/binary.ts';

export { delay, within } from '../helpers/wait.ts';

/** Why there is no Centrifugo binary (its error's one sentence says how to build one), or undefined. */
export function centrifugoMissing(): Promise<string | undefined> {
  return findCentrifugo().then(
    () => undefined,
    (err: unknown) => (err instanceof CentrifugoError ? err.message : String(err)),
  );
}

export interface TokenClaims {
  sub?: string;
  /** Seconds from now; omitted: no exp claim. */
  expIn?: number;
  alg?: 'HS256' | 'HS384' | 'HS512';
}

/** An HS256 connection JWT signed with `secret`. */
export function mint(secret: string, claims: TokenClaims = {}): Promise<string> {
  const jwt = new SignJWT({}).setProtectedHeader({ alg: claims.alg ?? 'HS256', typ: 'JWT' }).setIssuedAt();
  if (claims.sub !== undefined) jwt.setSubject(claims.sub);
  if (claims.expIn !== undefined) jwt.setExpirationTime(Math.floor(Date.now() / 1000) + claims.expIn);
  return jwt.sign(new TextEncoder().encode(secret));
}

/** An unsigned `alg: none` token. */
export function unsignedToken(sub: string): string {
  const part = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part({ sub, exp: Math.floor(Date.now() / 1000) + 300 })}.`;
}

export interface Closed {
  code: number;
  reason: string;
  /** ms since the socket was created */
  at: number;
}

type Timed = ServerMessage & { at: number };

export class TestClient {
  readonly ws: WebSocket;
  readonly proto = new CentrifugoClientProtocol();
  readonly t0 = Date.now();
  /** Every decoded message in arrival order, pings included. */
  readonly seen: Timed[] = [];
  /** Frames as received (for shape assertions). */
  readonly frames: string[] = [];
  /** HTTP status of the handshake: 101, or the refusal's. */
  readonly status: Promise<number>;
  readonly opened: Promise<void>;
  readonly closed: Promise<Closed>;
  private queue: Timed[] = [];
  private waiters: Array<() => void> = [];
  autoPong: boolean;
  pongs = 0;

  constructor(url: string, opts: { autoPong?: boolean; headers?: Record<string, string> } = {}) {
    this.autoPong = opts.autoPong ?? true;
    this.ws = new WebSocket(url, { headers: opts.headers });
    let refused: (err: Error) => void = () => {};
    this.opened = new Promise((resolve, reject) => {
      refused = reject;
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
    this.status = new Promise((resolve) => {
      this.ws.once('upgrade', (res: IncomingMessage) => resolve(res.statusCode ?? 0));
      this.ws.once('unexpected-response', (_req, res: IncomingMessage) => {
        resolve(res.statusCode ?? 0);
        refused(new Error(`handshake refused with HTTP ${res.statusCode}`));
        res.resume();
        this.ws.terminate();
      });
    });
    this.opened.catch(() => {});
    this.ws.on('error', () => {});
    this.closed = new Promise((resolve) =>
      this.ws.once('close', (code, reason) => {
        resolve({ code, reason: reason.toString(), at: Date.now() - this.t0 });
        this.wake();
      }),
    );
    this.ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const text = data.toString();
      this.frames.push(text);
      for (const m of this.proto.decode(text)) {
        const timed = { ...m, at: Date.now() - this.t0 };
        this.seen.push(timed);
        if (m.kind === 'ping') {
          if (this.autoPong) {
            this.ws.send(this.proto.pong());
            this.pongs++;
          }
          continue;
        }
        this.queue.push(timed);
      }
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  send(text: string): void {
    this.ws.send(text);
  }

  /** Sends connect with `token` and returns the id used. */
  connect(token: string | undefined, name = 'wsgate-test'): number {
    const c = this.proto.connect(token === undefined ? { name } : { token, name });
    this.send(c.text);
    return c.id;
  }

  /**
   * The next queued non-ping message matching `pred` (earlier non-matching ones are left queued).
   * Rejects after `ms`, or when the socket closes first.
   */
  async next<K extends ServerMessage['kind']>(
    pred: (m: ServerMessage) => boolean = () => true,
    ms = 3_000,
    what = 'a message',
  ): Promise<Extract<ServerMessage, { kind: K }> & { at: number }> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.queue.findIndex(pred);
      if (i >= 0) return this.queue.splice(i, 1)[0] as Extract<ServerMessage, { kind: K }> & { at: number };
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error(`socket closed while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The reply (or error) to command `id`. */
  reply(id: number, ms = 3_000): Promise<ServerMessage & { at: number }> {
    return this.next((m) => (m.kind === 'connected' || m.kind === 'reply' || m.kind === 'error') && m.id === id, ms, `the reply to command ${id}`);
  }

  /** Messages still queued (not consumed by next()). */
  pending(): readonly Timed[] {
    return this.queue;
  }

  close(): Promise<Closed> {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(1000);
    return this.closed;
  }
}

/** Opens a socket and waits for the 101. */
export async function open(url: string, opts: { autoPong?: boolean; headers?: Record<string, string> } = {}): Promise<TestClient> {
  const c = new TestClient(url, opts);
  await c.opened;
  return c;
}

/** Opens, connects with `token` and returns the client once the connect reply is in. */
export async function connected(url: string, token: string, opts: { autoPong?: boolean } = {}): Promise<{ client: TestClient; reply: Extract<ServerMessage, { kind: 'connected' }> }> {
  const client = await open(url, opts);
  const id = client.connect(token);
  const reply = await client.reply(id);
  if (reply.kind !== 'connected') throw new Error(`connect refused: ${JSON.stringify(reply)}`);
  return { client, reply };
}
