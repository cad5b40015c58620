import assert from 'node:assert/strict';
import { request as httpsRequest } from 'node:https';
import { test } from 'node:test';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { AUDIENCE, ISSUER, connect, connectAs, getJson, postJson, selfSignedCert, start, withoutOpenssl } from './helpers.ts';

test('POST /auth/token: Bearer access token with sub, iss, aud, iat, exp, jti and an opaque refresh token', async (t) => {
  const target = await start(t, { tokenTtlS: 300 });
  const { status, body } = await postJson(`${target.authUrl}/auth/token`, { user_id: 'user_1.a:b-c' });
  assert.equal(status, 200);
  assert.deepEqual(Object.keys(body).sort(), ['access_token', 'expires_in', 'refresh_token', 'token_type']);
  assert.equal(body['token_type'], 'Bearer');
  assert.equal(body['expires_in'], 300);
  assert.equal(typeof body['refresh_token'], 'string');
  assert.ok(!String(body['refresh_token']).includes('.'), 'refresh token is opaque, not a JWT');
  const token = String(body['access_token']);
  assert.deepEqual(decodeProtectedHeader(token), { alg: 'HS256', typ: 'JWT' });
  const claims = decodeJwt(token);
  assert.deepEqual(Object.keys(claims).sort(), ['aud', 'exp', 'iat', 'iss', 'jti', 'sub']);
  assert.equal(claims.sub, 'user_1.a:b-c');
  assert.equal(claims.iss, ISSUER);
  assert.equal(claims.aud, AUDIENCE);
  assert.equal((claims.exp ?? 0) - (claims.iat ?? 0), 300);
  const again = await postJson(`${target.authUrl}/auth/token`, { user_id: 'user_1.a:b-c' });
  assert.notEqual(decodeJwt(String(again.body['access_token'])).jti, claims.jti);
});

test('POST /auth/token refuses bad user ids and bodies that are not JSON', async (t) => {
  const target = await start(t);
  const url = `${target.authUrl}/auth/token`;
  for (const userId of ['', 'a b', 'x'.repeat(65), 'ü', 42, undefined]) {
    assert.deepEqual(await postJson(url, { user_id: userId }), { status: 400, body: { error: 'invalid_user_id' } }, String(userId));
  }
  assert.equal((await postJson(url, { user_id: 'x'.repeat(64) })).status, 200);
  assert.deepEqual(await postJson(url, '{oops'), { status: 400, body: { error: 'invalid_json' } });
  assert.equal((await fetch(url)).status, 405);
  assert.equal((await fetch(`${target.authUrl}/auth/other`, { method: 'POST' })).status, 404);
});

test('with a test-user password, /auth/token requires it', async (t) => {
  const target = await start(t, { authPassword: 'let-me-in' });
  const url = `${target.authUrl}/auth/token`;
  assert.deepEqual(await postJson(url, { user_id: 'u1' }), { status: 401, body: { error: 'invalid_credentials' } });
  assert.deepEqual(await postJson(url, { user_id: 'u1', password: 'wrong' }), { status: 401, body: { error: 'invalid_credentials' } });
  assert.equal((await postJson(url, { user_id: 'u1', password: 'let-me-in' })).status, 200);
});

test('POST /auth/refresh trades a refresh token once; a spent or unknown one is 401', async (t) => {
  const target = await start(t);
  const first = await postJson(`${target.authUrl}/auth/token`, { user_id: 'alice' });
  const url = `${target.authUrl}/auth/refresh`;
  const refreshed = await postJson(url, { refresh_token: first.body['refresh_token'] });
  assert.equal(refreshed.status, 200);
  assert.deepEqual(Object.keys(refreshed.body).sort(), ['access_token', 'expires_in', 'refresh_token', 'token_type']);
  assert.equal(decodeJwt(String(refreshed.body['access_token'])).sub, 'alice');
  assert.notEqual(refreshed.body['refresh_token'], first.body['refresh_token']);

  const spent = { status: 401, body: { error: 'invalid_refresh_token' } };
  assert.deepEqual(await postJson(url, { refresh_token: first.body['refresh_token'] }), spent);
  assert.deepEqual(await postJson(url, { refresh_token: 'forged' }), spent);
  assert.deepEqual(await postJson(url, {}), spent);
  assert.deepEqual(await postJson(url, 'nope'), { status: 400, body: { error: 'invalid_json' } });
  // The new refresh token works, once.
  assert.equal((await postJson(url, { refresh_token: refreshed.body['refresh_token'] })).status, 200);
  // And the refreshed access token opens a connection.
  const client = await connect(target.wsUrl, { token: String(refreshed.body['access_token']) });
  assert.equal((await client.next())['user_id'], 'alice');
});

test('GET /health on both listeners', async (t) => {
  const target = await start(t, { version: '9.9.9' });
  const auth = await getJson(`${target.authUrl}/health`);
  assert.equal(auth.status, 200);
  assert.deepEqual(Object.keys(auth.body).sort(), ['status', 'uptime_s', 'version']);
  assert.equal(auth.body['status'], 'healthy');
  assert.equal(auth.body['version'], '9.9.9');
  assert.equal(typeof auth.body['uptime_s'], 'number');

  await connectAs(target, 'alice');
  await connectAs(target, 'alice');
  await connectAs(target, 'bob');
  const backend = await getJson(`${target.httpUrl}/health`);
  assert.equal(backend.status, 200);
  assert.deepEqual(Object.keys(backend.body).sort(), ['active_connections', 'status', 'uptime_s', 'users', 'version']);
  assert.equal(backend.body['status'], 'healthy');
  assert.equal(backend.body['active_connections'], 3);
  assert.equal(backend.body['users'], 2);
  assert.equal(backend.body['version'], '9.9.9');
});

test('GET /metrics: Prometheus 0.0.4 text with every protocol metric, HELP and TYPE lines', async (t) => {
  const target = await start(t, { stepDelayMs: 1 });
  const client = await connectAs(target, 'alice');
  client.send({ type: 'user_message', thread_id: 't', message_id: 'm', content: 'c' });
  await client.take(5);
  const res = await fetch(`${target.httpUrl}/metrics`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  const text = await res.text();
  const families: Record<string, string> = {
    wsgate_active_connections: 'gauge',
    wsgate_users: 'gauge',
    wsgate_uptime_seconds: 'gauge',
    wsgate_connections_total: 'counter',
    wsgate_handshake_rejections_total: 'counter',
    wsgate_agent_runs_total: 'counter',
    wsgate_agent_events_total: 'counter',
    wsgate_token_refreshes_total: 'counter',
    wsgate_messages_received_total: 'counter',
  };
  const typeLines = text.split('\n').filter((line) => line.startsWith('# TYPE '));
  assert.deepEqual(typeLines, Object.entries(families).map(([name, type]) => `# TYPE ${name} ${type}`));
  for (const name of Object.keys(families)) assert.match(text, new RegExp(`^# HELP ${name} \\S`, 'm'));
  for (const sample of [
    'wsgate_active_connections 1',
    'wsgate_users 1',
    'wsgate_connections_total 1',
    'wsgate_agent_runs_total 1',
    'wsgate_agent_events_total{event="agent_started"} 1',
    'wsgate_agent_events_total{event="agent_completed"} 1',
    'wsgate_handshake_rejections_total{status="401"} 0',
    'wsgate_token_refreshes_total{result="accepted"} 0',
    'wsgate_token_refreshes_total{result="rejected"} 0',
    'wsgate_messages_received_total 1',
  ]) {
    assert.ok(text.split('\n').includes(sample), `missing sample: ${sample}`);
  }
  // Every sample line is "name{labels} number"; the text ends with a newline.
  for (const line of text.split('\n').filter((l) => l !== '' && !l.startsWith('#'))) {
    assert.match(line, /^wsgate_[a-z_]+(\{[a-z]+="[^"]*"\})? \d+(\.\d+)?$/);
  }
  assert.ok(text.endsWith('\n'));
});


test('with tls, both listeners speak https and the backend wss', { skip: withoutOpenssl() }, async (t) => {
  const tls = selfSignedCert(t);
  const target = await start(t, { tls });
  assert.match(target.authUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
  assert.match(target.httpUrl, /^https:\/\//);
  assert.match(target.wsUrl, /^wss:\/\/127\.0\.0\.1:\d+\/ws$/);
  const body = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const req = httpsRequest(`${target.authUrl}/auth/token`, { method: 'POST', rejectUnauthorized: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>));
    });
    req.on('error', reject);
    req.end(JSON.stringify({ user_id: 'tls-user' }));
  });
  const client = await connect(target.wsUrl, { token: String(body['access_token']), ws: { rejectUnauthorized: false } });
  assert.equal((await client.next())['user_id'], 'tls-user');
});
