/**
 * nginx in front of the reference service. Needs nginx (apt-get install -y nginx-light): without it
 * these tests skip locally, and fail when CI=true.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { NGINX_NOT_INSTALLED, NginxError, findNginx, nginxTemplatePath, renderNginxConfig, startNginx } from '../../reference-service/nginx.ts';
import type { NginxConfigName, RunningNginx } from '../../reference-service/nginx.ts';
import { runTargetCli } from '../../reference-service/main.ts';
import type { RunningTarget } from '../../reference-service/service.ts';
import { startTarget } from '../../reference-service/service.ts';
import { nginxSkip } from '../helpers/nginx.ts';
import { isAlive } from '../helpers/wsgate-process.ts';
import { Client, SECRET, connect, delay, eventually, getJson, postJson, refusal, selfSignedCert, signToken, within } from './helpers.ts';

const execFileAsync = promisify(execFile);
/** Skip only on a developer machine without nginx; in CI a missing nginx is a failure. */
const skip = nginxSkip();

/** Directives only: comments and blank lines out, whitespace squeezed. */
const directives = (text: string): string[] =>
  text
    .split('\n')
    .map((line) => line.replace(/#.*$/, '').trim().replace(/\s+/g, ' '))
    .filter((line) => line !== '');

test('the broken template is the healthy one with a 3 s WebSocket read/send timeout instead of 24 h, nothing else', () => {
  const healthy = directives(readFileSync(nginxTemplatePath('healthy'), 'utf8'));
  const broken = directives(readFileSync(nginxTemplatePath('broken'), 'utf8'));
  assert.equal(healthy.length, broken.length);
  const differing = healthy.flatMap((line, i) => (line === broken[i] ? [] : [[line, broken[i]]]));
  assert.deepEqual(differing, [
    ['proxy_read_timeout 24h;', 'proxy_read_timeout 3s;'],
    ['proxy_send_timeout 24h;', 'proxy_send_timeout 3s;'],
  ]);
  for (const needed of [
    'proxy_http_version 1.1;',
    'proxy_set_header Upgrade $http_upgrade;',
    'proxy_set_header Connection $connection_upgrade;',
    'proxy_set_header Authorization $http_authorization;',
    'proxy_set_header Sec-WebSocket-Protocol $http_sec_websocket_protocol;',
    'proxy_set_header Origin $http_origin;',
    'access_log off;',
  ]) {
    assert.ok(healthy.includes(needed), needed);
  }
});

test('rendering fills every placeholder, drops lines for modules nginx lacks, and refuses unsafe values', () => {
  const values = {
    LISTEN_HOST: '127.0.0.1',
    BACKEND_LISTEN_PORT: '1001',
    AUTH_LISTEN_PORT: '1002',
    BACKEND_UPSTREAM: '127.0.0.1:2001',
    BACKEND_SCHEME: 'http',
    AUTH_UPSTREAM: '[::1]:2002',
    AUTH_SCHEME: 'https',
    PID_PATH: '/tmp/p/nginx.pid',
    LOCK_PATH: '/tmp/p/nginx.lock',
    ERROR_LOG: '/tmp/p/error.log',
    TEMP_DIR: '/tmp/p/temp',
    LB_CONFIG: 'healthy',
  };
  const template = readFileSync(nginxTemplatePath('healthy'), 'utf8');
  const full = renderNginxConfig(template, values);
  assert.doesNotMatch(full, /\{\{|\}\}|wsgate:requires/);
  assert.doesNotMatch(full, /^\s*#/m);
  for (const line of ['listen 127.0.0.1:1001;', 'listen 127.0.0.1:1002;', 'server 127.0.0.1:2001;', 'server [::1]:2002;', 'proxy_pass https://wsgate_auth;', 'pid "/tmp/p/nginx.pid";', 'uwsgi_temp_path "/tmp/p/temp/uwsgi";']) {
    assert.ok(full.includes(line), line);
  }
  const lean = renderNginxConfig(template, values, new Set(['http_uwsgi_module', 'http_scgi_module']));
  assert.ok(!lean.includes('uwsgi_temp_path') && !lean.includes('scgi_temp_path') && lean.includes('fastcgi_temp_path'));
  assert.throws(() => renderNginxConfig(template, { ...values, TEMP_DIR: '/tmp/x"; evil' }), (error: unknown) => error instanceof NginxError && /TEMP_DIR/.test(error.message));
  assert.throws(() => renderNginxConfig(`${template}\nfoo {{NOPE}};`, values), /unknown placeholder \{\{NOPE\}\}/);
});

test('a missing nginx is a named error with one sentence on how to install it', async () => {
  await assert.rejects(
    startNginx({ upstreamHttp: 'http://127.0.0.1:1', upstreamAuth: 'http://127.0.0.1:2', config: 'healthy', nginxPath: '/nonexistent/sbin/nginx' }),
    (error: unknown) => {
      assert.ok(error instanceof NginxError);
      assert.equal(error.code, 'WSGATE_NGINX_NOT_INSTALLED');
      assert.equal(error.message, 'the nginxPath option is "/nonexistent/sbin/nginx", which is not an executable file; install it with apt-get install -y nginx-light (Debian) or set WSGATE_NGINX to its path.');
      return true;
    },
  );
  assert.throws(() => findNginx(undefined, { WSGATE_NGINX: '/nonexistent/nginx' }), /^NginxError: WSGATE_NGINX is "\/nonexistent\/nginx", which is not an executable file;/);
  assert.equal(NGINX_NOT_INSTALLED, 'nginx is not installed; install it with apt-get install -y nginx-light (Debian) or set WSGATE_NGINX to its path');
});

test('an nginx that exits at startup fails with WSGATE_NGINX_START and the tail of its error log', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wsgate-fake-nginx-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const fake = join(dir, 'nginx');
  writeFileSync(fake, '#!/bin/sh\nif [ "$1" = "-V" ]; then echo "nginx version: nginx/1.22.1" >&2; exit 0; fi\necho "nginx: [emerg] unknown directive \\"frobnicate\\"" >&2\nexit 1\n');
  chmodSync(fake, 0o755);
  await assert.rejects(
    startNginx({ upstreamHttp: 'http://127.0.0.1:1', upstreamAuth: 'http://127.0.0.1:2', config: 'broken', env: { WSGATE_NGINX: fake } }),
    (error: unknown) => {
      assert.ok(error instanceof NginxError);
      assert.equal(error.code, 'WSGATE_NGINX_START');
      assert.equal(error.message, `nginx (${fake}, config broken) exited with code 1 before it answered; last lines of its error log: nginx: [emerg] unknown directive "frobnicate"`);
      return true;
    },
  );
  await assert.rejects(startNginx({ upstreamHttp: 'ftp://x', upstreamAuth: 'http://127.0.0.1:2', config: 'healthy', env: { WSGATE_NGINX: fake } }), /upstreamHttp is "ftp:\/\/x"/);
  await assert.rejects(startNginx({ upstreamHttp: 'http://127.0.0.1:1', upstreamAuth: 'http://127.0.0.1:2', config: 'flaky' as NginxConfigName }), /the nginx config is "flaky"; choose healthy or broken\./);
});

/** A handshake through `url` that must succeed: the status line and the first frame. */
function handshake(url: string, protocols: string[], headers: Record<string, string>): Promise<{ status: number; protocol: string; client: Client }> {
  const ws = new WebSocket(url, protocols, { headers });
  const client = new Client(ws);
  let status = 0;
  ws.once('upgrade', (res: IncomingMessage) => (status = res.statusCode ?? 0));
  return within(
    new Promise((resolve, reject) => {
      ws.once('open', () => resolve({ status, protocol: ws.protocol, client }));
      ws.once('unexpected-response', (_req, res: IncomingMessage) => reject(new Error(`refused with ${res.statusCode}`)));
      ws.once('error', reject);
    }),
    3000,
    'the handshake through nginx',
  );
}

describe('through nginx', { skip }, () => {
  let target: RunningTarget;
  let healthy: RunningNginx;
  let broken: RunningNginx;

  before(async () => {
    target = await startTarget({ authSecret: SECRET, backendSecret: SECRET, stepDelayMs: 1 });
    const lb = (config: NginxConfigName): Promise<RunningNginx> => startNginx({ upstreamHttp: target.httpUrl, upstreamAuth: target.authUrl, config });
    [healthy, broken] = await Promise.all([lb('healthy'), lb('broken')]);
  });
  after(async () => {
    await Promise.all([healthy?.close(), broken?.close()]);
    await target?.close();
  });

  test('the URLs are loopback, nginx names its configuration on both ports', async () => {
    assert.match(healthy.wsUrl, /^ws:\/\/127\.0\.0\.1:\d+\/ws$/);
    assert.match(healthy.httpUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.match(healthy.authUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(healthy.httpUrl, healthy.authUrl);
    for (const lb of [healthy, broken]) {
      for (const base of [lb.httpUrl, lb.authUrl]) {
        const res = await fetch(`${base}/__wsgate/lb`);
        assert.equal(res.status, 204);
        assert.equal(res.headers.get('x-wsgate-lb'), lb.config);
      }
    }
  });

  test('a handshake with a Bearer token is a 101 and runs the protocol', async () => {
    const token = await signToken({ sub: 'lb-user' });
    const { status, client } = await handshake(healthy.wsUrl, [], { authorization: `Bearer ${token}` });
    assert.equal(status, 101);
    const established = await client.next();
    assert.equal(established.type, 'connection_established');
    assert.equal(established['user_id'], 'lb-user');
    client.send({ type: 'user_message', thread_id: 't', message_id: 'm', content: 'via nginx' });
    assert.equal((await client.take(5)).at(-1)?.type, 'agent_completed');
    await client.close();
  });

  test('the token travels in the subprotocol too, and the selected subprotocol comes back', async () => {
    const token = await signToken({ sub: 'lb-proto' });
    const { status, protocol, client } = await handshake(healthy.wsUrl, ['wsgate.v1', `jwt.${token}`], { origin: 'http://localhost' });
    assert.equal(status, 101);
    assert.equal(protocol, 'wsgate.v1');
    assert.equal((await client.next())['user_id'], 'lb-proto');
    await client.close();
  });

  test('401 and 403 refusals pass through unchanged', async () => {
    const missingToken = await refusal(healthy.wsUrl);
    assert.equal(missingToken.status, 401);
    assert.deepEqual(missingToken.body, { error: 'missing_token' });
    assert.equal(missingToken.headers['www-authenticate'], 'Bearer');
    const forged = await refusal(healthy.wsUrl, { token: await signToken({ secret: 'another-secret-0123456789abcdef-0123' }) });
    assert.equal(forged.status, 403);
    assert.deepEqual(forged.body, { error: 'invalid_token' });
    const origin = await refusal(healthy.wsUrl, { token: await signToken(), origin: 'https://evil.example' });
    assert.equal(origin.status, 403);
    assert.deepEqual(origin.body, { error: 'origin_not_allowed' });
  });

  test('/health and /metrics of the backend, and the auth service on the second port', async () => {
    const health = await getJson(`${healthy.httpUrl}/health`);
    assert.equal(health.status, 200);
    assert.equal(health.body['status'], 'healthy');
    assert.equal(typeof health.body['active_connections'], 'number');
    const metrics = await fetch(`${healthy.httpUrl}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(await metrics.text(), /^wsgate_active_connections \d+$/m);

    const issued = await postJson(`${healthy.authUrl}/auth/token`, { user_id: 'via-lb' });
    assert.equal(issued.status, 200);
    const refreshed = await postJson(`${healthy.authUrl}/auth/refresh`, { refresh_token: issued.body['refresh_token'] });
    assert.equal(refreshed.status, 200);
    assert.equal((await postJson(`${healthy.authUrl}/auth/refresh`, { refresh_token: issued.body['refresh_token'] })).status, 401);
    assert.equal((await getJson(`${healthy.authUrl}/health`)).body['status'], 'healthy');
    const client = await connect(healthy.wsUrl, { token: String(refreshed.body['access_token']) });
    assert.equal((await client.next())['user_id'], 'via-lb');
    await client.close();
  });

  describe('an idle connection for 5 s', { concurrency: true }, () => {
    test('survives the healthy config and still answers an app ping', async () => {
      const client = await connect(healthy.wsUrl, { token: await signToken({ sub: 'idle-healthy' }) });
      assert.equal((await client.next()).type, 'connection_established');
      await delay(5000);
      assert.equal((await client.roundTrip('after-idle')).type, 'pong');
      await client.close();
    });

    test('is cut by the broken config after its 3 s timeout, without a close frame, and the server notices', async (t) => {
      // Its own service, so the server-side count is this connection's alone.
      const own = await startTarget({ authSecret: SECRET, backendSecret: SECRET });
      t.after(() => own.close());
      const lb = await startNginx({ upstreamHttp: own.httpUrl, upstreamAuth: own.authUrl, config: 'broken' });
      t.after(() => lb.close());
      const client = await connect(lb.wsUrl, { token: await signToken({ sub: 'idle-broken' }) });
      assert.equal((await client.next()).type, 'connection_established');
      const idleSince = Date.now();
      assert.equal(own.stats().active_connections, 1);
      const closed = await client.whenClosed(5000);
      const idleMs = Date.now() - idleSince;
      assert.equal(closed.code, 1006);
      assert.ok(idleMs >= 2900 && idleMs < 5000, `closed after ${idleMs} ms of idleness`);
      // nginx cut the upstream side too: the backend's own close handling released the connection.
      await eventually(() => own.stats().active_connections === 0, 1000);
    });

    test('survives the broken config when it sends an app ping every second: it is the idle timeout', async () => {
      const client = await connect(broken.wsUrl, { token: await signToken({ sub: 'busy-broken' }) });
      assert.equal((await client.next()).type, 'connection_established');
      for (let i = 1; i <= 5; i++) {
        await delay(1000);
        assert.equal((await client.roundTrip(i)).type, 'pong', `ping ${i}`);
      }
      await client.close();
    });
  });
});

test('an https backend works behind nginx, and close() stops nginx and removes its prefix dir', { skip }, async (t) => {
  const tls = selfSignedCert(t);
  const target = await startTarget({ authSecret: SECRET, backendSecret: SECRET, tls });
  t.after(() => target.close());
  const lb = await startNginx({ upstreamHttp: target.httpUrl, upstreamAuth: target.authUrl, config: 'healthy' });
  t.after(() => lb.close());
  assert.match(lb.wsUrl, /^ws:\/\//);
  const issued = await postJson(`${lb.authUrl}/auth/token`, { user_id: 'tls-behind-lb' });
  const client = await connect(lb.wsUrl, { token: String(issued.body['access_token']) });
  assert.equal((await client.next())['user_id'], 'tls-behind-lb');

  assert.ok(isAlive(lb.pid) && existsSync(lb.prefix));
  await lb.close();
  assert.equal((await client.whenClosed(2000)).code, 1006);
  assert.ok(!isAlive(lb.pid), 'nginx still running after close()');
  assert.ok(!existsSync(lb.prefix), 'prefix dir left behind');
  await lb.close(); // idempotent
});

test('nginx does not outlive a process that exits without closing it', { skip }, async () => {
  const nginxModule = fileURLToPath(new URL('../../reference-service/nginx.ts', import.meta.url));
  const script = [
    `const { startNginx } = await import(${JSON.stringify(nginxModule)});`,
    "const lb = await startNginx({ upstreamHttp: 'http://127.0.0.1:9', upstreamAuth: 'http://127.0.0.1:9', config: 'healthy' });",
    'console.log(JSON.stringify({ pid: lb.pid, prefix: lb.prefix }));',
    'process.exit(0);',
  ].join('\n');
  const { stdout } = await execFileAsync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { timeout: 10_000 });
  const { pid, prefix } = JSON.parse(stdout) as { pid: number; prefix: string };
  await eventually(() => !isAlive(pid), 2000);
  assert.ok(!existsSync(prefix), 'prefix dir left behind');
});

test('wsgate reference --nginx broken adds lb_ws_url, lb_http_url and lb_auth_url to the ready line', { skip }, async () => {
  let stdout = '';
  let stderr = '';
  const stop = new AbortController();
  const printed = new Promise<void>((resolve) => {
    const env = { WSGATE_AUTH_SECRET: SECRET, PATH: process.env['PATH'], WSGATE_NGINX: process.env['WSGATE_NGINX'] };
    const exit = runTargetCli(['--nginx', 'broken'], env, {
      stdout: (text) => {
        stdout += text;
        resolve();
      },
      stderr: (text) => (stderr += text),
      stop: stop.signal,
    });
    void exit.then((code) => {
      exitCode = code;
      resolve();
    });
  });
  let exitCode: number | undefined;
  await within(printed, 8000, 'the ready line');
  const ready = JSON.parse(stdout) as Record<string, string>;
  assert.equal(stderr, '');
  assert.deepEqual(Object.keys(ready), ['event', 'auth_url', 'http_url', 'ws_url', 'health_url', 'faults', 'lb_ws_url', 'lb_http_url', 'lb_auth_url']);
  assert.match(ready['lb_ws_url'] ?? '', /^ws:\/\/127\.0\.0\.1:\d+\/ws$/);
  assert.equal((await fetch(`${ready['lb_http_url']}/__wsgate/lb`)).headers.get('x-wsgate-lb'), 'broken');
  assert.equal((await postJson(`${ready['lb_auth_url']}/auth/token`, { user_id: 'cli' })).status, 200);
  stop.abort();
  await eventually(() => exitCode !== undefined, 5000);
  assert.equal(exitCode, 0);
  const gone = await fetch(`${ready['lb_http_url']}/health`).then(() => 'answered', () => 'refused');
  assert.equal(gone, 'refused');
});

test('wsgate reference --nginx with an unknown configuration is exit code 2', async () => {
  let stderr = '';
  const code = await runTargetCli(['--nginx', 'sometimes'], { WSGATE_AUTH_SECRET: SECRET }, { stdout: () => {}, stderr: (text) => (stderr += text) });
  assert.equal(code, 2);
  assert.equal(stderr, 'wsgate reference: --nginx is "sometimes"; it must be healthy or broken.\n');
});
