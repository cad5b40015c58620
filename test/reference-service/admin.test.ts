/**
 * The admin endpoint (reference-service/admin.ts): loopback only, bearer token compared in constant time, faults
 * switched at run time with effects on the running service, and `wsgate reference --admin`.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ADMIN_HOST, startAdmin } from '../../reference-service/admin.ts';
import { runTargetCli } from '../../reference-service/main.ts';
import { ALL_FAULT_NAMES, TargetConfigError, startTarget } from '../../reference-service/service.ts';
import type { FaultName, RunningTarget } from '../../reference-service/service.ts';
import { SECRET, connect, refusal, start, tokenFor, within } from './helpers.ts';

const TOKEN = 'admin-token-0123456789abcdef';
const MAIN = fileURLToPath(new URL('../../reference-service/main.ts', import.meta.url));
const REPO = fileURLToPath(new URL('../..', import.meta.url));

async function call(
  url: string,
  method: string,
  token: string | null = TOKEN,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const res = await fetch(url, {
    method,
    headers: { ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...headers },
    signal: AbortSignal.timeout(5000),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

/** A target with the admin endpoint on random ports; `t.after` closes it. */
async function withAdmin(
  t: { after: (fn: () => Promise<void> | void) => void },
  options: { faults?: FaultName[]; host?: string; authPassword?: string } = {},
): Promise<RunningTarget & { adminUrl: string }> {
  const target = await startTarget({ authSecret: SECRET, backendSecret: SECRET, ...options, admin: { token: TOKEN } });
  t.after(() => target.close());
  const { adminUrl } = target;
  assert.ok(adminUrl, 'adminUrl is set');
  return Object.assign(target, { adminUrl });
}

describe('admin endpoint', { concurrency: true }, () => {
  test('listens on 127.0.0.1 on a port of its own, separate from the backend and auth listeners', async (t) => {
    const target = await withAdmin(t);
    const admin = new URL(target.adminUrl);
    assert.equal(admin.hostname, ADMIN_HOST);
    assert.equal(admin.pathname, '/admin');
    assert.notEqual(admin.port, new URL(target.httpUrl).port);
    assert.notEqual(admin.port, new URL(target.authUrl).port);
    // The backend does not serve the admin routes.
    const res = await fetch(`${target.httpUrl}/admin/faults`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(res.status, 404);
    await res.body?.cancel();
  });

  test('without admin options there is no admin endpoint', async (t) => {
    const target = await start(t);
    assert.equal(target.adminUrl, undefined);
  });

  test('binds to loopback even when the service serves every interface', async (t) => {
    const target = await withAdmin(t, { host: '0.0.0.0', authPassword: 'a-password-so-it-may-listen-beyond-loopback' });
    assert.equal(new URL(target.adminUrl).hostname, ADMIN_HOST);
  });

  test('refuses to start on another host, and refuses a short token, before anything listens', async () => {
    const sw = { faults: () => [], setFault: () => undefined };
    await assert.rejects(startAdmin({ token: TOKEN, host: '0.0.0.0' }, sw), (e: unknown) => {
      assert.ok(e instanceof TargetConfigError);
      assert.equal(e.message, 'the admin endpoint binds only to 127.0.0.1, not to "0.0.0.0"; drop the host, it is reachable from this machine only by design.');
      return true;
    });
    await assert.rejects(
      startTarget({ authSecret: SECRET, backendSecret: SECRET, admin: { token: 'short-token' } }),
      (e: unknown) => {
        assert.ok(e instanceof TargetConfigError);
        assert.equal(e.message, 'the admin token is 11 characters long; it must be at least 16 (e.g. WSGATE_ADMIN_TOKEN=$(openssl rand -hex 16)).');
        assert.doesNotMatch(e.message, /short-token/);
        return true;
      },
    );
  });

  test('401 without a token, 403 with a wrong one, on every route; nothing changes', async (t) => {
    const target = await withAdmin(t);
    for (const [method, path] of [
      ['GET', '/faults'],
      ['PUT', '/faults/missing_agent_events'],
      ['DELETE', '/faults/missing_agent_events'],
      ['GET', '/nothing-here'],
    ] as const) {
      const none = await call(`${target.adminUrl}${path}`, method, null);
      assert.equal(none.status, 401, `${method} ${path} without a token`);
      assert.deepEqual(none.body, { error: 'missing_token' });
      assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer/);
      const notBearer = await call(`${target.adminUrl}${path}`, method, null, { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` });
      assert.equal(notBearer.status, 401, `${method} ${path} with Basic auth`);
      const wrong = await call(`${target.adminUrl}${path}`, method, `${TOKEN}x`);
      assert.equal(wrong.status, 403, `${method} ${path} with a wrong token`);
      assert.deepEqual(wrong.body, { error: 'invalid_token' });
      const prefix = await call(`${target.adminUrl}${path}`, method, TOKEN.slice(0, -1));
      assert.equal(prefix.status, 403, `${method} ${path} with a prefix of the token`);
    }
    assert.deepEqual(target.faults, []);
  });

  test('GET /admin/faults lists the active faults', async (t) => {
    const target = await withAdmin(t, { faults: ['idle_timeout', 'handshake_403'] });
    const res = await call(`${target.adminUrl}/faults`, 'GET');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.deepEqual(res.body, { faults: ['handshake_403', 'idle_timeout'] });
  });

  test('PUT switches a fault on and DELETE off, idempotently; the answer is the new list', async (t) => {
    const target = await withAdmin(t);
    const url = `${target.adminUrl}/faults/missing_agent_events`;
    assert.deepEqual((await call(url, 'PUT')).body, { faults: ['missing_agent_events'] });
    assert.deepEqual((await call(url, 'PUT')).body, { faults: ['missing_agent_events'] });
    assert.deepEqual(target.faults, ['missing_agent_events']);
    assert.deepEqual((await call(`${target.adminUrl}/faults/connection_leak`, 'PUT')).body, { faults: ['missing_agent_events', 'connection_leak'] });
    const off = await call(url, 'DELETE');
    assert.equal(off.status, 200);
    assert.deepEqual(off.body, { faults: ['connection_leak'] });
    assert.deepEqual((await call(url, 'DELETE')).body, { faults: ['connection_leak'] });
    assert.deepEqual(target.faults, ['connection_leak']);
  });

  test('the switch reaches the running service: handshake_403 on refuses handshakes, off restores them', async (t) => {
    const target = await withAdmin(t);
    const token = await tokenFor(target, 'admin-u1');
    (await connect(target.wsUrl, { token })).ws.terminate();
    await call(`${target.adminUrl}/faults/handshake_403`, 'PUT');
    assert.equal((await refusal(target.wsUrl, { token })).status, 403);
    await call(`${target.adminUrl}/faults/handshake_403`, 'DELETE');
    const client = await connect(target.wsUrl, { token });
    assert.equal((await client.next()).type, 'connection_established');
    await client.close();
  });

  test('an unknown fault is 404 with the valid names; other paths 404; wrong methods 405', async (t) => {
    const target = await withAdmin(t);
    const unknown = await call(`${target.adminUrl}/faults/slow_mode`, 'PUT');
    assert.equal(unknown.status, 404);
    assert.deepEqual(unknown.body, { error: 'unknown_fault', fault: 'slow_mode', valid: [...ALL_FAULT_NAMES] });
    assert.equal((await call(`${target.adminUrl}/faults/`, 'DELETE')).status, 404);
    assert.deepEqual((await call(`${target.adminUrl}/other`, 'GET')).body, { error: 'not_found' });
    const post = await call(`${target.adminUrl}/faults`, 'POST');
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET');
    const get = await call(`${target.adminUrl}/faults/handshake_403`, 'GET');
    assert.equal(get.status, 405);
    assert.equal(get.headers.get('allow'), 'PUT, DELETE');
    assert.deepEqual(target.faults, []);
  });

  test('close() closes the admin listener too', async () => {
    const target = await startTarget({ authSecret: SECRET, backendSecret: SECRET, admin: { token: TOKEN } });
    const url = `${target.adminUrl}/faults`;
    assert.equal((await call(url, 'GET')).status, 200);
    await target.close();
    await assert.rejects(fetch(url, { headers: { authorization: `Bearer ${TOKEN}` }, signal: AbortSignal.timeout(2000) }));
  });
});

describe('wsgate reference --admin', { concurrency: true }, () => {
  const env = { WSGATE_AUTH_SECRET: 'cli-secret-0123456789abcdef-0123456789' };

  async function runCli(argv: string[], extra: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
    let stdout = '';
    let stderr = '';
    const stop = new AbortController();
    stop.abort();
    const code = await runTargetCli(argv, { ...env, ...extra }, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), stop: stop.signal });
    return { code, stdout, stderr };
  }

  test('without WSGATE_ADMIN_TOKEN, or with a short one, it is one sentence and exit 2', async () => {
    const none = await runCli(['--admin'], {});
    assert.equal(none.code, 2);
    assert.equal(none.stderr, 'wsgate reference: --admin needs its bearer token in WSGATE_ADMIN_TOKEN (at least 16 characters), e.g. WSGATE_ADMIN_TOKEN=$(openssl rand -hex 16).\n');
    const short = await runCli(['--admin'], { WSGATE_ADMIN_TOKEN: 'tiny-token' });
    assert.equal(short.code, 2);
    assert.equal(short.stderr, 'wsgate reference: WSGATE_ADMIN_TOKEN is 10 characters long; set it to at least 16, e.g. WSGATE_ADMIN_TOKEN=$(openssl rand -hex 16).\n');
    assert.doesNotMatch(short.stderr, /tiny-token/);
  });

  test('the ready line has admin_url only with --admin, and never the token', async () => {
    const plain = await runCli([], { WSGATE_ADMIN_TOKEN: TOKEN });
    assert.equal(plain.code, 0);
    assert.equal((JSON.parse(plain.stdout) as Record<string, unknown>)['admin_url'], undefined);
    const admin = await runCli(['--admin'], { WSGATE_ADMIN_TOKEN: TOKEN });
    assert.equal(admin.code, 0, admin.stderr);
    const ready = JSON.parse(admin.stdout) as Record<string, unknown>;
    assert.match(String(ready['admin_url']), /^http:\/\/127\.0\.0\.1:\d+\/admin$/);
    assert.doesNotMatch(admin.stdout + admin.stderr, new RegExp(TOKEN));
  });

  test('a spawned `wsgate reference --admin` switches faults over HTTP until SIGTERM', async () => {
    const code = `import(${JSON.stringify(MAIN)}).then((m) => m.runTargetCli(process.argv.slice(1), process.env)).then((c) => process.exit(c))`;
    const child = spawn(process.execPath, ['--import', 'tsx', '-e', code, '--', '--admin'], {
      cwd: REPO,
      env: { PATH: process.env['PATH'], ...env, WSGATE_ADMIN_TOKEN: TOKEN },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const line = await within(
        new Promise<string>((resolve) => createInterface({ input: child.stdout }).once('line', resolve)),
        20_000,
        'the ready line',
      );
      const adminUrl = String((JSON.parse(line) as Record<string, unknown>)['admin_url']);
      assert.deepEqual((await call(`${adminUrl}/faults/isolation_leak`, 'PUT')).body, { faults: ['isolation_leak'] });
      assert.deepEqual((await call(`${adminUrl}/faults`, 'GET')).body, { faults: ['isolation_leak'] });
    } finally {
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      assert.equal(await within(exited, 10_000, 'the service to exit'), 0);
    }
  });
});
