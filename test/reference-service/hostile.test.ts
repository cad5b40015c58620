/**
 * The `hostile` fault (docs/protocol.md, "Faults"): the reference service hands back every secret it
 * gets, in each of the places the table names. test/cli/secrets.e2e.test.ts then proves wsgate prints
 * and writes none of it; this file proves the adversary really does hand them back.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MAX_CLOSE_REASON_BYTES, closeReasonWith } from '../../reference-service/hostile.ts';
import { SECRET, connect, getJson, postJson, refusal, signToken, start } from './helpers.ts';

describe('the hostile fault', { concurrency: true }, () => {
  test('selects the offered jwt.<token> subprotocol, echoing the token', async (t) => {
    const target = await start(t, { faults: ['hostile'] });
    const token = await signToken({ sub: 'alice' });
    const client = await connect(target.wsUrl, { token, via: 'subprotocol' });
    assert.equal(client.ws.protocol, `jwt.${token}`);
    assert.equal((await client.next()).type, 'connection_established');
    await client.close();
  });

  test('every error frame carries the token; every fourth connection is refused with the whole token, then a close reason holding as much as fits', async (t) => {
    const target = await start(t, { faults: ['hostile'] });
    const tokens = await Promise.all([1, 2, 3, 4].map((i) => signToken({ sub: `u${i}` })));
    const clients = [];
    for (const token of tokens) clients.push(await connect(target.wsUrl, { token }));
    const [first, , , fourth] = clients;
    assert.ok(first && fourth);
    assert.equal((await first.next()).type, 'connection_established');
    first.send({ type: 'no_such_type' });
    const error = await first.next();
    assert.equal(error.type, 'error');
    assert.ok(String(error['message']).includes(tokens[0] ?? '?'), 'the error frame quotes the token');

    const refused = await fourth.next();
    assert.equal(refused.type, 'error');
    assert.ok(String(refused['message']).includes(tokens[3] ?? '?'), 'the refusal quotes the whole token');
    const closed = await fourth.whenClosed();
    assert.equal(closed.code, 4403);
    assert.ok(closed.reason.startsWith(`refused jwt.${(tokens[3] ?? '').slice(0, 40)}`), closed.reason);
    assert.equal(Buffer.byteLength(closed.reason), MAX_CLOSE_REASON_BYTES, 'as much of the token as fits');
    for (const c of clients.slice(0, 3)) await c.close();
  });

  test('refused handshakes echo the token in the body, WWW-Authenticate and a credentialed Location', async (t) => {
    const target = await start(t, { faults: ['hostile'] });
    const forged = await signToken({ secret: 'another-secret-0123456789abcdef-0123' });
    const r = await refusal(target.wsUrl, { token: forged });
    assert.equal(r.status, 403);
    assert.equal(r.body['error'], 'invalid_token');
    assert.ok(String(r.body['message']).includes(forged));
    assert.ok(String(r.headers['www-authenticate']).includes(forged));
    assert.equal(r.headers['location'], `https://wsgate:${forged}@hostile.invalid/ws?access_token=${forged}&sig=${forged}`);
  });

  test('the auth service echoes the password and refresh token it was sent; /health reports the signing secret', async (t) => {
    const target = await start(t, { faults: ['hostile'], authPassword: 'the-test-password' });
    const wrong = await postJson(`${target.authUrl}/auth/token`, { user_id: 'alice', password: 'a-wrong-password' });
    assert.equal(wrong.status, 401);
    assert.ok(JSON.stringify(wrong.body).includes('a-wrong-password'));
    const spent = await postJson(`${target.authUrl}/auth/refresh`, { refresh_token: 'not-a-refresh-token-0123456789' });
    assert.equal(spent.status, 401);
    assert.ok(JSON.stringify(spent.body).includes('not-a-refresh-token-0123456789'));
    const health = await getJson(`${target.httpUrl}/health`);
    assert.ok(String(health.body['status']).includes(SECRET), 'the backend reports its own secret');
  });

  test('every third run also gets a stray agent_started whose user and run id are the token; the expiry close quotes the token', async (t) => {
    const target = await start(t, { faults: ['hostile'], stepDelayMs: 1 });
    const token = await signToken({ sub: 'bob', exp: Math.floor(Date.now() / 1000) + 2 });
    const client = await connect(target.wsUrl, { token });
    assert.equal((await client.next()).type, 'connection_established');
    for (let i = 0; i < 3; i++) client.send({ type: 'user_message', thread_id: 't', message_id: `m${i}`, content: 'go' });
    const frames = await client.drain(300);
    const stray = frames.find((f) => f['user_id'] === `jwt.${token}`);
    assert.ok(stray, 'a stray event carries the token');
    assert.equal(stray['run_id'], token);
    const closed = await client.whenClosed(5000);
    assert.equal(closed.code, 4001);
    assert.equal(closed.reason, closeReasonWith('token_expired', `jwt.${token}`));
  });

  test('off, the service says nothing of the kind', async (t) => {
    const target = await start(t, { faults: ['hostile'] });
    target.setFault('hostile', false);
    const token = await signToken({ sub: 'carol' });
    const client = await connect(target.wsUrl, { token, via: 'subprotocol' });
    assert.equal(client.ws.protocol, 'wsgate.v1');
    assert.equal((await client.next()).type, 'connection_established');
    const health = await getJson(`${target.httpUrl}/health`);
    assert.equal(health.body['status'], 'healthy');
    await client.close();
  });
});
