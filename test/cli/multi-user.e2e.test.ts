/**
 * End to end: `wsgate multi-user` (main() in-process, captured streams) runs the real k6 on the real
 * multi-user bundle against the reference service, and its exit code and JSON result say what each
 * business scenario observed. The runs are independent (own service, own results directory) and run
 * concurrently; each holds its connections for a second or two, so the file takes about 30 s.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { ensureK6 } from '../../cli/k6-runtime.ts';
import { EXIT, main } from '../../cli/main.ts';
import { startTargetCluster } from '../../target/cluster.ts';
import { capture, STACK_FRAME, tempDir } from './helpers.ts';

/** The caller's environment without wsgate configuration, except where to find k6. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('WSGATE_') || k === 'WSGATE_K6' || k === 'WSGATE_K6_CACHE') env[k] = v;
  }
  return { ...env, ...extra };
}

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

describe('wsgate multi-user, end to end with the real k6', { concurrency: true, timeout: 5 * 60_000 }, () => {
  before(async () => {
    await ensureK6({ env: process.env, log: (l) => process.stderr.write(`wsgate (test setup): ${l}\n`) });
  });

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

  test('--instances 2 splits the users between two k6 processes: each user connects exactly once', async (t) => {
    // Our own service, so the test can ask it afterwards; connection_leak keeps every closed
    // connection and its user counted, so /health tells how many distinct users ever connected.
    const secret = 'multi-user-e2e-secret-0123456789abcdef';
    const service = await startTargetCluster({ workers: 2, authSecret: secret, backendSecret: secret, faults: ['connection_leak'] });
    t.after(() => service.close());
    const env = cleanEnv({ WSGATE_JWT_SECRET: secret, WSGATE_WS_URL: service.wsUrl, WSGATE_HTTP_URL: service.httpUrl, WSGATE_AUTH_URL: service.authUrl });
    const users = 30;
    const r = await multiUser(
      ['--scenario', 'stress_concurrent_connections', '--users', String(users), '--connections-per-vu', '4', '--duration', '1s', '--instances', '2', '--local-ips', '127.0.0.1-127.0.0.2'],
      env,
    );
    assert.equal(r.code, EXIT.PASS, transcript(r));
    assert.equal(r.results.length, 2, 'one result per instance');
    const perInstance = r.results.map((x) => threshold(x, 'wsgate_connection_success').observed['passes'] ?? 0);
    assert.ok(perInstance.every((n) => n > 0), `both instances connected users: ${perInstance.join(', ')}`);
    assert.equal(perInstance[0]! + perInstance[1]!, users);
    assert.match(r.out, /PASS multi-user \(env local, instance 1\/2\)/);
    assert.match(r.out, /PASS multi-user \(env local, instance 2\/2\)/);
    assert.match(r.out, /PASS multi-user \(env local\) over 2 instances/);
    // 30 connections in all, from 30 distinct users: no user twice, none left out.
    assert.deepEqual(service.stats(), { active_connections: users, users });
    assert.equal((await (await fetch(`${service.httpUrl}/health`)).json() as Record<string, unknown>)['users'], users);
  });
});
