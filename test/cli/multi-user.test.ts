/**
 * `wsgate multi-user` without running a suite: the pure pieces of splitting a run over instances (segments,
 * source addresses, file names, the worst exit code) and the usage errors that stop a run before
 * anything starts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatLocalIps, instanceFile, parseLocalIps, segments, shares, worstExit } from '../../cli/instances.ts';
import { EXIT, main } from '../../cli/main.ts';
import { capture, STACK_FRAME, tempDir } from './helpers.ts';

describe('instances', () => {
  test('execution segments cover 0..1 without gaps, with one sequence for all', () => {
    assert.deepEqual(segments(1), [{ segment: '0:1', sequence: '0,1' }]);
    assert.deepEqual(segments(3), [
      { segment: '0:1/3', sequence: '0,1/3,2/3,1' },
      { segment: '1/3:2/3', sequence: '0,1/3,2/3,1' },
      { segment: '2/3:1', sequence: '0,1/3,2/3,1' },
    ]);
  });

  test('--local-ips: addresses and ranges in, k6 syntax out; each instance gets its own slice', () => {
    assert.deepEqual(parseLocalIps('127.0.0.1-127.0.0.3,10.0.0.9'), ['127.0.0.1', '127.0.0.2', '127.0.0.3', '10.0.0.9']);
    assert.deepEqual(parseLocalIps('10.0.0.255-10.0.1.1'), ['10.0.0.255', '10.0.1.0', '10.0.1.1']);
    assert.equal(formatLocalIps(['127.0.0.1', '127.0.0.2', '127.0.0.4']), '127.0.0.1-127.0.0.2,127.0.0.4');
    assert.deepEqual(
      shares(3, parseLocalIps('127.0.0.1-127.0.0.4')).map((s) => s.localIps),
      ['127.0.0.1-127.0.0.2', '127.0.0.3', '127.0.0.4'],
    );
    assert.deepEqual(shares(2, undefined).map((s) => [s.index, s.segment, s.localIps]), [
      [1, '0:1/2', undefined],
      [2, '1/2:1', undefined],
    ]);
    for (const [value, message] of [
      ['127.0.0.1-', /not an IPv4 address/],
      ['127.0.0.256', /not an IPv4 address/],
      ['127.0.0.0/30', /CIDR block/],
      ['127.0.0.4-127.0.0.1', /ends before it starts/],
      ['127.0.0.1,,127.0.0.2', /empty entry/],
    ] as const) {
      assert.throws(() => parseLocalIps(value), message, value);
    }
    assert.throws(() => shares(3, ['127.0.0.1', '127.0.0.2']), /2 address\(es\) for 3 instances/);
  });

  test('per-instance output files, and the worst exit code', () => {
    assert.equal(instanceFile('/r/out.json', { index: 2, count: 3 }), '/r/out.2of3.json');
    assert.equal(instanceFile('/r.d/out', { index: 1, count: 2 }), '/r.d/out.1of2');
    assert.equal(worstExit([EXIT.PASS, EXIT.PASS]), EXIT.PASS);
    assert.equal(worstExit([EXIT.PASS, EXIT.FAIL, EXIT.PASS]), EXIT.FAIL);
    assert.equal(worstExit([EXIT.FAIL, EXIT.ERROR]), EXIT.ERROR);
    assert.equal(worstExit([EXIT.ERROR, EXIT.INTERRUPTED, EXIT.FAIL]), EXIT.INTERRUPTED);
    assert.equal(worstExit([EXIT.PASS, 99]), EXIT.ERROR, 'an unknown code is no verdict');
  });
});

describe('wsgate multi-user: usage errors stop before anything runs', () => {
  const run = async (args: string[], env: NodeJS.ProcessEnv = { PATH: process.env['PATH'] }): Promise<{ code: number; err: string; out: string }> => {
    const c = capture();
    const code = await main(['multi-user', ...args], env, c.io);
    assert.doesNotMatch(c.all(), STACK_FRAME);
    return { code, err: c.err(), out: c.out() };
  };

  test('an unknown --scenario names the valid ones', async () => {
    const { code, err, out } = await run(['--embedded-target', '--scenario', 'party']);
    assert.equal(code, EXIT.USAGE);
    assert.equal(out, '');
    assert.equal(err, 'wsgate: --scenario is "party"; choose one of chat, agent_execution, mixed, stress_concurrent_connections\n');
  });

  test('a bad value is reported under its flag', async () => {
    const { code, err } = await run(['--embedded-target', '--users', 'many']);
    assert.equal(code, EXIT.USAGE);
    assert.equal(err, 'wsgate: --users is "many"; it must be a whole number from 1 to 1000000\n');
    const duration = await run(['--embedded-target', '--duration', '10 minutes']);
    assert.equal(duration.code, EXIT.USAGE);
    assert.match(duration.err, /^wsgate: --duration is "10 minutes"; it must be a duration such as 90s/);
  });

  test('scale flags: --workers needs the embedded service, --instances at most one per VU, --local-ips one per instance', async () => {
    const workers = await run(['--workers', '2']);
    assert.equal(workers.code, EXIT.USAGE);
    assert.match(workers.err, /--workers only applies to the embedded reference service/);
    const instances = await run(['--embedded-target', '--users', '10', '--connections-per-vu', '5', '--instances', '3']);
    assert.equal(instances.code, EXIT.USAGE);
    assert.match(instances.err, /--instances 3 is more than the run's 2 VU\(s\) \(10 users, 5 per VU\)/);
    const ips = await run(['--embedded-target', '--users', '10', '--connections-per-vu', '1', '--instances', '3', '--local-ips', '127.0.0.1-127.0.0.2']);
    assert.equal(ips.code, EXIT.USAGE);
    assert.match(ips.err, /--local-ips gives 2 address\(es\) for 3 instances/);
    const zero = await run(['--embedded-target', '--instances', '0']);
    assert.match(zero.err, /--instances is "0"; it must be a whole number from 1 to 64/);
  });

  test('an unknown engine, and --engine k6 without a k6 (exit 4), before anything starts', async () => {
    const bogus = await run(['--embedded-target', '--engine', 'bogus']);
    assert.equal(bogus.code, EXIT.USAGE);
    assert.equal(bogus.err.split('\n').filter((l) => l && !/rebuilding/.test(l)).join('\n'), 'wsgate: --engine is "bogus"; use wsgate (the default) or k6');
    const noK6 = await run(['--embedded-target', '--engine', 'k6', '--users', '10'], { PATH: tempDir() });
    assert.equal(noK6.code, EXIT.ERROR);
    assert.match(noK6.err, /wsgate: --engine k6 needs a k6 v2\.2\.x, .*WSGATE_K6/);
  });

  test('--help lists the scale flags and the engine choice; on the engine the instances are judged as one run', async () => {
    const { code, out } = await run(['--help']);
    assert.equal(code, EXIT.PASS);
    for (const flag of ['--scenario', '--users', '--workers', '--instances', '--local-ips', '--connections-per-vu', '--ramp-per-s', '--engine wsgate|k6']) assert.ok(out.includes(flag), flag);
    assert.match(out, /merged data/);
  });
});
