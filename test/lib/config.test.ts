import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../lib/core/config.ts';
import { parseUrl, redactUrl } from '../../lib/core/url.ts';
import { ConfigError } from '../../lib/core/errors.ts';

const SECRET = 's'.repeat(40);
const base = { WSGATE_JWT_SECRET: SECRET };

function configError(vars: Record<string, string>): string {
  try {
    loadConfig(vars);
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    assert.equal(e.code, 'WSGATE_CONFIG');
    return e.message;
  }
  assert.fail('loadConfig accepted the configuration');
}

test('local preset loads with defaults and typed numbers', () => {
  const c = loadConfig(base);
  assert.equal(c.env, 'local');
  assert.equal(c.wsUrl, 'ws://127.0.0.1:8080/ws');
  assert.equal(c.tokenSource, 'mint');
  assert.equal(typeof c.idleHoldS, 'number');
});

test('environment variables override the preset', () => {
  const c = loadConfig({ ...base, WSGATE_WS_URL: 'wss://chat.example.com/ws/', WSGATE_IDLE_HOLD_S: '70', WSGATE_TOKEN_SOURCE: 'auth' });
  assert.equal(c.wsUrl, 'wss://chat.example.com/ws');
  assert.equal(c.idleHoldS, 70);
  assert.equal(c.tokenSource, 'auth');
});

test('an unknown environment names the valid ones', () => {
  assert.match(configError({ WSGATE_ENV: 'qa' }), /unknown environment "qa"; choose one of local, staging, production/);
});

test('a malformed URL names the variable and the value', () => {
  assert.match(configError({ ...base, WSGATE_WS_URL: 'http://x/ws' }), /WSGATE_WS_URL is "http:\/\/x\/ws", which is not a valid ws:\/\/ or wss:\/\/ URL/);
  assert.match(configError({ ...base, WSGATE_HTTP_URL: 'not a url' }), /WSGATE_HTTP_URL/);
});

test('numbers out of range are refused with their range', () => {
  assert.match(configError({ ...base, WSGATE_IDLE_HOLD_S: '0' }), /WSGATE_IDLE_HOLD_S is "0"; it must be a whole number from 1 to/);
  assert.match(configError({ ...base, WSGATE_AGENT_RUNS: 'many' }), /WSGATE_AGENT_RUNS is "many"/);
});

test('minting needs a secret of at least 32 bytes, and the secret is never echoed', () => {
  assert.match(configError({}), /needs the shared JWT secret in WSGATE_JWT_SECRET/);
  const msg = configError({ WSGATE_JWT_SECRET: 'short-secret-value' });
  assert.match(msg, /is 18 bytes long; HS256 needs at least 32/);
  assert.doesNotMatch(msg, /short-secret-value/);
});

test('staging fetches tokens from the auth service and needs no secret', () => {
  const c = loadConfig({ WSGATE_ENV: 'staging' });
  assert.equal(c.tokenSource, 'auth');
  assert.equal(c.jwtSecret, undefined);
});

test('the file source needs a file', () => {
  assert.match(configError({ WSGATE_TOKEN_SOURCE: 'file' }), /needs WSGATE_TOKENS_FILE/);
  assert.match(configError({ WSGATE_TOKEN_SOURCE: 'vault' }), /must be one of mint, auth, file/);
});

test('redactUrl removes user info and query values', () => {
  assert.equal(redactUrl('wss://bob:pw@chat.example.com:8443/ws?token=abc&x=1'), 'wss://REDACTED@chat.example.com:8443/ws?token=REDACTED&x=REDACTED');
  assert.equal(redactUrl('ws://127.0.0.1:9/ws'), 'ws://127.0.0.1:9/ws');
  assert.equal(parseUrl('ws://[::1]:8080/ws')?.host, '[::1]');
  assert.equal(parseUrl('ws://host:70000/'), undefined);
});
