import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../lib/core/errors.ts';
import { REGRESSIONS, REGRESSION_NAMES, selectRegressions } from '../../lib/core/regressions.ts';
import { FAULT_NAMES } from '../../reference-service/service.ts';

test('the seven regressions keep the original design names, five of them critical', () => {
  assert.deepEqual(REGRESSION_NAMES, [
    'jwt_secret_synchronization_regression',
    'websocket_403_handshake_regression',
    'load_balancer_timeout_regression',
    'multi_user_isolation_regression',
    'agent_events_missing_regression',
    'connection_leak_regression',
    'auth_token_refresh_regression',
  ]);
  assert.equal(REGRESSIONS.filter((r) => r.critical).length, 5);
});

test('every fault of the reference service is some regression test\'s own fault', () => {
  const reproduced = REGRESSIONS.flatMap((r) => r.reproducedBy);
  for (const f of FAULT_NAMES) assert.ok(reproduced.includes(f), `fault ${f} is no regression's own`);
  assert.ok(reproduced.includes('nginx:broken'));
});

test('selection: all, named, critical only, and one sentence for unknown names', () => {
  assert.equal(selectRegressions({}).length, 7);
  assert.deepEqual(selectRegressions({ WSGATE_TESTS: 'connection_leak_regression, jwt_secret_synchronization_regression' }).map((r) => r.name), [
    'jwt_secret_synchronization_regression',
    'connection_leak_regression',
  ]);
  assert.equal(selectRegressions({ WSGATE_CRITICAL_ONLY: 'true' }).length, 5);
  assert.throws(
    () => selectRegressions({ WSGATE_TESTS: 'jwt_regression' }),
    (e: unknown) => e instanceof ConfigError && /unknown regression test "jwt_regression"; valid names are jwt_secret_synchronization_regression, /.test(e.message),
  );
  assert.throws(() => selectRegressions({ WSGATE_TESTS: 'connection_leak_regression', WSGATE_CRITICAL_ONLY: 'true' }), /leaves no test to run/);
  assert.throws(() => selectRegressions({ WSGATE_CRITICAL_ONLY: 'yes' }), /WSGATE_CRITICAL_ONLY is "yes"; it must be true or false/);
});
