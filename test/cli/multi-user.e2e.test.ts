/**
 * End to end: `wsgate multi-user` (main() in-process, captured streams) runs the real multi-user bundle
 * on wsgate's own engine (or WSGATE_ENGINE's) against the reference service, and its exit code and JSON
 * result say what each business scenario observed. The runs are independent (own service, own results
 * directory) and run concurrently; each holds its connections for a second or two. With WSGATE_K6 set,
 * a chat run and the split over two k6 processes run once more with --engine k6 (skipped with one
 * line otherwise).
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { EXIT, main } from '../../cli/main.ts';
import { startTargetCluster } from '../../reference-service/cluster.ts';
import { k6Skip } from '../helpers/k6.ts';
import { DEFAULT_ENGINE, capture, cleanEnv as scrubbed, STACK_FRAME, tempDir } from './helpers.ts';

const cleanEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => scrubbed([], extra);

interface Threshold {
  metric: string;
  expression: string;
  ok: boolean;
  observed: Record<string, number>;
}
interface Result {
  verdict: string;
  thresholds: Threshold[];
  scenarios: { name: string; verdict: string; thresholds: Threshold[] }[];
  metrics: Record<string, Record<string, number>>;
}

interface Run {
  code: number;
  out: string;
  err: string;
  /** The JSON results written, in instance order. */
  results: Result[];
}

async function multiUser(args: string[], env = cleanEnv()): Promise<Run> {
  const dir = tempDir('wsgate-mu-e2e-');
  const c = capture();
  const code = await main(['multi-user', '--results-dir', dir, ...args], env, c.io);
  assert.doesNotMatch(c.all(), STACK_FRAME, 'no stack trace');
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => /^multi-user-local-\d{8}T\d{6}Z(-i\dof\d)?\.json$/.test(f)).sort() : [];
  const results = files.map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Result);
  return { code, out: c.out(), err: c.err(), results };
}

function threshold(result: Result | undefined, metric: string): Threshold {
  const t = result?.thresholds.find((x) => x.metric === metric);
  assert.ok(t, `threshold on ${metric} in the result`);
  return t;
}

/** A run's lines for a failure message. */
const transcript = (r: Run): string => `exit ${r.code}\n${r.out}\n${r.err}`;

const SHORT = ['--duration', '1s', '--messages', '3', '--group-size', '5'];

// Every run in this process listens for SIGINT and SIGTERM while it lasts; they run side by side.
process.setMaxListeners(40);

/**
 * A service of our own for a split run, so the test can ask it afterwards; connection_leak keeps every
 * closed connection and its user counted, so /health tells how many distinct users ever connected.
 */
async function countingService(t: { after(fn: () => Promise<void>): void }) {
  const secret = 'multi-user-e2e-secret-0123456789abcdef';
  const service = await startTargetCluster({ workers: 2, authSecret: secret, backendSecret: secret, faults: ['connection_leak'] });
  t.after(() => service.close());
  const env = cleanEnv({ WSGATE_JWT_SECRET: secret, WSGATE_WS_URL: service.wsUrl, WSGATE_HTTP_URL: service.httpUrl, WSGATE_AUTH_URL: service.authUrl });
  return { service, env };
}

const SPLIT = ['--scenario', 'stress_concurrent_connections', '--connections-per-vu', '4', '--duration', '1s', '--instances', '2', '--local-ips', '127.0.0.1-127.0.0.2'];

describe('wsgate multi-user, end to end', { concurrency: true, timeout: 5 * 60_000 }, () => {
  test('chat: targeted, broadcast and sequential messages all delivered, exactly once and in order', async () => {
    const r = await multiUser(['--embedded-target', '--scenario', 'chat', '--users', '20', ...SHORT]);
    assert.equal(r.code, EXIT.PASS, transcript(r));
    const [result] = r.results;
    assert.equal(result?.verdict, 'pass');
    for (const pattern of ['targeted', 'broadcast', 'sequential']) {
      const t = threshold(result, `wsgate_delivery{pattern:${pattern}}`);
      assert.ok(t.ok, pattern);
      assert.equal(t.observed['rate'], 1, `${pattern} delivery rate`);
      assert.ok((t.observed['passes'] ?? 0) > 0, `${pattern} was observed, not vacuous`);
    }
    // 20 users in 4 groups of 5: 3 targeted + 3 broadcast + 15 sequential messages each.
    assert.equal(threshold(result, 'wsgate_delivery{pattern:sequential}').observed['passes'], 20 * 15);
    assert.equal(threshold(result, 'wsgate_duplicates').observed['count'] ?? 0, 0);
    assert.equal(threshold(result, 'wsgate_isolation_violations').observed['count'] ?? 0, 0);
    assert.match(r.out, /PASS multi-user \(env local\)/);
  });

  test('agent_execution: every run delivers its five events, only to its user', async () => {
    const r = await multiUser(['--embedded-target', '--scenario', 'agent_execution', '--users', '10', ...SHORT]);
    assert.equal(r.code, EXIT.PASS, transcript(r));
    const completion = threshold(r.results[0], 'wsgate_agent_event_completion');
    assert.equal(completion.observed['rate'], 1);
    assert.equal(completion.observed['passes'], 10 * 3, 'three runs per user');
  });

  test('stress_concurrent_connections: 300 users on a 2-worker service all connect and hold', async () => {
    const r = await multiUser([
      '--embedded-target', '--workers', '2', '--scenario', 'stress_concurrent_connections',
      '--users', '300', '--connections-per-vu', '100', '--ramp-per-s', '1000', '--duration', '2s',
    ]);
    assert.equal(r.code, EXIT.PASS, transcript(r));
    const connected = threshold(r.results[0], 'wsgate_connection_success');
    assert.deepEqual([connected.observed['rate'], connected.observed['passes']], [1, 300]);
    assert.match(r.err, /\(2 workers\)/);
  });

  test('isolation_leak: agent runs leak to other users, so the run fails with violations counted', async () => {
    const r = await multiUser(['--embedded-target', '--fault', 'isolation_leak', '--scenario', 'agent_execution', '--users', '10', ...SHORT]);
    assert.equal(r.code, EXIT.FAIL, transcript(r));
    const [result] = r.results;
    assert.equal(result?.verdict, 'fail');
    const violations = threshold(result, 'wsgate_isolation_violations');
    assert.equal(violations.ok, false);
    assert.ok((violations.observed['count'] ?? 0) > 0, `violations counted: ${JSON.stringify(violations.observed)}`);
    assert.match(r.out, /FAIL multi-user \(env local\)/);
  });

  test('--instances 2 splits the users between two processes, and each user connects exactly once', { skip: DEFAULT_ENGINE === 'k6' ? 'WSGATE_ENGINE=k6: the k6 split runs below' : false }, async (t) => {
    const { service, env } = await countingService(t);
    const users = 30;
    const r = await multiUser([...SPLIT, '--users', String(users)], env);
    assert.equal(r.code, EXIT.PASS, transcript(r));
    // On the engine the instances are its worker processes: one run, one merged verdict.
    assert.equal(r.results.length, 1, 'one result, judged on the merged data');
    assert.equal(threshold(r.results[0], 'wsgate_connection_success').observed['passes'], users);
    assert.match(r.err, /in 2 instances/);
    assert.match(r.out, /PASS multi-user \(env local\) — results: /);
    // 30 connections in all, from 30 distinct users: no user twice, none left out.
    assert.deepEqual(service.stats(), { active_connections: users, users });
    assert.equal((await (await fetch(`${service.httpUrl}/health`)).json() as Record<string, unknown>)['users'], users);
  });
});

describe('wsgate multi-user --engine k6, end to end with the k6 at WSGATE_K6', { concurrency: true, timeout: 5 * 60_000, skip: k6Skip() }, () => {
  test('chat on k6: every pattern delivered exactly once', async () => {
    const r = await multiUser(['--engine', 'k6', '--embedded-target', '--scenario', 'chat', '--users', '20', ...SHORT]);
    assert.equal(r.code, EXIT.PASS, transcript(r));
    assert.match(r.err, /on the k6 v2\.2\.\d+ \(/);
    assert.equal(threshold(r.results[0], 'wsgate_delivery{pattern:sequential}').observed['passes'], 20 * 15);
    assert.equal(threshold(r.results[0], 'wsgate_duplicates').observed['count'] ?? 0, 0);
  });

  test('--instances 2 splits the users between two k6 processes: each user connects exactly once', async (t) => {
    const { service, env } = await countingService(t);
    const users = 30;
    const r = await multiUser(['--engine', 'k6', ...SPLIT, '--users', String(users)], env);
    assert.equal(r.code, EXIT.PASS, transcript(r));
    assert.equal(r.results.length, 2, 'one result per k6 process');
    const perInstance = r.results.map((x) => threshold(x, 'wsgate_connection_success').observed['passes'] ?? 0);
    assert.ok(perInstance.every((n) => n > 0), `both instances connected users: ${perInstance.join(', ')}`);
    assert.equal(perInstance[0]! + perInstance[1]!, users);
    assert.match(r.out, /PASS multi-user \(env local, instance 1\/2\)/);
    assert.match(r.out, /PASS multi-user \(env local, instance 2\/2\)/);
    assert.match(r.out, /PASS multi-user \(env local\) over 2 instances/);
    assert.deepEqual(service.stats(), { active_connections: users, users });
  });
});
