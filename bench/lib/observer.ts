/**
 * A reference clock for the accuracy benchmark: a few connections from this (lightly loaded) Node
 * process that run agents alongside the generator and time every event with performance.now(),
 * to the microsecond. Their medians are what the service really delivered under that load (its
 * timer drift and loopback included), so the generator's own error is its median minus these.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { AUDIENCE, ISSUER, sleep } from './harness.ts';

export const AGENT_EVENTS = ['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'] as const;

const b64 = (s: string | Buffer): string => Buffer.from(s).toString('base64url');

/** An HS256 token with the claims the reference service checks. */
export function mintNode(secret: string, sub: string): string {
  const now = Math.floor(Date.now() / 1000);
  const body = `${b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64(JSON.stringify({ sub, iss: ISSUER, aud: AUDIENCE, iat: now, exp: now + 900, jti: randomBytes(16).toString('hex') }))}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}

export interface ObserverOptions {
  wsUrl: string;
  secret: string;
  connections: number;
  /** Epoch ms of the first run; runs follow every stepMs, `runs` of them. */
  startAt: number;
  runs: number;
  stepMs: number;
}

/** Latencies in ms per event type. */
export async function observeAgents(o: ObserverOptions): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = Object.fromEntries(AGENT_EVENTS.map((e) => [e, []]));
  const sockets = await Promise.all(
    Array.from({ length: o.connections }, (_, i) => {
      const ws = new WebSocket(o.wsUrl, { headers: { Authorization: `Bearer ${mintNode(o.secret, `bench-observer-${i}`)}`, Origin: 'http://localhost' } });
      return new Promise<WebSocket>((resolve, reject) => {
        ws.once('message', () => resolve(ws));
        ws.once('error', reject);
        setTimeout(() => reject(new Error('observer connection timed out')), 10_000);
      });
    }),
  );
  const sentAt = new Map<string, number>();
  for (const ws of sockets) {
    ws.on('message', (data) => {
      const now = performance.now();
      const m = JSON.parse(String(data)) as { type: string; message_id?: string };
      const t0 = sentAt.get(m.message_id ?? '');
      if (t0 !== undefined && m.type in out) out[m.type]?.push(now - t0);
    });
  }
  for (let q = 0; q < o.runs; q++) {
    // Spread the observer's runs over the step like the generator's users are.
    for (const [i, ws] of sockets.entries()) {
      await sleep(o.startAt + q * o.stepMs + (i * o.stepMs) / sockets.length - Date.now());
      const id = `obs-${i}-${q}`;
      sentAt.set(id, performance.now());
      ws.send(JSON.stringify({ type: 'user_message', thread_id: `obs-${i}`, message_id: id, content: 'observer' }));
    }
  }
  await sleep(1000);
  for (const ws of sockets) ws.close();
  return out;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}
