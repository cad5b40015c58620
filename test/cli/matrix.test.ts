/**
 * The fault matrix's rules without running it: which cells are errors, cross-talk or fine, the exit
 * code they make, and the table. matrix.e2e.test.ts runs the real matrix.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EXIT, main } from '../../cli/main.ts';
import { SETUPS, cellOf, matrixExit, ownTests, renderTable } from '../../cli/matrix.ts';
import type { MatrixRow, MatrixSetup } from '../../cli/matrix.ts';
import { REGRESSION_NAMES } from '../../lib/regressions.ts';
import { FAULT_NAMES } from '../../reference-service/service.ts';
import { STACK_FRAME, capture } from './helpers.ts';

const setup = (name: string): MatrixSetup => SETUPS.find((s) => s.name === name) as MatrixSetup;

/** A row whose tests all pass except `failing`. */
function row(name: string, failing: string[], exit: number = failing.length ? EXIT.FAIL : EXIT.PASS): MatrixRow {
  const verdicts: MatrixRow['verdicts'] = {};
  for (const t of REGRESSION_NAMES) verdicts[t] = failing.includes(t) ? 'fail' : 'pass';
  return { setup: setup(name), exit, seconds: 1, verdicts, observed: {}, suiteFailures: [], log: '' };
}

/** The matrix every sound suite produces: each setup fails exactly its own tests. */
const sound = (): MatrixRow[] => SETUPS.map((s) => row(s.name, ownTests(s)));

test('nine setups: healthy, the seven faults behind a healthy nginx, the broken nginx; each but healthy is some test\'s own', () => {
  assert.deepEqual(SETUPS.map((s) => s.name), ['healthy', ...FAULT_NAMES, 'nginx:broken']);
  assert.ok(SETUPS.every((s) => s.lb === (s.name === 'nginx:broken' ? 'broken' : 'healthy')));
  assert.deepEqual(ownTests(setup('healthy')), []);
  for (const s of SETUPS.slice(1)) assert.ok(ownTests(s).length > 0, s.name);
  assert.deepEqual(ownTests(setup('nginx:broken')), ['load_balancer_timeout_regression']);
  assert.deepEqual(ownTests(setup('idle_timeout')), ['load_balancer_timeout_regression']);
});

describe('cells and the exit code', () => {
  test('each setup failing exactly its own tests: exit 0', () => assert.equal(matrixExit(sound()), EXIT.PASS));

  test('cross-talk is marked FAIL* and is no error', () => {
    const rows = sound();
    rows[1] = row('handshake_403', [...REGRESSION_NAMES]);
    assert.equal(cellOf(setup('handshake_403'), 'jwt_secret_synchronization_regression', 'fail').mark, 'FAIL*');
    assert.equal(matrixExit(rows), EXIT.PASS);
  });

  test('a fault its own test misses (pass!) is exit 1', () => {
    const rows = sound();
    const i = SETUPS.findIndex((s) => s.name === 'isolation_leak');
    rows[i] = row('isolation_leak', [], EXIT.FAIL); // failed through a suite threshold only
    assert.equal(cellOf(setup('isolation_leak'), 'multi_user_isolation_regression', 'pass').mark, 'pass!');
    assert.equal(matrixExit(rows), EXIT.FAIL);
  });

  test('a false alarm on the healthy service (FAIL!) is exit 1', () => {
    const rows = sound();
    rows[0] = row('healthy', ['connection_leak_regression']);
    assert.equal(cellOf(setup('healthy'), 'connection_leak_regression', 'fail').mark, 'FAIL!');
    assert.equal(matrixExit(rows), EXIT.FAIL);
  });

  test('a setup without a verdict is exit 4, and its cells are —', () => {
    const rows = sound();
    rows[SETUPS.findIndex((s) => s.name === 'jwt_secret_desync')] = { ...row('jwt_secret_desync', []), exit: EXIT.ERROR, verdicts: {} };
    assert.equal(cellOf(setup('jwt_secret_desync'), 'jwt_secret_synchronization_regression', undefined).mark, '—');
    assert.equal(matrixExit(rows), EXIT.ERROR);
  });
});

test('the table: one row per setup, one column per test, padded Markdown', () => {
  const rows = sound();
  rows[1] = row('handshake_403', ['websocket_403_handshake_regression', 'jwt_secret_synchronization_regression']);
  const lines = renderTable(rows).trimEnd().split('\n');
  assert.equal(lines.length, 2 + SETUPS.length);
  assert.match(lines[0] ?? '', /^\| setup +\| jwt_secret_synchronization \| websocket_403_handshake \| load_balancer_timeout \| multi_user_isolation \| agent_events_missing \| connection_leak \| auth_token_refresh \| exit \| time +\|$/);
  assert.ok(lines.every((l) => l.length === (lines[0] ?? '').length), 'every line equally wide');
  assert.match(lines[2] ?? '', /^\| healthy +\| pass +\| pass +\|/);
  assert.match(lines[3] ?? '', /^\| fault handshake_403 +\| FAIL\* +\| FAIL +\| pass +\|/);
  assert.match(lines.at(-1) ?? '', /^\| nginx:broken +\| pass +\| pass +\| FAIL +\|/);
});

test('--repeat: runs of a setup that disagree show the worst mark and how many runs had it', () => {
  const i = SETUPS.findIndex((s) => s.name === 'isolation_leak');
  const rows = [...sound(), row('isolation_leak', [], EXIT.FAIL), row('isolation_leak', ['multi_user_isolation_regression'])];
  const lines = renderTable(rows).trimEnd().split('\n');
  assert.equal(lines.length, 2 + SETUPS.length, 'still one line per setup');
  assert.match(lines[2 + i] ?? '', /^\| fault isolation_leak +\| pass +\| pass +\| pass +\| pass! 1\/3 +\| pass +\|/);
  assert.equal(matrixExit(rows), EXIT.FAIL, 'one missed run is enough to fail the matrix');
});

test('usage: --concurrency out of range is exit 2 in one sentence; --help', async () => {
  const c = capture();
  assert.equal(await main(['matrix', '--concurrency', '0'], {}, c.io), EXIT.USAGE);
  assert.equal(c.err(), 'wsgate: --concurrency is "0"; it must be a whole number from 1 to 9\n');
  const r = capture();
  assert.equal(await main(['matrix', '--repeat', '11'], {}, r.io), EXIT.USAGE);
  assert.equal(r.err(), 'wsgate: --repeat is "11"; it must be a whole number from 1 to 10\n');
  assert.doesNotMatch(c.all(), STACK_FRAME);
  const h = capture();
  assert.equal(await main(['matrix', '--help'], {}, h.io), EXIT.PASS);
  assert.match(h.out(), /^Usage: wsgate matrix /);
});
