import assert from 'node:assert/strict';
import { connect as tcpConnect, createServer as createTcpServer } from 'node:net';
import type { Socket } from 'node:net';
import { test } from 'node:test';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import { TargetConfigError } from '../../reference-service/errors.ts';
import { parseUpstream, startDropRelay } from '../../cli/drop-relay-server.ts';
import type { RunningRelay } from '../../cli/drop-relay-server.ts';
import { parseJitterMs } from '../../cli/drop-relay.ts';
import type { RunningTarget } from '../../reference-service/service.ts';
import { connect, connectAs, delay, eventually, getJson, selfSignedCert, signToken, start, tokenFor, within, withoutOpenssl } from '../reference-service/helpers.ts';
import type { Client } from '../reference-service/helpers.ts';

async function relayTo(t: { after: (fn: () => Promise<void>) => void }, upstream: string): Promise<RunningRelay> {
  const relay = await startDropRelay({ upstream });
  t.after(() => relay.close());
  return relay;
}

/** The relay's ws URL for a target: same path, the relay's host:port. */
const viaRelay = (relay: RunningRelay, target: RunningTarget): string => target.wsUrl.replace(/\/\/[^/]+/, `//${relay.address}`);

async function postDrop(relay: RunningRelay): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${relay.controlUrl}/drop`, { method: 'POST' });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

test('parseUpstream takes host:port, [v6]:port, or host and port from a ws/wss/http/https URL', () => {
  assert.deepEqual(parseUpstream('127.0.0.1:8080'), { host: '127.0.0.1', port: 8080 });
  assert.deepEqual(parseUpstream('localhost:80'), { host: 'localhost', port: 80 });
  assert.deepEqual(parseUpstream('[::1]:9000'), { host: '::1', port: 9000 });
  assert.deepEqual(parseUpstream('ws://127.0.0.1:41235/ws'), { host: '127.0.0.1', port: 41235 });
  assert.deepEqual(parseUpstream('wss://chat.example.com/ws'), { host: 'chat.example.com', port: 443 });
  assert.deepEqual(parseUpstream('http://[::1]:7000'), { host: '::1', port: 7000 });
  assert.deepEqual(parseUpstream('https://auth.example.com'), { host: 'auth.example.com', port: 443 });
  for (const bad of ['nope', '127.0.0.1', '127.0.0.1:0', '127.0.0.1:99999', 'ftp://x:21', ':80', 'ws://']) {
    assert.throws(() => parseUpstream(bad), (error: unknown) => {
      assert.ok(error instanceof TargetConfigError, bad);
      assert.equal(error.message, `the relay upstream is "${bad}"; give host:port or a URL, e.g. 127.0.0.1:8080 or ws://127.0.0.1:8080/ws.`);
      return true;
    });
  }
});

test('a WebSocket through the relay handshakes (101) and gets a whole run; the listeners are loopback only', async (t) => {
  const target = await start(t, { stepDelayMs: 1 });
  const relay = await relayTo(t, target.wsUrl);
  assert.match(relay.address, /^127\.0\.0\.1:\d+$/);
  assert.match(relay.controlUrl, /^http:\/\/127\.0\.0\.1:\d+$/);

  const client = await connect(viaRelay(relay, target), { token: await tokenFor(target, 'relay-user') });
  const established = await client.next();
  assert.equal(established.type, 'connection_established');
  assert.equal(established['user_id'], 'relay-user');
  client.send({ type: 'user_message', thread_id: 't1', message_id: 'm1', content: 'hello' });
  const events = await client.take(5);
  assert.deepEqual(
    events.map((e) => e.type),
    ['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'],
  );
  assert.deepEqual((await getJson(`${relay.controlUrl}/stats`)).body, { open: 1, total: 1 });

  // A clean close passes through as a clean close and the relay forgets the connection.
  assert.equal((await client.close()).code, 1000);
  await eventually(() => relay.stats().open === 0);
  await eventually(() => target.stats().active_connections === 0);
  assert.deepEqual((await getJson(`${relay.controlUrl}/stats`)).body, { open: 0, total: 1 });
});

test('POST /drop cuts every relayed connection (client 1006) and the service cleans them up; direct ones live on', async (t) => {
  const target = await start(t);
  const relay = await relayTo(t, target.wsUrl);
  const baseline = target.stats().active_connections;
  const direct = await connectAs(target, 'direct-user');
  const relayed = await Promise.all(['r1', 'r2'].map(async (user) => {
    const client = await connect(viaRelay(relay, target), { token: await tokenFor(target, user) });
    assert.equal((await client.next()).type, 'connection_established');
    return client;
  }));
  assert.equal(target.stats().active_connections, baseline + 3);

  assert.deepEqual(await postDrop(relay), { status: 200, body: { dropped: 2 } });
  for (const client of relayed) assert.equal((await client.whenClosed(2000)).code, 1006);
  // The server noticed through its own close handling, not because anyone told it.
  await eventually(() => target.stats().active_connections === baseline + 1);
  assert.equal(target.stats().users, 1);
  assert.equal((await direct.roundTrip('still-here')).type, 'pong');
  assert.deepEqual((await getJson(`${relay.controlUrl}/stats`)).body, { open: 0, total: 2 });
  // Nothing left to drop.
  assert.deepEqual(await postDrop(relay), { status: 200, body: { dropped: 0 } });
  await direct.close();
  await eventually(() => target.stats().active_connections === baseline);
});

test('under connection_leak the dropped connections stay counted: the leak shows only when cleanup is wrong', async (t) => {
  const target = await start(t, { faults: ['connection_leak'] });
  const relay = await relayTo(t, target.wsUrl);
  const baseline = target.stats().active_connections;
  const client = await connect(viaRelay(relay, target), { token: await tokenFor(target, 'leaky') });
  assert.equal((await client.next()).type, 'connection_established');
  assert.equal((await postDrop(relay)).body['dropped'], 1);
  assert.equal((await client.whenClosed(2000)).code, 1006);
  // A healthy service is back at the baseline within milliseconds (previous test); give this one far longer.
  await delay(300);
  assert.equal(target.stats().active_connections, baseline + 1);
  assert.equal(target.stats().users, 1);
});

test('the server side sees no close frame after a drop (1006), but a clean close through the relay (1000)', async (t) => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  t.after(() => new Promise<void>((resolve) => wss.close(() => resolve())));
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const serverCloses: number[] = [];
  const closed = new Set<() => void>();
  wss.on('connection', (ws) => {
    ws.on('error', () => {});
    ws.on('close', (code) => {
      serverCloses.push(code);
      for (const notify of closed) notify();
    });
  });
  const address = wss.address();
  assert.ok(typeof address === 'object' && address !== null);
  const relay = await relayTo(t, `127.0.0.1:${address.port}`);
  const nextServerClose = (): Promise<void> => within(new Promise<void>((resolve) => closed.add(resolve)), 2000, 'the server-side close');

  const clean = await connect(`ws://${relay.address}/`);
  let serverClosed = nextServerClose();
  await clean.close();
  await serverClosed;
  closed.clear();

  const dropped = await connect(`ws://${relay.address}/`);
  serverClosed = nextServerClose();
  relay.drop();
  await serverClosed;
  assert.equal((await dropped.whenClosed(2000)).code, 1006);
  assert.deepEqual(serverCloses, [1000, 1006]);
});

test('the control listener answers 405 for a wrong method and 404 elsewhere; close() cuts connections and stops listening', async (t) => {
  const target = await start(t);
  const relay = await startDropRelay({ upstream: target.wsUrl });
  const get = await fetch(`${relay.controlUrl}/drop`);
  assert.equal(get.status, 405);
  assert.equal(get.headers.get('allow'), 'POST');
  assert.deepEqual(await get.json(), { error: 'method_not_allowed' });
  const post = await fetch(`${relay.controlUrl}/stats`, { method: 'POST' });
  assert.equal(post.status, 405);
  await post.body?.cancel();
  const other = await fetch(`${relay.controlUrl}/`);
  assert.equal(other.status, 404);
  await other.body?.cancel();

  const client = await connect(viaRelay(relay, target), { token: await tokenFor(target, 'closing') });
  await relay.close();
  assert.equal((await client.whenClosed(2000)).code, 1006);
  await eventually(() => target.stats().active_connections === 0);
  const refused = await new Promise<string>((resolve) => {
    const [host, port] = relay.address.split(':') as [string, string];
    const socket = tcpConnect({ host, port: Number(port) });
    socket.on('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
  });
  assert.equal(refused, 'ECONNREFUSED');
  await relay.close(); // idempotent
});


test('bytes pass through untouched: wss works through the relay, and a drop cuts it too', { skip: withoutOpenssl() }, async (t) => {
  const tls = selfSignedCert(t);
  const target = await start(t, { tls });
  const relay = await relayTo(t, target.wsUrl);
  const client = await connect(viaRelay(relay, target), { token: await signToken({ sub: 'tls-relayed' }), ws: { rejectUnauthorized: false } });
  assert.match(viaRelay(relay, target), /^wss:\/\//);
  assert.equal((await client.next())['user_id'], 'tls-relayed');
  assert.equal((await client.roundTrip()).type, 'pong');
  relay.drop();
  assert.equal((await client.whenClosed(2000)).code, 1006);
  await eventually(() => target.stats().active_connections === 0);
});

async function post(relay: RunningRelay, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${relay.controlUrl}${path}`, { method: 'POST' });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

test('POST /blackhole: nothing is forwarded either way, both sockets stay open, and neither side is told', async (t) => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  t.after(() => new Promise<void>((resolve) => wss.close(() => resolve())));
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const atServer: string[] = [];
  const serverSide: WebSocket[] = [];
  wss.on('connection', (ws) => {
    serverSide.push(ws);
    ws.on('error', () => {});
    ws.on('message', (data) => atServer.push(String(data)));
  });
  const address = wss.address();
  assert.ok(typeof address === 'object' && address !== null);
  const relay = await relayTo(t, `127.0.0.1:${address.port}`);

  const client = await connect(`ws://${relay.address}/`);
  client.send('before');
  await eventually(() => atServer.length === 1);
  const server = serverSide[0];
  assert.ok(server);
  server.send(JSON.stringify({ type: 'hello' }));
  assert.equal((await client.next()).type, 'hello');

  assert.deepEqual(await post(relay, '/blackhole'), { status: 200, body: { blackholed: 1 } });
  let pongs = 0;
  client.ws.on('pong', () => pongs++);
  client.send('into the void');
  client.ws.ping();
  server.send(JSON.stringify({ type: 'lost' }));
  server.ping();
  await delay(300);
  assert.deepEqual(atServer, ['before'], 'nothing reached the server');
  assert.deepEqual(await client.drain(0), [], 'nothing reached the client');
  assert.equal(pongs, 0, 'not even a pong');
  assert.equal(client.ws.readyState, client.ws.OPEN);
  assert.equal(server.readyState, server.OPEN);
  assert.deepEqual(relay.stats(), { open: 1, total: 1 });
  const [hole] = relay.blackholes();
  assert.ok(hole && hole.held_ms >= 290 && hole.server_closed_after_ms === null && hole.client_open, JSON.stringify(hole));

  // A drop cuts what is still relayed, not what is black-holed.
  assert.deepEqual(await post(relay, '/drop'), { status: 200, body: { dropped: 0 } });
  assert.equal(client.ws.readyState, client.ws.OPEN);

  // The server gives up (as its heartbeat would): the relay notes when, and the client is still told nothing.
  server.terminate();
  await eventually(() => relay.blackholes()[0]?.server_closed_after_ms !== null);
  const reaped = (await getJson(`${relay.controlUrl}/blackholes`)).body['connections'] as Record<string, unknown>[];
  assert.equal(reaped.length, 1);
  assert.ok(Number(reaped[0]?.['server_closed_after_ms']) >= 290, JSON.stringify(reaped));
  assert.equal(reaped[0]?.['client_open'], true);
  await delay(100);
  assert.equal(client.ws.readyState, client.ws.OPEN, 'the client never heard');

  assert.deepEqual(await post(relay, '/release'), { status: 200, body: { released: 1 } });
  assert.equal((await client.whenClosed(2000)).code, 1006);
  assert.deepEqual(relay.blackholes(), []);
  assert.deepEqual(relay.stats(), { open: 0, total: 1 });
});

test('a black-holed client is reaped by the reference service\'s heartbeat; under no_reaping it is held for good', async (t) => {
  const heartbeat = { heartbeatIntervalS: 0.2, heartbeatTimeoutS: 0.5 };
  const healthy = await start(t, heartbeat);
  const leaky = await start(t, { ...heartbeat, faults: ['no_reaping'] });
  const held: Client[] = [];
  for (const target of [healthy, leaky]) {
    const relay = await relayTo(t, target.wsUrl);
    const client = await connect(viaRelay(relay, target), { token: await tokenFor(target, 'phone') });
    assert.equal((await client.next()).type, 'connection_established');
    assert.equal((await post(relay, '/blackhole')).body['blackholed'], 1);
    held.push(client);
    if (target === healthy) {
      await eventually(() => relay.blackholes()[0]?.server_closed_after_ms !== null, 2000);
      const after = relay.blackholes()[0]?.server_closed_after_ms ?? 0;
      assert.ok(after >= 250 && after < 1000, `reaped ${after} ms after the black-holing (timeout 500 ms since the last frame)`);
      assert.equal(target.stats().active_connections, 0);
    } else {
      await delay(1200);
      assert.equal(relay.blackholes()[0]?.server_closed_after_ms, null);
      assert.deepEqual(target.stats(), { active_connections: 1, users: 1 });
    }
    assert.equal((await post(relay, '/release')).body['released'], 1);
  }
  for (const client of held) assert.equal((await client.whenClosed(2000)).code, 1006);
});

test('the control listener: /blackhole and /release take POST only, /blackholes GET only', async (t) => {
  const target = await start(t);
  const relay = await relayTo(t, target.wsUrl);
  for (const path of ['/blackhole', '/release']) {
    const res = await fetch(`${relay.controlUrl}${path}`);
    assert.equal(res.status, 405, path);
    assert.equal(res.headers.get('allow'), 'POST');
    await res.body?.cancel();
  }
  const res = await fetch(`${relay.controlUrl}/blackholes`, { method: 'POST' });
  assert.equal(res.status, 405);
  assert.equal(res.headers.get('allow'), 'GET');
  await res.body?.cancel();
  assert.deepEqual((await getJson(`${relay.controlUrl}/blackholes`)).body, { connections: [] });
  assert.deepEqual(await post(relay, '/blackhole'), { status: 200, body: { blackholed: 0 } });
  assert.deepEqual(await post(relay, '/release'), { status: 200, body: { released: 0 } });
});

/**
 * Sends `count` fixed-size numbered messages from one socket, `gapMs` apart (each its own chunk), and
 * notes when each was sent and when it arrived on the other socket, in the order the bytes arrived.
 */
async function timedMessages(from: Socket, to: Socket, count: number, gapMs: number): Promise<{ received: string; delays: number[] }> {
  const sentAt: number[] = [];
  const delays: number[] = [];
  let received = '';
  const all = new Promise<void>((resolve) => {
    to.on('data', (chunk: Buffer) => {
      const now = performance.now();
      received += chunk.toString();
      // Every complete message that arrived with this chunk: its delay from its own send.
      while (delays.length < Math.floor(received.length / 6)) delays.push(now - (sentAt[delays.length] ?? now));
      if (delays.length === count) resolve();
    });
  });
  for (let i = 0; i < count; i++) {
    sentAt.push(performance.now());
    from.write(`m${String(i).padStart(4, '0')};`);
    await delay(gapMs);
  }
  await within(all, 10_000, `all ${count} messages`);
  return { received, delays };
}

test('with jitterMs every chunk is delayed by 0..J ms in both directions, and the bytes keep their order', async (t) => {
  const jitterMs = 60;
  const accepted: Socket[] = [];
  const upstream = createTcpServer({ noDelay: true }, (socket) => void accepted.push(socket));
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', () => resolve()));
  t.after(() => new Promise<void>((resolve) => {
    for (const socket of accepted) socket.destroy();
    upstream.close(() => resolve());
  }));
  const port = (upstream.address() as { port: number }).port;
  const relay = await startDropRelay({ upstream: `127.0.0.1:${port}`, jitterMs });
  t.after(() => relay.close());

  const [host, relayPort] = relay.address.split(':') as [string, string];
  const client = tcpConnect({ host, port: Number(relayPort), noDelay: true });
  t.after(() => void client.destroy());
  await eventually(() => accepted.length === 1);
  const server = accepted[0] as Socket;
  server.setNoDelay(true);

  const count = 40;
  const expected = Array.from({ length: count }, (_, i) => `m${String(i).padStart(4, '0')};`).join('');
  for (const [from, to, direction] of [[client, server, 'client to server'], [server, client, 'server to client']] as const) {
    const { received, delays } = await timedMessages(from, to, count, 5);
    // A chunk released before the one ahead of it would show here as bytes out of order.
    assert.equal(received, expected, `${direction}: every byte, in order`);
    const sorted = [...delays].sort((a, b) => a - b);
    const median = sorted[Math.floor(count / 2)] ?? 0;
    // Uniform 0..60 ms, and never ahead of the previous chunk: the median is near 30 ms and more. Loopback
    // without the relay takes well under a millisecond; the bounds leave room for a busy machine.
    assert.ok(median >= 12, `${direction}: median delay ${median.toFixed(1)} ms, expected about ${jitterMs / 2} ms or more`);
    assert.ok((sorted.at(-1) ?? 0) - (sorted[0] ?? 0) >= jitterMs / 4, `${direction}: delays from ${sorted[0]?.toFixed(1)} to ${sorted.at(-1)?.toFixed(1)} ms do not vary`);
    // Order kept costs at most one jitter on top of the chunk's own (plus scheduling on a shared machine).
    assert.ok((sorted.at(-1) ?? 0) <= 2 * jitterMs + 150, `${direction}: a delay of ${sorted.at(-1)?.toFixed(1)} ms is beyond the jitter`);
  }

  // A half-close passes on after the bytes ahead of it: the server reads the last message, then the end.
  const tail = new Promise<string>((resolve) => {
    let rest = '';
    server.on('data', (chunk: Buffer) => (rest += chunk.toString()));
    server.once('end', () => resolve(rest));
  });
  client.end('last;');
  assert.equal(await within(tail, 5000, 'the end after the last bytes'), 'last;');
});

test('a WebSocket through a jittering relay gets a whole run, and a clean close arrives as 1000 on the server', async (t) => {
  const target = await start(t, { stepDelayMs: 1 });
  const relay = await startDropRelay({ upstream: target.wsUrl, jitterMs: 20 });
  t.after(() => relay.close());
  const client = await connect(viaRelay(relay, target), { token: await tokenFor(target, 'jitter-user') });
  assert.equal((await client.next()).type, 'connection_established');
  client.send({ type: 'user_message', thread_id: 't1', message_id: 'm1', content: 'hello' });
  assert.deepEqual(
    (await client.take(5)).map((e) => e.type),
    ['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'],
  );
  assert.equal((await client.close()).code, 1000);
  await eventually(() => relay.stats().open === 0);
  await eventually(() => target.stats().active_connections === 0);
});

test('a bad jitter is refused in one sentence: by the relay, and by --jitter-ms / --network-jitter', async () => {
  for (const bad of [-1, Number.NaN, 10_001]) {
    await assert.rejects(startDropRelay({ upstream: '127.0.0.1:9', jitterMs: bad }), (error: unknown) => {
      assert.ok(error instanceof TargetConfigError);
      assert.equal(error.message, `the relay's jitter is ${bad} ms; give 0 (none) to 10000 ms.`);
      return true;
    });
  }
  assert.equal(parseJitterMs('--jitter-ms', '20'), 20);
  assert.equal(parseJitterMs('--jitter-ms', '0'), 0);
  for (const bad of ['', '-5', '2.5', '20ms', '10001']) {
    assert.throws(() => parseJitterMs('--network-jitter', bad), { message: `--network-jitter is "${bad}"; give whole milliseconds from 0 to 10000, e.g. --network-jitter 20` });
  }
});
