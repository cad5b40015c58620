/**
 * The facts about Centrifugo v6.9.1 that wsgate's centrifugo dialect relies on, checked against the
 * real server on loopback (third-party/centrifugo/server.ts) with the agent driver behind its RPC
 * proxy, through the dialect's own protocol module. docs/centrifugo.md records the same facts.
 *
 * Needs the binary (see third-party/centrifugo/binary.ts); without it the file skips with the build
 * command, except with CI=true, where it fails.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AGENT_EVENTS } from '../../lib/dialects/dialect.ts';
import type { AgentEventType } from '../../lib/dialects/dialect.ts';
import { RunTracker } from '../../lib/core/runs.ts';

/** An agent event as the driver publishes it (the chat protocol's field names). */
interface AgentEvent {
  type: AgentEventType;
  run_id: string;
  seq: number;
  user_id: string;
  message_id: string;
}

/** The canonical event RunTracker judges. */
const canonical = (e: AgentEvent) => ({ type: e.type, runRef: e.message_id, runId: e.run_id, seq: e.seq, userId: e.user_id });
import { CLOSE_CODES, ERROR_CODES, batch, isTerminalClose, type ServerMessage } from '../../lib/dialects/centrifugo/protocol.ts';
import { AGENT_ERRORS, AGENT_RUN_METHOD, startAgentDriver, type AgentDriver } from '../../third-party/centrifugo/agent-driver.ts';
import { startCentrifugo, type CentrifugoOptions, type CentrifugoServer } from '../../third-party/centrifugo/server.ts';
import { skipUnlessCi } from '../helpers/tools.ts';
import { centrifugoMissing, connected, delay, mint, open, TestClient, unsignedToken } from './client.ts';

const missing = await centrifugoMissing();
// The error's one sentence already says how to build it.
const skip = skipUnlessCi(missing);

/** A Centrifugo with the agent driver attached; both stopped by the caller's `after`. */
async function startPair(opts: CentrifugoOptions = {}): Promise<{ cf: CentrifugoServer; driver: AgentDriver }> {
  const driver = await startAgentDriver();
  const cf = await startCentrifugo({ rpcProxyUrl: driver.rpcUrl, logFile: process.env['WSGATE_CENTRIFUGO_LOG'], ...opts });
  driver.attach(cf);
  return { cf, driver };
}

async function stopPair(p: { cf: CentrifugoServer; driver: AgentDriver } | undefined): Promise<void> {
  if (!p) return;
  await p.cf.close();
  await p.driver.close();
}

const isPub = (channel: string) => (m: ServerMessage) => m.kind === 'publication' && m.channel === channel;

/** Sends agent_run and collects the run's events from `channel` until agent_completed (or `ms`). */
async function agentRun(client: TestClient, channel: string, messageId: string, ms = 3_000): Promise<{ reply: ServerMessage; events: AgentEvent[]; offsets: Array<number | undefined> }> {
  const cmd = client.proto.rpc(AGENT_RUN_METHOD, { message_id: messageId, thread_id: 't-1', content: 'hello' });
  client.send(cmd.text);
  const reply = await client.reply(cmd.id);
  const events: AgentEvent[] = [];
  const offsets: Array<number | undefined> = [];
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    let m: ServerMessage;
    try {
      m = await client.next(isPub(channel), deadline - Date.now(), 'an agent event');
    } catch {
      break;
    }
    if (m.kind !== 'publication') continue;
    const e = m.pub.data as AgentEvent;
    if (e.message_id !== messageId) continue;
    events.push(e);
    offsets.push(m.pub.offset);
    if (e.type === 'agent_completed') break;
  }
  return { reply, events, offsets };
}

describe('centrifugo v6.9.1: auth, channels, agent runs', { skip, timeout: 60_000, concurrency: true }, () => {
  let pair: { cf: CentrifugoServer; driver: AgentDriver } | undefined;
  before(async () => {
    if (missing) throw new Error(missing);
    pair = await startPair();
  });
  after(() => stopPair(pair));
  const cf = (): CentrifugoServer => pair!.cf;

  test('a connect with an HS256 JWT in the first command succeeds and the reply names the user only through its personal channel', async () => {
    const c = await open(cf().wsUrl);
    assert.equal(await c.status, 101);
    const id = c.connect(await mint(cf().hmacSecret, { sub: 'alice', expIn: 300 }));
    const r = await c.reply(id);
    assert.equal(r.kind, 'connected');
    if (r.kind !== 'connected') return;
    assert.match(r.result.client, /^[0-9a-f-]{36}$/);
    assert.equal(r.result.version, '0.0.0 OSS', 'a go-install build reports 0.0.0');
    assert.equal(r.result.expires, true);
    assert.ok(r.result.ttl !== undefined && r.result.ttl > 295 && r.result.ttl <= 300, `ttl ${r.result.ttl}`);
    assert.deepEqual(Object.keys(r.result.subs), ['personal:#alice']);
    assert.equal(r.result.ping, 25);
    assert.equal(r.result.pong, true);
    // The raw reply has no user field at all.
    const raw = JSON.parse(c.frames[0]!) as { connect: Record<string, unknown> };
    assert.equal('user' in raw.connect, false);
    await c.close();
  });

  test('a token without exp: no expires, no ttl', async () => {
    const { client, reply } = await connected(cf().wsUrl, await mint(cf().hmacSecret, { sub: 'noexp' }));
    assert.equal(reply.result.expires, false);
    assert.equal(reply.result.ttl, undefined);
    await client.close();
  });

  for (const [name, token] of [
    ['signed with another secret', () => mint('another-secret-another-secret-0123456789', { sub: 'mallory', expIn: 300 })],
    ['alg none', async () => unsignedToken('mallory')],
    ['not a JWT', async () => 'not.a.jwt'],
  ] as const) {
    test(`a token ${name}: HTTP 101, no reply, then close 3500 "invalid token"`, async () => {
      const c = await open(cf().wsUrl);
      assert.equal(await c.status, 101);
      c.connect(await token());
      const closed = await c.closed;
      assert.deepEqual([closed.code, closed.reason], [CLOSE_CODES.invalidToken, 'invalid token']);
      assert.ok(isTerminalClose(closed.code));
      assert.deepEqual(c.seen, []);
    });
  }

  test('an expired token: error reply 109, then no close frame: the server drops TCP ~5 s later (1006)', async (t) => {
    const c = await open(cf().wsUrl);
    const id = c.connect(await mint(cf().hmacSecret, { sub: 'late', expIn: -10 }));
    const r = await c.reply(id);
    assert.deepEqual(r.kind === 'error' && [r.code, r.message, r.method], [ERROR_CODES.tokenExpired, 'token expired', 'connect']);
    const closed = await c.closed;
    assert.equal(closed.code, 1006);
    assert.ok(closed.at > 4_500 && closed.at < 7_000, `closed after ${closed.at} ms`);
    t.diagnostic(`expired token: 109 at ${r.at} ms, TCP closed (1006) at ${closed.at} ms`);
  });

  test('no token: close 3501 "bad request"; valid token without sub: close 3507 "permission denied"; a first command other than connect: 3501', async () => {
    const none = await open(cf().wsUrl);
    none.connect(undefined);
    const noSub = await open(cf().wsUrl);
    noSub.connect(await mint(cf().hmacSecret, { expIn: 300 }));
    const first = await open(cf().wsUrl);
    first.send(first.proto.subscribe('personal:#x').text);
    const [a, b, c] = await Promise.all([none.closed, noSub.closed, first.closed]);
    assert.deepEqual([a.code, a.reason], [3501, 'bad request']);
    assert.deepEqual([b.code, b.reason], [3507, 'permission denied']);
    assert.deepEqual([c.code, c.reason], [3501, 'bad request']);
  });

  test('an Origin not in allowed_origins (empty list) is refused at the handshake with HTTP 403', async () => {
    const probe = new TestClient(cf().wsUrl, { headers: { Origin: 'https://evil.example' } });
    assert.equal(await probe.status, 403);
    await assert.rejects(probe.opened);
  });

  test('own personal channel: already subscribed server-side (105 on a second subscribe); another user\'s: 103 and nothing leaks', async () => {
    const a = await connected(cf().wsUrl, await mint(cf().hmacSecret, { sub: 'ann', expIn: 300 }));
    const b = await connected(cf().wsUrl, await mint(cf().hmacSecret, { sub: 'ben', expIn: 300 }));
    const own = a.client.proto.subscribe('personal:#ann');
    const other = a.client.proto.subscribe('personal:#ben');
    a.client.send(batch(own.text, other.text));
    const r1 = await a.client.reply(own.id);
    const r2 = await a.client.reply(other.id);
    assert.deepEqual(r1.kind === 'error' && [r1.code, r1.message], [ERROR_CODES.alreadySubscribed, 'already subscribed']);
    assert.deepEqual(r2.kind === 'error' && [r2.code, r2.message, r2.method], [ERROR_CODES.permissionDenied, 'permission denied', 'subscribe']);
    // Still open after the error replies.
    assert.equal(a.client.ws.readyState, a.client.ws.OPEN);
    await cf().api('publish', { channel: 'personal:#ben', data: { secret: 'for ben' } });
    const got = await b.client.next(isPub('personal:#ben'));
    assert.deepEqual(got.kind === 'publication' && got.pub.data, { secret: 'for ben' });
    await delay(300);
    assert.deepEqual(a.client.pending().filter((m) => m.kind === 'publication'), []);
    await Promise.all([a.client.close(), b.client.close()]);
  });

  test('agent_run over rpc: the reply carries the run, then five events in order on the personal channel, offsets consecutive', async () => {
    const { client } = await connected(cf().wsUrl, await mint(cf().hmacSecret, { sub: 'carl', expIn: 300 }));
    const { reply, events, offsets } = await agentRun(client, 'personal:#carl', 'm-1');
    assert.equal(reply.kind, 'reply');
    const data = reply.kind === 'reply' ? (reply.result['data'] as Record<string, unknown>) : {};
    assert.equal(data['user_id'], 'carl', 'the proxy request carries the user Centrifugo authenticated');
    assert.equal(data['message_id'], 'm-1');
    const run = new RunTracker('carl', 'm-1');
    for (const e of events) run.add(canonical(e));
    assert.deepEqual(run.verdict(), { complete: true, problems: [], runId: data['run_id'] });
    assert.deepEqual(events.map((e) => e.type), [...AGENT_EVENTS]);
    assert.deepEqual(events.map((e) => e.seq), [1, 2, 3, 4, 5]);
    const first = offsets[0]!;
    assert.deepEqual(offsets, [first, first + 1, first + 2, first + 3, first + 4]);
    await client.close();
  });

  test('rpc errors from the proxy reach the client as error replies with the backend\'s code', async () => {
    const { client } = await connected(cf().wsUrl, await mint(cf().hmacSecret, { sub: 'dora', expIn: 300 }));
    const bad = client.proto.rpc(AGENT_RUN_METHOD, { content: 'no ids' });
    const unknown = client.proto.rpc('nope', {});
    client.send(batch(bad.text, unknown.text));
    const r1 = await client.reply(bad.id);
    const r2 = await client.reply(unknown.id);
    assert.deepEqual(r1.kind === 'error' && [r1.code, r1.message, r1.method], [AGENT_ERRORS.badRequest.code, AGENT_ERRORS.badRequest.message, 'rpc']);
    assert.deepEqual(r2.kind === 'error' && r2.code, AGENT_ERRORS.unknownMethod.code);
    await client.close();
  });

  test('in-band refresh: a new token for the same user extends ttl; another user\'s token closes 3500; an expired one 3005', async () => {
    const ok = await connected(cf().wsUrl, await mint(cf().hmacSecret, { sub: 'rita', expIn: 30 }));
    // Minting and connecting may cross a second boundary: the ttl is 30 or 29.
    assert.ok(ok.reply.result.ttl === 30 || ok.reply.result.ttl === 29, String(ok.reply.result.ttl));
    const cmd = ok.client.proto.refresh(await mint(cf().hmacSecret, { sub: 'rita', expIn: 600 }));
    ok.client.send(cmd.text);
    const r = await ok.client.reply(cmd.id);
    assert.deepEqual(r.kind === 'reply' && [r.method, r.result], ['refresh', { expires: true, ttl: 600 }]);

    const other = await connected(cf().wsUrl, await mint(cf().hmacSecret, { sub: 'rob', expIn: 30 }));
    other.client.send(other.client.proto.refresh(await mint(cf().hmacSecret, { sub: 'not-rob', expIn: 600 })).text);
    const expired = await connected(cf().wsUrl, await mint(cf().hmacSecret, { sub: 'ray', expIn: 30 }));
    expired.client.send(expired.client.proto.refresh(await mint(cf().hmacSecret, { sub: 'ray', expIn: -5 })).text);
    const [c1, c2] = await Promise.all([other.client.closed, expired.client.closed]);
    assert.deepEqual([c1.code, c1.reason], [3500, 'invalid token']);
    assert.deepEqual([c2.code, c2.reason], [3005, 'connection expired']);
    await ok.client.close();
  });

  test('history and recovery: missed publications come back in the subscribe reply with recovered: true', async () => {
    const { client, reply } = await connected(cf().wsUrl, await mint(cf().hmacSecret, { sub: 'hank', expIn: 300 }));
    const ch = 'personal:#hank';
    const sub = reply.result.subs[ch];
    assert.equal(sub?.recoverable, true);
    assert.equal(typeof sub?.epoch, 'string');
    const p1 = await cf().api<{ offset: number; epoch: string }>('publish', { channel: ch, data: { n: 1 } });
    assert.equal(p1.epoch, sub?.epoch);
    await client.next(isPub(ch));
    const un = client.proto.unsubscribe(ch);
    client.send(un.text);
    assert.deepEqual(await client.reply(un.id).then((m) => m.kind === 'reply' && m.result), {});
    await cf().api('publish', { channel: ch, data: { n: 2 } });
    await cf().api('publish', { channel: ch, data: { n: 3 } });
    const re = client.proto.subscribe(ch, { recover: true, offset: p1.offset, epoch: p1.epoch });
    client.send(re.text);
    const r = await client.reply(re.id);
    assert.equal(r.kind, 'reply');
    const res = r.kind === 'reply' ? r.result : {};
    assert.equal(res['recovered'], true);
    assert.deepEqual((res['publications'] as Array<{ data: unknown; offset: number }>).map((p) => [p.data, p.offset]), [
      [{ n: 2 }, p1.offset + 1],
      [{ n: 3 }, p1.offset + 2],
    ]);
    const h = client.proto.history({ channel: ch, limit: 10 });
    client.send(h.text);
    const hr = await client.reply(h.id);
    const pubs = hr.kind === 'reply' ? (hr.result['publications'] as Array<{ offset: number }>) : [];
    assert.deepEqual(pubs.map((p) => p.offset), [p1.offset, p1.offset + 1, p1.offset + 2]);
    // A wrong epoch is not an error: the reply just lacks recovered.
    const un2 = client.proto.unsubscribe(ch);
    const bad = client.proto.subscribe(ch, { recover: true, offset: 1, epoch: 'not-the-epoch' });
    client.send(batch(un2.text, bad.text));
    const br = await client.reply(bad.id);
    assert.deepEqual(br.kind === 'reply' && [br.result['recovered'], br.result['was_recovering'], br.result['publications']], [undefined, true, undefined]);
    await client.close();
  });

  test('an unasked pong `{}` closes the connection 3501', async () => {
    const { client } = await connected(cf().wsUrl, await mint(cf().hmacSecret, { sub: 'pat', expIn: 300 }));
    client.send(client.proto.pong());
    const closed = await client.closed;
    assert.deepEqual([closed.code, closed.reason], [3501, 'bad request']);
  });

  test('wrong API key: HTTP 401', async () => {
    const res = await fetch(`${cf().apiUrl}/info`, { method: 'POST', headers: { 'x-api-key': 'wrong' }, body: '{}' });
    assert.equal(res.status, 401);
  });
});

describe('centrifugo v6.9.1: ping/pong and expiry', { skip, timeout: 30_000, concurrency: true }, () => {
  let pair: { cf: CentrifugoServer; driver: AgentDriver } | undefined;
  before(async () => {
    if (missing) throw new Error(missing);
    pair = await startPair({ pingIntervalMs: 1_500, pongTimeoutMs: 500, expiredCloseDelayMs: 1_000 });
  });
  after(() => stopPair(pair));
  const cf = (): CentrifugoServer => pair!.cf;

  test('server pings `{}` every interval; a client that answers stays connected', async () => {
    const { client, reply } = await connected(cf().wsUrl, await mint(cf().hmacSecret, { sub: 'polly', expIn: 300 }));
    assert.equal(reply.result.ping, 1, 'ping is whole seconds, truncated');
    await delay(5_000);
    const pings = client.seen.filter((m) => m.kind === 'ping');
    assert.ok(pings.length >= 3, `${pings.length} pings in 5 s`);
    assert.equal(client.ws.readyState, client.ws.OPEN);
    await client.close();
  });

  test('a client that does not answer is closed 3012 "no pong" one pong timeout after the ping', async (t) => {
    const { client } = await connected(cf().wsUrl, await mint(cf().hmacSecret, { sub: 'quiet', expIn: 300 }), { autoPong: false });
    const closed = await client.closed;
    assert.deepEqual([closed.code, closed.reason], [3012, 'no pong']);
    const ping = client.seen.find((m) => m.kind === 'ping');
    assert.ok(ping, 'a ping came first');
    const wait = closed.at - ping.at;
    assert.ok(wait >= 400 && wait < 1_200, `closed ${wait} ms after the ping (pong timeout 500 ms)`);
    assert.ok(ping.at >= 700 && ping.at <= 1_700, `first ping after ${ping.at} ms (interval 1500 ms)`);
    t.diagnostic(`silent client: first ping at ${ping.at} ms, closed 3012 at ${closed.at} ms (${wait} ms after the ping)`);
  });

  test('no refresh: close 3005 "connection expired" at exp + expired_close_delay', async (t) => {
    const { client } = await connected(cf().wsUrl, await mint(cf().hmacSecret, { sub: 'ella', expIn: 2 }));
    const closed = await client.closed;
    assert.deepEqual([closed.code, closed.reason], [3005, 'connection expired']);
    assert.ok(closed.at > 1_500 && closed.at < 4_500, `closed after ${closed.at} ms (exp 2 s + delay 1 s, exp has 1 s granularity)`);
    t.diagnostic(`exp in 2 s, expired_close_delay 1 s: closed 3005 at ${closed.at} ms`);
  });
});

describe('centrifugo v6.9.1: connection counts', { skip, timeout: 30_000 }, () => {
  let pair: { cf: CentrifugoServer; driver: AgentDriver } | undefined;
  before(async () => {
    if (missing) throw new Error(missing);
    pair = await startPair();
  });
  after(() => stopPair(pair));

  async function counts(): Promise<{ clients: number; users: number; inflight: number }> {
    const info = await pair!.cf.api<{ nodes: Array<{ num_clients: number; num_users: number }> }>('info');
    const metrics = await (await fetch(`${pair!.cf.httpUrl}/metrics`)).text();
    const inflight = metrics
      .split('\n')
      .filter((l) => l.startsWith('centrifugo_client_connections_inflight{'))
      .reduce((n, l) => n + Number(l.split(' ').pop()), 0);
    return { clients: info.nodes[0]?.num_clients ?? NaN, users: info.nodes[0]?.num_users ?? NaN, inflight };
  }
  async function until(pred: (c: Awaited<ReturnType<typeof counts>>) => boolean, ms: number): Promise<number> {
    const t0 = Date.now();
    for (;;) {
      if (pred(await counts())) return Date.now() - t0;
      if (Date.now() - t0 > ms) throw new Error(`counts still ${JSON.stringify(await counts())} after ${ms} ms`);
      await delay(100);
    }
  }

  test('info num_clients/num_users follow connects and closes within one 3 s snapshot; the inflight gauge at once', async (t) => {
    const secret = pair!.cf.hmacSecret;
    assert.deepEqual(await counts(), { clients: 0, users: 0, inflight: 0 });
    const cs = await Promise.all(['u1', 'u1', 'u2'].map(async (u) => (await connected(pair!.cf.wsUrl, await mint(secret, { sub: u, expIn: 300 }))).client));
    // A socket that never sends connect is not a client.
    const bare = await open(pair!.cf.wsUrl);
    assert.equal((await counts()).inflight, 3);
    const up = await until((c) => c.clients === 3 && c.users === 2, 5_000);
    await Promise.all(cs.map((c) => c.close()));
    const t0 = Date.now();
    await until((c) => c.inflight === 0, 2_000);
    const gaugeMs = Date.now() - t0;
    const down = await until((c) => c.clients === 0 && c.users === 0, 5_000);
    assert.ok(up <= 4_000 && down <= 4_000, `info caught up in ${up} ms and ${down} ms`);
    assert.ok(gaugeMs < 500, `gauge dropped in ${gaugeMs} ms`);
    t.diagnostic(`info caught up ${up} ms after connects and ${down} ms after the gauge hit 0; the gauge took ${gaugeMs} ms`);
    await bare.close();
  });
});

describe('centrifugo v6.9.1: the faults wsgate must catch', { skip, timeout: 60_000, concurrency: true }, () => {
  before(() => {
    if (missing) throw new Error(missing);
  });

  test('hmacMismatch: a token from the issuer\'s secret is refused with 3500', async (t) => {
    const pair = await startPair({ faults: { hmacMismatch: true } });
    t.after(() => stopPair(pair));
    const c = await open(pair.cf.wsUrl);
    c.connect(await mint(pair.cf.hmacSecret, { sub: 'alice', expIn: 300 }));
    const closed = await c.closed;
    assert.deepEqual([closed.code, closed.reason], [3500, 'invalid token']);
  });

  test('openPersonalChannels: another user subscribes to alice\'s channel and sees her run', async (t) => {
    const pair = await startPair({ faults: { openPersonalChannels: true } });
    t.after(() => stopPair(pair));
    const alice = await connected(pair.cf.wsUrl, await mint(pair.cf.hmacSecret, { sub: 'alice', expIn: 300 }));
    const eve = await connected(pair.cf.wsUrl, await mint(pair.cf.hmacSecret, { sub: 'eve', expIn: 300 }));
    const s = eve.client.proto.subscribe('personal:#alice');
    eve.client.send(s.text);
    assert.equal((await eve.client.reply(s.id)).kind, 'reply');
    await agentRun(alice.client, 'personal:#alice', 'm-open');
    const leaked = await eve.client.next(isPub('personal:#alice'));
    assert.equal(leaked.kind === 'publication' && (leaked.pub.data as AgentEvent).user_id, 'alice');
    await Promise.all([alice.client.close(), eve.client.close()]);
  });

  test('history off: no epoch or offsets, and the history command answers 108 "not available"', async (t) => {
    const pair = await startPair({ history: false });
    t.after(() => stopPair(pair));
    const { client, reply } = await connected(pair.cf.wsUrl, await mint(pair.cf.hmacSecret, { sub: 'nora', expIn: 300 }));
    assert.deepEqual(reply.result.subs, { 'personal:#nora': {} });
    const { events, offsets } = await agentRun(client, 'personal:#nora', 'm-nohist');
    assert.equal(events.length, 5);
    assert.deepEqual(offsets, [undefined, undefined, undefined, undefined, undefined]);
    const h = client.proto.history({ channel: 'personal:#nora' });
    client.send(h.text);
    const r = await client.reply(h.id);
    assert.deepEqual(r.kind === 'error' && [r.code, r.message], [ERROR_CODES.notAvailable, 'not available']);
    await client.close();
  });

  test('client-side personal subscription (serverSidePersonal: false): own channel subscribes, another user\'s is 103', async (t) => {
    const pair = await startPair({ serverSidePersonal: false });
    t.after(() => stopPair(pair));
    const { client, reply } = await connected(pair.cf.wsUrl, await mint(pair.cf.hmacSecret, { sub: 'olga', expIn: 300 }));
    assert.deepEqual(reply.result.subs, {});
    const own = client.proto.subscribe('personal:#olga');
    const other = client.proto.subscribe('personal:#oscar');
    client.send(batch(own.text, other.text));
    const r1 = await client.reply(own.id);
    const r2 = await client.reply(other.id);
    assert.deepEqual(r1.kind === 'reply' && [r1.method, r1.result['recoverable'], typeof r1.result['epoch']], ['subscribe', true, 'string']);
    assert.deepEqual(r2.kind === 'error' && r2.code, ERROR_CODES.permissionDenied);
    const { events } = await agentRun(client, 'personal:#olga', 'm-client-side');
    assert.deepEqual(events.map((e) => e.type), [...AGENT_EVENTS]);
    await client.close();
  });

  for (const [fault, problem] of [
    [{ kind: 'drop', event: 'tool_completed' }, 'missing tool_completed'],
    [{ kind: 'duplicate', event: 'agent_thinking' }, 'agent_thinking received 2 times'],
    [{ kind: 'reorder' }, 'out of order: agent_started > tool_executing > agent_thinking > tool_completed > agent_completed'],
  ] as const) {
    test(`agent driver fault ${fault.kind}: the run tracker says "${problem}"`, async (t) => {
      const pair = await startPair();
      t.after(() => stopPair(pair));
      pair.driver.setFault(fault);
      const { client } = await connected(pair.cf.wsUrl, await mint(pair.cf.hmacSecret, { sub: 'fay', expIn: 300 }));
      const { events } = await agentRun(client, 'personal:#fay', `m-${fault.kind}`, 1_500);
      await pair.driver.idle();
      // Drain what a fault published after agent_completed (a reorder keeps agent_completed last).
      const run = new RunTracker('fay', `m-${fault.kind}`);
      for (const e of events) run.add(canonical(e));
      const v = run.verdict();
      assert.equal(v.complete, false);
      assert.ok(v.problems.includes(problem), JSON.stringify(v.problems));
      await client.close();
    });
  }

  test('agent driver fault misroute: the run lands on another user\'s channel, never the caller\'s', async (t) => {
    const pair = await startPair();
    t.after(() => stopPair(pair));
    pair.driver.setFault({ kind: 'misroute', toUser: 'vic' });
    const caller = await connected(pair.cf.wsUrl, await mint(pair.cf.hmacSecret, { sub: 'cal', expIn: 300 }));
    const victim = await connected(pair.cf.wsUrl, await mint(pair.cf.hmacSecret, { sub: 'vic', expIn: 300 }));
    const { events } = await agentRun(caller.client, 'personal:#cal', 'm-mis', 1_000);
    assert.deepEqual(events, []);
    const got = await victim.client.next(isPub('personal:#vic'));
    assert.equal(got.kind === 'publication' && (got.pub.data as AgentEvent).user_id, 'cal');
    await Promise.all([caller.client.close(), victim.client.close()]);
  });

  test('kill() mid-run: clients see 1006 with no close frame; close(): 3001 "shutdown"', async (t) => {
    const killed = await startPair();
    const stopped = await startPair();
    t.after(() => Promise.all([stopPair(killed), stopPair(stopped)]).then(() => undefined));
    killed.driver.setDelays({ eventDelayMs: 200 });
    const a = await connected(killed.cf.wsUrl, await mint(killed.cf.hmacSecret, { sub: 'kai', expIn: 300 }));
    const cmd = a.client.proto.rpc(AGENT_RUN_METHOD, { message_id: 'm-kill', thread_id: 't', content: 'x' });
    a.client.send(cmd.text);
    await a.client.next(isPub('personal:#kai'));
    await killed.cf.kill();
    const c1 = await a.client.closed;
    assert.equal(c1.code, 1006);
    await killed.driver.idle();
    assert.match(killed.driver.runs[0]?.error ?? '', /unreachable/);

    const b = await connected(stopped.cf.wsUrl, await mint(stopped.cf.hmacSecret, { sub: 'sam', expIn: 300 }));
    await stopped.cf.close();
    const c2 = await b.client.closed;
    assert.deepEqual([c2.code, c2.reason], [3001, 'shutdown']);
  });
});
