import assert from 'node:assert/strict';
import { request } from 'node:http';
import { test } from 'node:test';
import { connect, metric, refusal, signToken, start, tokenFor } from './helpers.ts';

test('no token: 401 missing_token with WWW-Authenticate: Bearer', async (t) => {
  const target = await start(t);
  const answer = await refusal(target.wsUrl);
  assert.equal(answer.status, 401);
  assert.deepEqual(answer.body, { error: 'missing_token' });
  assert.equal(answer.headers['www-authenticate'], 'Bearer');
  assert.equal(await metric(target, 'wsgate_handshake_rejections_total{status="401"}'), 1);
});

test('a non-Bearer Authorization, or wsgate.v1 offered without a jwt.<token>, counts as no token', async (t) => {
  const target = await start(t);
  const basic = await refusal(target.wsUrl, { ws: { headers: { authorization: 'Basic dTE6cHc=' } } });
  assert.equal(basic.status, 401);
  const offeredOnly = await refusal(target.wsUrl, { protocols: ['wsgate.v1'] });
  assert.equal(offeredOnly.status, 401);
});

test('tokens that fail verification: 403 invalid_token', async (t) => {
  const target = await start(t);
  const now = Math.floor(Date.now() / 1000);
  const cases: Record<string, string> = {
    'bad signature': await signToken({ secret: 'another-secret-0123456789abcdef-0123456' }),
    'expired beyond the 5 s tolerance': await signToken({ exp: now - 30 }),
    'wrong audience': await signToken({ aud: 'someone-else' }),
    'wrong issuer': await signToken({ iss: 'someone-else' }),
    'HS512 instead of HS256': await signToken({ alg: 'HS512' }),
    malformed: 'not.a.jwt',
  };
  for (const [name, token] of Object.entries(cases)) {
    for (const via of ['header', 'subprotocol'] as const) {
      const answer = await refusal(target.wsUrl, { token, via });
      assert.equal(answer.status, 403, `${name} via ${via}`);
      assert.deepEqual(answer.body, { error: 'invalid_token' }, `${name} via ${via}`);
    }
  }
  assert.equal(await metric(target, 'wsgate_handshake_rejections_total{status="403"}'), 12);
  assert.equal(await metric(target, 'wsgate_connections_total'), 0);
});

test('an Origin outside the allow-list: 403 origin_not_allowed; listed origins and no origin pass', async (t) => {
  const target = await start(t, { allowedOrigins: ['https://chat.example'] });
  const token = await tokenFor(target, 'u1');
  const answer = await refusal(target.wsUrl, { token, origin: 'https://evil.example' });
  assert.equal(answer.status, 403);
  assert.deepEqual(answer.body, { error: 'origin_not_allowed' });
  // The default list does not apply once one is given.
  assert.equal((await refusal(target.wsUrl, { token, origin: 'http://localhost' })).status, 403);
  const listed = await connect(target.wsUrl, { token, origin: 'https://chat.example' });
  assert.equal((await listed.next()).type, 'connection_established');
  const server = await connect(target.wsUrl, { token });
  assert.equal((await server.next()).type, 'connection_established');
});

test('default origins: http://localhost and http://127.0.0.1', async (t) => {
  const target = await start(t);
  const token = await tokenFor(target, 'u1');
  for (const origin of ['http://localhost', 'http://127.0.0.1']) {
    const client = await connect(target.wsUrl, { token, origin });
    assert.equal((await client.next()).type, 'connection_established');
  }
  assert.equal((await refusal(target.wsUrl, { token, origin: 'http://localhost:8080' })).status, 403);
});

test('101 with the token in Authorization: no subprotocol selected, connection_established first', async (t) => {
  const target = await start(t);
  const before = Date.now();
  const client = await connect(target.wsUrl, { token: await tokenFor(target, 'alice') });
  assert.equal(client.ws.protocol, '');
  const first = await client.next();
  assert.equal(first.type, 'connection_established');
  assert.equal(first['user_id'], 'alice');
  assert.equal(typeof first['connection_id'], 'string');
  assert.ok(typeof first['timestamp'] === 'number' && first['timestamp'] >= before && first['timestamp'] <= Date.now());
  // expires_at is the token's exp in milliseconds: whole seconds, ttl (900 s) ahead.
  const expiresAt = first['expires_at'];
  assert.ok(typeof expiresAt === 'number' && expiresAt % 1000 === 0);
  assert.ok(Math.abs(expiresAt - (before + 900_000)) <= 1500, `expires_at ${expiresAt}`);
  assert.equal(await metric(target, 'wsgate_connections_total'), 1);
});

test('101 with the token as a subprotocol: wsgate.v1 is selected, the token is never echoed', async (t) => {
  const target = await start(t);
  const token = await tokenFor(target, 'bob');
  const client = await connect(target.wsUrl, { token, via: 'subprotocol' });
  assert.equal(client.ws.protocol, 'wsgate.v1');
  const first = await client.next();
  assert.equal(first.type, 'connection_established');
  assert.equal(first['user_id'], 'bob');
  // Each connection gets its own id.
  const second = await connect(target.wsUrl, { token, via: 'subprotocol' });
  assert.notEqual((await second.next())['connection_id'], first['connection_id']);
});

test('plain GET /ws: 426 upgrade_required; other paths: 404; metrics count both', async (t) => {
  const target = await start(t);
  const plain = await fetch(`${target.httpUrl}/ws`);
  assert.equal(plain.status, 426);
  assert.deepEqual(await plain.json(), { error: 'upgrade_required' });
  const wrongPath = await refusal(target.wsUrl.replace(/\/ws$/, '/chat'), { token: await tokenFor(target, 'u1') });
  assert.equal(wrongPath.status, 404);
  assert.equal((await fetch(`${target.httpUrl}/nothing`)).status, 404);
  assert.equal(await metric(target, 'wsgate_handshake_rejections_total{status="426"}'), 1);
  assert.equal(await metric(target, 'wsgate_handshake_rejections_total{status="404"}'), 1);
});

test('an Upgrade that is not websocket: 426', async (t) => {
  const target = await start(t);
  const status = await new Promise<number>((resolve, reject) => {
    const req = request(`${target.httpUrl}/ws`, { headers: { connection: 'Upgrade', upgrade: 'h2c' } });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(status, 426);
});
