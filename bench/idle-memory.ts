/**
 * Generator memory per idle authenticated connection, layer by layer, on wsgate's engine: N
 * connections to the reference service (in a process of its own) held open, measured after a full GC
 * (so the figure is what a connection keeps, not garbage not yet collected):
 *   raw      Node's ws client with the token in the header (the floor: what any Node generator pays)
 *   socket   the engine's runtime socket (lib/runtime/engine.ts): + metrics, tags, VU tracking
 *   session  a wsgate Session (lib/session.ts): + the dialect, the greeting, the isolation guard
 * Goal (issue: the engine): <= 10 KB per connection for a session, against a floor of about 8.
 *
 *   node --expose-gc --import tsx bench/idle-memory.ts [--connections 8000] [--layers raw,socket,session]
 * Each layer runs in a process of its own; the last line is JSON.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const LAYERS = ['raw', 'socket', 'session'] as const;
type Layer = (typeof LAYERS)[number];
const GOAL_KB = 10;

interface Figure {
  layer: Layer;
  connections: number;
  rssKbPerConnection: number;
  heapKbPerConnection: number;
}

async function measureLayer(layer: Layer, n: number): Promise<Figure> {
  const { Host } = await import('../engine/host.ts');
  const { Registry } = await import('../engine/metrics/registry.ts');
  const { default: WebSocket } = await import('ws');
  const secret = 'idle-memory-bench-secret-0123456789abcdef';
  const svc = spawn(process.execPath, [`${ROOT}bin/wsgate.mjs`, 'reference', '--port', '0', '--auth-port', '0'], {
    env: { ...process.env, WSGATE_AUTH_SECRET: secret, WSGATE_BACKEND_SECRET: secret },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const ready = await new Promise<{ ws_url: string; http_url: string; auth_url: string }>((resolve) =>
      svc.stdout.once('data', (d: Buffer) => resolve(JSON.parse(String(d).split('\n')[0] ?? '{}') as { ws_url: string; http_url: string; auth_url: string })),
    );
    const env = { WSGATE_JWT_SECRET: secret, WSGATE_WS_URL: ready.ws_url, WSGATE_HTTP_URL: ready.http_url, WSGATE_AUTH_URL: ready.auth_url };
    const host = new Host({ env, registry: new Registry({ submetrics: [] }), testTags: {}, json: undefined, onAbort: () => undefined });
    host.install();
    const { loadConfig } = await import('../lib/core/config.ts');
    const { Session } = await import('../lib/session.ts');
    const { runtime } = await import('../lib/runtime/engine.ts');
    const { mintTokenNative } = await import('../lib/tokens.ts');
    const config = loadConfig(env);
    const gc = (globalThis as { gc?: () => void }).gc;
    if (!gc) throw new Error('run with node --expose-gc');
    const memory = () => {
      gc();
      gc();
      const m = process.memoryUsage();
      return { rss: m.rss, heap: m.heapUsed };
    };
    const ctx = { vu: { idInTest: 1, iterationInScenario: 0 }, scenario: 'idle', scenarioStartTime: Date.now(), iterationInTest: 0, tags: { scenario: 'idle' }, env, resources: new Set<{ terminate(): void }>() };
    return await host.als.run(ctx, async () => {
      const tokens: string[] = [];
      for (let i = 0; i < n; i++) tokens.push(await mintTokenNative(config, `u${i}`));
      const before = memory();
      const held: unknown[] = [];
      for (let i = 0; i < n; i += 200) {
        const batch: Promise<unknown>[] = [];
        for (let j = i; j < Math.min(n, i + 200); j++) {
          const headers = { Authorization: `Bearer ${tokens[j]}` };
          if (layer === 'raw') {
            const ws = new WebSocket(config.wsUrl, { headers, perMessageDeflate: false });
            held.push(ws);
            batch.push(new Promise((r) => ws.once('message', r)));
          } else if (layer === 'socket') {
            batch.push(new Promise((r) => held.push(runtime.openSocket(config.wsUrl, { headers }, { onMessage: r, onClose: () => undefined }))));
          } else {
            const s = new Session(config, { userId: `u${j}`, token: tokens[j] });
            held.push(s);
            batch.push(s.opened());
          }
        }
        await Promise.all(batch);
      }
      await new Promise((r) => setTimeout(r, 500));
      const after = memory();
      return { layer, connections: held.length, rssKbPerConnection: (after.rss - before.rss) / n / 1024, heapKbPerConnection: (after.heap - before.heap) / n / 1024 };
    });
  } finally {
    svc.kill();
  }
}

const { values } = parseArgs({ options: { connections: { type: 'string' }, layers: { type: 'string' }, child: { type: 'string' } } });
const n = Number(values.connections ?? 8000);
if (values.child) {
  process.stdout.write(JSON.stringify(await measureLayer(values.child as Layer, n)) + '\n');
  process.exit(0);
}
const figures: Figure[] = [];
for (const layer of (values.layers?.split(',') ?? LAYERS) as Layer[]) {
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url), '--child', layer, '--connections', String(n)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    child.stdout.on('data', (d: Buffer) => (text += d.toString()));
    child.on('error', reject);
    child.on('close', () => resolve(text));
  });
  const f = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as Figure;
  figures.push(f);
  console.log(`${layer.padEnd(8)} ${f.connections} connections: ${f.rssKbPerConnection.toFixed(2)} KB RSS, ${f.heapKbPerConnection.toFixed(2)} KB heap per connection`);
}
const session = figures.find((f) => f.layer === 'session');
console.log(JSON.stringify({ bench: 'idle-memory', connections: n, figures, goal_kb: GOAL_KB, met: session ? session.rssKbPerConnection <= GOAL_KB : null, node: process.version, date: new Date().toISOString() }));
