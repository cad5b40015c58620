/**
 * The fault matrix's rules without running it: which cells are errors, cross-talk or fine, the exit
 * code they make, and the table. matrix.e2e.test.ts runs the real matrix.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EXIT, main } from '../../cli/main.ts';
import { OUTSIDE_VALIDATION, SETUPS, VALIDATION_SETUPS, cellOf, matrixExit, ownTests, renderTable, renderValidationTable, validationVerdict } from '../../cli/matrix.ts';
import type { MatrixRow, MatrixSetup, ValidationRow } from '../../cli/matrix.ts';
import { REGRESSION_NAMES } from '../../lib/core/regressions.ts';
import { FAULT_NAMES, VALIDATION_FAULT_NAMES } from '../../reference-service/service.ts';
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

test('ten regression setups: healthy, the seven faults and no_reaping behind a healthy nginx, the broken nginx; each but healthy is some test\'s own', () => {
  assert.deepEqual(SETUPS.map((s) => s.name), ['healthy', ...FAULT_NAMES, 'no_reaping', 'nginx:broken']);
  assert.ok(SETUPS.every((s) => s.lb === (s.name === 'nginx:broken' ? 'broken' : 'healthy')));
  assert.deepEqual(ownTests(setup('healthy')), []);
  for (const s of SETUPS.slice(1)) assert.ok(ownTests(s).length > 0, s.name);
  assert.deepEqual(ownTests(setup('nginx:broken')), ['load_balancer_timeout_regression']);
  assert.deepEqual(ownTests(setup('idle_timeout')), ['load_balancer_timeout_regression']);
  assert.deepEqual(ownTests(setup('no_reaping')), ['connection_leak_regression']);
});

test('validation setups: healthy and every fault, without nginx', () => {
  assert.deepEqual(VALIDATION_SETUPS.map((s) => s.name), ['healthy', ...FAULT_NAMES, ...VALIDATION_FAULT_NAMES]);
  assert.ok(VALIDATION_SETUPS.every((s) => s.lb === 'none'));
  // Only a question validation does not ask may pass; every new fault must be caught.
  assert.deepEqual(Object.keys(OUTSIDE_VALIDATION), ['token_refresh_broken']);
});

/** A validation run: exit 1 (caught) or 0, scenarios failing as listed. */
function vrow(name: string, exit: number, failing: string[] = [], thresholds: string[] = []): ValidationRow {
  const verdicts: ValidationRow['verdicts'] = {};
  for (const sc of ['websocket_connection', 'agent_events', 'health_endpoint']) verdicts[sc] = failing.includes(sc) ? 'fail' : 'pass';
  const s = VALIDATION_SETUPS.find((x) => x.name === name) as MatrixSetup;
  return { setup: s, exit, seconds: 7, verdicts, failedChecks: {}, failedThresholds: thresholds, observed: {}, log: '' };
}

describe('the validation table', () => {
  test('healthy passes, a fault fails the run: caught; exit 0', () => {
    const rows = [vrow('healthy', EXIT.PASS), vrow('rare_event_loss', EXIT.FAIL, ['agent_events']), vrow('slow_handshake', EXIT.FAIL, [], ['ws_connecting p(95)<1000 (observed p(95) 3089)'])];
    assert.equal(validationVerdict(rows[1] as ValidationRow).mark, 'caught');
    assert.equal(matrixExit([], rows), EXIT.PASS);
    const lines = renderValidationTable(rows).trimEnd().split('\n');
    assert.equal(lines.length, 2 + 3);
    assert.match(lines[0] ?? '', /^\| setup +\| websocket_connection \| agent_events \| health_endpoint \| thresholds failed +\| verdict \| exit \| time +\|$/);
    assert.match(lines[3] ?? '', /^\| fault rare_event_loss +\| pass +\| FAIL +\| pass +\| none +\| caught +\| 1 +\|/);
    assert.match(lines[4] ?? '', /^\| fault slow_handshake +\| pass +\| pass +\| pass +\| ws_connecting +\| caught +\|/);
  });

  test('a fault validation must catch that passes is MISSED! (exit 1); a question it does not ask may pass', () => {
    assert.equal(validationVerdict(vrow('rare_reorder', EXIT.PASS)).mark, 'MISSED!');
    assert.equal(matrixExit([], [vrow('healthy', EXIT.PASS), vrow('rare_reorder', EXIT.PASS)]), EXIT.FAIL);
    const outside = validationVerdict(vrow('token_refresh_broken', EXIT.PASS));
    assert.deepEqual([outside.mark, outside.error], ['pass', false]);
  });

  test('a false alarm on the healthy service is FAIL!; a run without a verdict is — and exit 4', () => {
    assert.equal(validationVerdict(vrow('healthy', EXIT.FAIL, ['health_endpoint'])).mark, 'FAIL!');
    assert.equal(matrixExit([], [vrow('healthy', EXIT.FAIL, ['health_endpoint'])]), EXIT.FAIL);
    const none = { ...vrow('no_reaping', EXIT.ERROR), verdicts: {} };
    assert.equal(validationVerdict(none).mark, '—');
    assert.equal(matrixExit([], [none]), EXIT.ERROR);
  });

  test('--repeat: a fault caught in two runs and missed in one shows MISSED! 1/3', () => {
    const rows = [vrow('rare_mislabel', EXIT.FAIL, ['agent_events']), vrow('rare_mislabel', EXIT.PASS), vrow('rare_mislabel', EXIT.FAIL, ['agent_events'])];
    assert.match(renderValidationTable(rows), /\| fault rare_mislabel +\| pass +\| FAIL 2\/3 +\| pass +\| none +\| MISSED! 1\/3 +\| 1\/0 +\|/);
    assert.equal(matrixExit([], rows), EXIT.FAIL);
  });
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
  assert.equal(c.err(), 'wsgate: --concurrency is "0"; it must be a whole number from 1 to 10\n');
  const r = capture();
  assert.equal(await main(['matrix', '--repeat', '11'], {}, r.io), EXIT.USAGE);
  assert.equal(r.err(), 'wsgate: --repeat is "11"; it must be a whole number from 1 to 10\n');
  const tb = capture();
  assert.equal(await main(['matrix', '--table', 'both'], {}, tb.io), EXIT.USAGE);
  assert.equal(tb.err(), 'wsgate: --table is "both"; choose regression or validation, or leave it out for both\n');
  assert.doesNotMatch(c.all(), STACK_FRAME);
  const h = capture();
  assert.equal(await main(['matrix', '--help'], {}, h.io), EXIT.PASS);
  assert.match(h.out(), /^Usage: wsgate matrix /);
});
