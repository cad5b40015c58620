/**
 * The reference service over several worker processes (reference-service/cluster.ts), with real sockets: the
 * protocol holds across workers (direct and room messages exactly once, agent runs, faults), /health
 * and /metrics count the whole cluster, and close() ends every worker.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startTargetCluster } from '../../reference-service/cluster.ts';
import type { RunningCluster, StartClusterOptions } from '../../reference-service/cluster.ts';
import { TargetConfigError } from '../../reference-service/errors.ts';
import { connect, delay, eventually, getJson, metric, refusal, SECRET, tokenFor, within } from './helpers.ts';
import type { Client, Frame } from './helpers.ts';

const EVENT_ORDER = ['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'];

async function startCluster(t: { after: (fn: () => Promise<void>) => void }, options: StartClusterOptions = {}): Promise<RunningCluster> {
  const cluster = await startTargetCluster({ authSecret: SECRET, backendSecret: SECRET, workers: 2, stepDelayMs: 5, ...options });
  t.after(() => cluster.close());
  return cluster;
}

interface Conn {
  client: Client;
  user: string;
  /** The worker the connection landed on, from its connection id (`w<index>-…`). */
  worker: number;
  id: string;
}

/** Connects as `user` and reads connection_established. */
async function open(cluster: RunningCluster, user: string): Promise<Conn> {
  const client = await connect(cluster.wsUrl, { token: await tokenFor(cluster, user) });
  const first = await client.next();
  assert.equal(first.type, 'connection_established');
  const id = String(first['connection_id']);
  const worker = Number(/^w(\d+)-/.exec(id)?.[1]);
  assert.ok(worker >= 1, `connection id ${id} names its worker`);
  return { client, user, worker, id };
}

/** Connects as `user` until the connection lands on `worker` (the others are closed again). */
async function openOn(cluster: RunningCluster, user: string, worker: number): Promise<Conn> {
  for (let tries = 0; tries < 20; tries++) {
    const conn = await open(cluster, user);
    if (conn.worker === worker) return conn;
    await conn.client.close();
  }
  throw new Error(`no connection of ${user} landed on worker ${worker}`);
}

const health = async (cluster: RunningCluster): Promise<Record<string, unknown>> => (await getJson(`${cluster.httpUrl}/health`)).body;

/** Frames of `type` that arrive within `ms`. */
async function framesOf(conn: Conn, type: string, ms = 300): Promise<Frame[]> {
  return (await conn.client.drain(ms)).filter((f) => f.type === type);
}

describe('target cluster (2 workers)', { timeout: 60_000 }, () => {
  test('connections spread over both workers; /health, /metrics and stats() count all of them', async (t) => {
    const cluster = await startCluster(t);
    assert.equal(cluster.workers, 2);
    const conns: Conn[] = [];
    for (let i = 0; i < 8; i++) conns.push(await open(cluster, `u${i}`));
    // a second connection of one user: counted as a connection, not as a user
    conns.push(await open(cluster, 'u0'));
    const perWorker = new Map<number, number>();
    for (const c of conns) perWorker.set(c.worker, (perWorker.get(c.worker) ?? 0) + 1);
    assert.deepEqual([...perWorker.keys()].sort(), [1, 2], 'both workers hold connections');
    assert.equal(new Set(conns.map((c) => c.id)).size, 9, 'connection ids are unique across workers');
    assert.deepEqual(
      cluster.workerInfo().map((w) => w.connections),
      [perWorker.get(1), perWorker.get(2)],
    );

    // HTTP requests land on either worker; every one answers with the cluster's figures.
    for (let i = 0; i < 4; i++) {
      const body = await health(cluster);
      assert.equal(body['status'], 'healthy');
      assert.equal(body['active_connections'], 9);
      assert.equal(body['users'], 8);
    }
    assert.deepEqual(cluster.stats(), { active_connections: 9, users: 8 });
    assert.equal(await metric(cluster, 'wsgate_active_connections'), 9);
    assert.equal(await metric(cluster, 'wsgate_users'), 8);
    assert.equal(await metric(cluster, 'wsgate_connections_total'), 9);

    await Promise.all(conns.slice(0, 3).map((c) => c.client.close()));
    await eventually(async () => (await health(cluster))['active_connections'] === 6);
    assert.equal((await health(cluster))['users'], 6, 'u0 still has a connection');
  });

  test('refused handshakes are answered by the workers and counted cluster-wide', async (t) => {
    const cluster = await startCluster(t);
    for (let i = 0; i < 3; i++) {
      const answer = await refusal(cluster.wsUrl, { token: 'not-a-jwt' });
      assert.equal(answer.status, 403);
      assert.deepEqual(answer.body, { error: 'invalid_token' });
    }
    assert.equal((await refusal(cluster.wsUrl)).status, 401);
    assert.equal(await metric(cluster, 'wsgate_handshake_rejections_total{status="403"}'), 3);
    assert.equal(await metric(cluster, 'wsgate_handshake_rejections_total{status="401"}'), 1);
  });

  test('a direct message reaches every connection of its recipient on any worker, exactly once', async (t) => {
    const cluster = await startCluster(t);
    const alice = await openOn(cluster, 'alice', 1);
    const bobThere = await openOn(cluster, 'bob', 2);
    const bobHere = await openOn(cluster, 'bob', 1);
    const carol = await openOn(cluster, 'carol', 2);

    for (let q = 0; q < 5; q++) alice.client.send({ type: 'direct_message', to_user_id: 'bob', message_id: `m${q}`, content: { q } });
    for (const bob of [bobThere, bobHere]) {
      const got = await framesOf(bob, 'direct_message');
      assert.deepEqual(got.map((f) => f['message_id']), ['m0', 'm1', 'm2', 'm3', 'm4'], `bob on worker ${bob.worker}: each once, in order`);
      assert.equal(got[0]?.['from_user_id'], 'alice');
      assert.deepEqual(got[0]?.['content'], { q: 0 });
    }
    assert.deepEqual(await framesOf(alice, 'direct_message', 50), [], 'no echo to the sender');
    assert.deepEqual(await framesOf(carol, 'direct_message', 50), [], 'nothing for anyone else');

    // To yourself: your other connections only, on whichever worker.
    bobThere.client.send({ type: 'direct_message', to_user_id: 'bob', message_id: 'self', content: null });
    assert.deepEqual((await framesOf(bobHere, 'direct_message')).map((f) => f['message_id']), ['self']);
    assert.deepEqual(await framesOf(bobThere, 'direct_message', 50), []);

    // An offline user's messages are dropped; a user who reconnects on the other worker is reachable.
    await carol.client.close();
    alice.client.send({ type: 'direct_message', to_user_id: 'carol', message_id: 'lost', content: null });
    const carolAgain = await openOn(cluster, 'carol', 1);
    alice.client.send({ type: 'direct_message', to_user_id: 'carol', message_id: 'found', content: null });
    assert.deepEqual((await framesOf(carolAgain, 'direct_message')).map((f) => f['message_id']), ['found']);
  });

  test('a room message reaches its members on every worker exactly once, the sender included', async (t) => {
    const cluster = await startCluster(t);
    const members = [await openOn(cluster, 'alice', 1), await openOn(cluster, 'bob', 2), await openOn(cluster, 'carol', 2), await openOn(cluster, 'dave', 1)];
    const outsider = await openOn(cluster, 'erin', 2);
    const counts: unknown[] = [];
    for (const m of members) {
      m.client.send({ type: 'join_room', room: 'lobby' });
      const joined = await m.client.next();
      assert.equal(joined.type, 'room_joined');
      counts.push(joined['members']);
    }
    assert.deepEqual(counts, [1, 2, 3, 4], 'room_joined counts members on every worker');

    const sender = members[1];
    assert.ok(sender);
    for (let q = 0; q < 5; q++) sender.client.send({ type: 'room_message', room: 'lobby', message_id: `r${q}`, content: q });
    for (const m of members) {
      const got = await framesOf(m, 'room_message');
      assert.deepEqual(got.map((f) => f['message_id']), ['r0', 'r1', 'r2', 'r3', 'r4'], `${m.user} on worker ${m.worker}`);
      assert.equal(got[0]?.['from_user_id'], 'bob');
    }
    assert.deepEqual(await framesOf(outsider, 'room_message', 50), []);

    // A member who left (or disconnected) gets nothing more; the count follows.
    const [alice, , carol, dave] = members;
    assert.ok(alice && carol && dave);
    carol.client.send({ type: 'leave_room', room: 'lobby' });
    assert.equal((await carol.client.next()).type, 'room_left');
    await dave.client.close();
    alice.client.send({ type: 'room_message', room: 'lobby', message_id: 'after', content: null });
    assert.deepEqual((await framesOf(sender, 'room_message')).map((f) => f['message_id']), ['after']);
    assert.deepEqual(await framesOf(carol, 'room_message', 50), []);
    outsider.client.send({ type: 'join_room', room: 'lobby' });
    assert.equal((await outsider.client.next())['members'], 3, 'alice, bob and erin');
  });

  test('answers keep their order on a connection while the cluster is asked (join, then message at once)', async (t) => {
    const cluster = await startCluster(t);
    const alice = await open(cluster, 'alice');
    alice.client.send({ type: 'join_room', room: 'fast' });
    alice.client.send({ type: 'room_message', room: 'fast', message_id: 'm', content: 1 });
    alice.client.send({ type: 'ping', id: 1 });
    const frames = await alice.client.take(3);
    assert.deepEqual(frames.map((f) => f.type), ['room_joined', 'room_message', 'pong']);
  });

  test('agent runs stream all five events in order on every worker', async (t) => {
    const cluster = await startCluster(t);
    const conns = [await openOn(cluster, 'alice', 1), await openOn(cluster, 'bob', 2)];
    for (const c of conns) {
      c.client.send({ type: 'user_message', thread_id: 't', message_id: `m-${c.user}`, content: 'hi' });
      const events = await c.client.take(5);
      assert.deepEqual(events.map((e) => e.type), EVENT_ORDER);
      assert.ok(events.every((e) => e['user_id'] === c.user && e['message_id'] === `m-${c.user}`));
      assert.match(String(events[0]?.['run_id']), new RegExp(`^w${c.worker}-`));
    }
    assert.equal(await metric(cluster, 'wsgate_agent_runs_total'), 2);
    assert.equal(await metric(cluster, 'wsgate_agent_events_total{event="agent_completed"}'), 2);
  });

  test('isolation_leak plays on every worker, and leaks across workers when a worker has no other user', async (t) => {
    const cluster = await startCluster(t, { faults: ['isolation_leak'] });
    const alice = await openOn(cluster, 'alice', 1);
    const bob = await openOn(cluster, 'bob', 2);
    // Only one user per worker: every leak must cross to the other worker.
    for (let r = 0; r < 3; r++) alice.client.send({ type: 'user_message', thread_id: 't', message_id: `a${r}`, content: 'x' });
    for (let r = 0; r < 3; r++) bob.client.send({ type: 'user_message', thread_id: 't', message_id: `b${r}`, content: 'x' });
    const [atAlice, atBob] = await Promise.all([alice.client.drain(500), bob.client.drain(500)]);
    const foreign = (frames: Frame[], owner: string): Frame[] => frames.filter((f) => typeof f['user_id'] === 'string' && f['user_id'] !== owner);
    // 15 events per worker, every third one leaks.
    assert.equal(foreign(atBob, 'bob').length, 5, 'alice\'s events leaked to bob, across workers');
    assert.equal(foreign(atAlice, 'alice').length, 5, 'bob\'s events leaked to alice, across workers');
    assert.equal(atAlice.filter((f) => f['user_id'] === 'alice').length, 15, 'alice still gets all her own');

    await cluster.setFault('isolation_leak', false);
    alice.client.send({ type: 'user_message', thread_id: 't', message_id: 'clean', content: 'x' });
    assert.equal(foreign(await bob.client.drain(300), 'bob').length, 0, 'switched off on every worker');
  });

  test('connection_leak switched on at run time keeps closed connections of every worker counted', async (t) => {
    const cluster = await startCluster(t);
    await cluster.setFault('connection_leak', true);
    assert.deepEqual(cluster.faults, ['connection_leak']);
    const conns = [await openOn(cluster, 'a', 1), await openOn(cluster, 'b', 2), await openOn(cluster, 'c', 1), await openOn(cluster, 'd', 2)];
    await Promise.all(conns.map((c) => c.client.close()));
    await delay(200);
    // Really held: each worker keeps its closed connections registered, and never tells the primary they closed.
    assert.deepEqual(cluster.workerInfo().map((w) => w.connections), [2, 2]);
    const body = await health(cluster);
    assert.equal(body['active_connections'], 4, 'closed connections on both workers still counted');
    assert.equal(body['users'], 4);
    assert.equal(await metric(cluster, 'wsgate_active_connections'), 4);
  });

  test('handshake_403 switched on refuses handshakes on every worker', async (t) => {
    const cluster = await startCluster(t);
    await cluster.setFault('handshake_403', true);
    const token = await tokenFor(cluster, 'alice');
    for (let i = 0; i < 4; i++) assert.equal((await refusal(cluster.wsUrl, { token })).status, 403);
    assert.equal(await metric(cluster, 'wsgate_handshake_rejections_total{status="403"}'), 4);
  });

  test('close() says goodbye (1001) on every worker and ends every worker process', async (t) => {
    const cluster = await startTargetCluster({ authSecret: SECRET, backendSecret: SECRET, workers: 2 });
    t.after(() => cluster.close());
    const conns = [await openOn(cluster, 'a', 1), await openOn(cluster, 'b', 2)];
    const pids = cluster.workerInfo().map((w) => w.pid);
    assert.equal(pids.length, 2);
    await within(cluster.close(), 10_000, 'the cluster to close');
    for (const c of conns) assert.equal((await c.client.whenClosed()).code, 1001);
    for (const pid of pids) assert.throws(() => process.kill(Number(pid), 0), /ESRCH/, `worker ${pid} is gone`);
    assert.ok(cluster.workerInfo().every((w) => w.state === 'gone'));
    await assert.rejects(fetch(`${cluster.authUrl}/health`));
  });
});

test('workers: 1 is the single-process service; a bad worker count is refused', async (t) => {
  const single = await startTargetCluster({ authSecret: SECRET, backendSecret: SECRET });
  t.after(() => single.close());
  assert.equal(single.workers, 1);
  assert.equal(single.workerInfo()[0]?.pid, process.pid);
  const conn = await connect(single.wsUrl, { token: await tokenFor(single, 'alice') });
  assert.doesNotMatch(String((await conn.next())['connection_id']), /^w1-/);
  await conn.close();
  for (const workers of [0, 1.5, 65]) {
    await assert.rejects(startTargetCluster({ authSecret: SECRET, backendSecret: SECRET, workers }), (e: unknown) => e instanceof TargetConfigError && /workers is/.test(e.message));
  }
  await delay(0);
});

/** Node child processes of `pid` (tsx may run an esbuild child too). */
function childrenOf(pid: number): number[] {
  try {
    const lines = execFileSync('ps', ['-o', 'pid=,comm=', '--ppid', String(pid)], { encoding: 'utf8' }).split('\n');
    return lines.map((l) => l.trim().split(/\s+/)).filter(([, comm]) => comm === 'node').map(([p]) => Number(p));
  } catch {
    return []; // ps exits 1 when there are none
  }
}

test('wsgate reference --workers 2 serves from two worker processes and stops them on SIGTERM', async () => {
  const main = fileURLToPath(new URL('../../reference-service/main.ts', import.meta.url));
  const code = `import(${JSON.stringify(main)}).then((m) => m.runTargetCli(process.argv.slice(1), process.env)).then((c) => process.exit(c))`;
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', code, '--', '--workers', '2'], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    env: { PATH: process.env['PATH'], WSGATE_AUTH_SECRET: SECRET },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  try {
    const line = await within(new Promise<string>((resolve) => createInterface({ input: child.stdout }).once('line', resolve)), 20_000, 'the ready line');
    const ready = JSON.parse(line) as Record<string, unknown>;
    assert.equal(ready['workers'], 2);
    const workerPids = childrenOf(Number(child.pid));
    assert.equal(workerPids.length, 2, 'two worker processes');
    const target = { authUrl: String(ready['auth_url']) } as RunningCluster;
    const workers = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const client = await connect(String(ready['ws_url']), { token: await tokenFor(target, `u${i}`) });
      workers.add(String((await client.next())['connection_id']).slice(0, 3));
    }
    assert.deepEqual([...workers].sort(), ['w1-', 'w2-']);
    assert.equal((await getJson(String(ready['health_url']))).body['active_connections'], 4);
    child.kill('SIGTERM');
    assert.equal(await within(exited, 10_000, 'the process to exit'), 0);
    for (const pid of workerPids) assert.throws(() => process.kill(pid, 0), /ESRCH/, `worker ${pid} is gone`);
  } finally {
    child.kill('SIGKILL');
  }
});
