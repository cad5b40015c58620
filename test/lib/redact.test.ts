import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KNOWN, REDACTED, redactSecrets, redactorFor, secretsFrom } from '../../lib/core/redact.ts';

const TOKEN =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ3c2dhdGUtY29ubi0xIiwiaXNzIjoid3NnYXRlIn0.7j4qeIZAvd0KN6he4vVpSov1vipkKh2D77GYkSu2Xzs';
const SECRET = 'TXDHPEgMA2qvVCkFpX8dFhTNyY6kWZJGr7bQt2GKZ0Y';

test('a token, whole, cut short or as a subprotocol, is redacted', () => {
  assert.equal(redactSecrets(`run ${TOKEN} of user jwt.${TOKEN}`), `run ${REDACTED} of user jwt.${REDACTED}`);
  assert.equal(redactSecrets(`closed with 4403 refused jwt.${TOKEN.slice(0, 100)}`), `closed with 4403 refused jwt.${REDACTED}`);
  assert.equal(redactSecrets(`closed with 4001 token_expired ${TOKEN.slice(0, 50)}`), `closed with 4001 token_expired ${REDACTED}`);
  assert.equal(redactSecrets('Authorization: Bearer abcdefgh12345678'), `Authorization: Bearer ${REDACTED}`);
});

test("the run's own secrets go by value (raw, URL-encoded, JSON-escaped); URLs lose user info and query values", () => {
  const secrets = secretsFrom({ WSGATE_JWT_SECRET: SECRET, WSGATE_AUTH_PASSWORD: 'pa ss"word', WSGATE_ENV: 'local' });
  assert.equal(redactSecrets(`secret ${SECRET}!`, secrets), `secret ${KNOWN}!`);
  assert.equal(redactSecrets('sent pa%20ss%22word and "pa ss\\"word"', secrets), `sent ${KNOWN} and "${KNOWN}"`);
  assert.equal(redactSecrets(`https://hooks.invalid/services/${SECRET}?x=1`, secrets), `https://hooks.invalid/services/${KNOWN}?x=REDACTED`);
  assert.equal(
    redactSecrets(`see https://ci:${SECRET}@hostile.invalid/x?access_token=abc&n=1`, secrets),
    'see https://REDACTED@hostile.invalid/x?access_token=REDACTED&n=REDACTED',
  );
  assert.equal(redactorFor({ WSGATE_ADMIN_TOKEN: 'an-admin-token-1234' })('token an-admin-token-1234'), `token ${KNOWN}`);
});

test('secret-looking pairs and long random strings are redacted; what wsgate itself says is not', () => {
  assert.equal(redactSecrets('{"password":"hunter2x","refresh_token":"abcd"}'), `{"password":"${REDACTED}","refresh_token":"${REDACTED}"}`);
  assert.equal(redactSecrets('key Qm9vdGhpc2lzYXJlZnJlc2h0b2tlbjEyMzQ1Njc4OTA here'), `key ${REDACTED} here`);
  assert.equal(redactSecrets('hash 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'), `hash ${REDACTED}`);
  for (const innocent of [
    'connection with a short-lived token opens (observed: close 4403)',
    'the auth service at http://127.0.0.1:44065/auth/token did not issue a token for wsgate-jwt-2au50-1-0-u3 (HTTP 401)',
    'run 965a6cb0-r83 of message wsgate-iso-2af01-9-0-m1: agent_started received 2 times; seq does not rise (1 then 1)',
    'results/deployment-validation-local-20261128T220852Z.json',
    'selected the jwt.<token> protocol',
    'tokens: 12',
    '',
  ]) {
    assert.equal(redactSecrets(innocent), innocent);
  }
});
