/**
 * main() in-process with captured streams: every usage and configuration mistake is one sentence on
 * stderr with the right exit code, no stack trace and no secret; the engines' exit codes (k6's codes,
 * on both) map through the table in cli/io.ts, checked with --engine k6 and a fake k6 that exits as
 * told; signals reach the engine exactly once. Runs on the wsgate engine are the e2e tests'.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { EXIT, main } from '../../cli/main.ts';
import { ALL_FAULT_NAMES } from '../../reference-service/service.ts';
import { SECRET, STACK_FRAME, capture, closedPort, fakeK6Runner, fakeK6Version, runMain, tempDir } from './helpers.ts';

const REBUILD_NOTICE = 'wsgate: sources changed since the last build; rebuilding the bundles';
const RUN_SUITES = 'deployment-validation, regression-prevention, multi-user, monitoring';

/** Just enough environment: no WSGATE_* from the developer's shell. */
const BASE: NodeJS.ProcessEnv = { PATH: process.env['PATH'], HOME: process.env['HOME'] };
const MINT = { ...BASE, WSGATE_JWT_SECRET: SECRET };

const run = runMain;

/** Asserts exit code `code` and exactly one line on stderr, `wsgate: ` + something matching `sentence`. */
async function expectOneSentence(argv: string[], env: NodeJS.ProcessEnv, code: number, sentence: RegExp | string, also?: (all: string) => void): Promise<void> {
  const r = await run(argv, env);
  assert.equal(r.code, code, r.all);
  assert.equal(r.out, '');
  // A rebuild notice comes first when sources changed since the last build (commands that got as far
  // as the bundles); it is not part of the answer.
  const lines = r.err.trimEnd().split('\n').filter((l) => l !== REBUILD_NOTICE);
  assert.equal(lines.length, 1, `one line, got:\n${r.err}`);
  if (typeof sentence === 'string') assert.equal(lines[0], `wsgate: ${sentence}`);
  else assert.match(lines[0] ?? '', sentence);
  also?.(r.all);
}

describe('usage errors: exit 2, one sentence', { concurrency: true }, () => {
  test('unknown command', () =>
    expectOneSentence(['deploy'], BASE, EXIT.USAGE, 'unknown command "deploy"; the commands are validate, regression, pre, post, merge, multi-user, monitor, reference, drop-relay, matrix, run, build, demo and help'));

  test('install-k6 is gone: wsgate never builds or downloads k6', () =>
    expectOneSentence(['install-k6'], BASE, EXIT.USAGE, /^wsgate: unknown command "install-k6"; /));

  test('an option before any command', () =>
    expectOneSentence(['--env', 'local'], BASE, EXIT.USAGE, /^wsgate: unknown option --env; put options after a command/));

  test('no command prints the usage on stderr', async () => {
    const r = await run([], BASE);
    assert.equal(r.code, EXIT.USAGE);
    assert.match(r.err, /^Usage: wsgate <command>/);
  });

  test('unknown option of validate', () =>
    expectOneSentence(['validate', '--verbose'], MINT, EXIT.USAGE, 'unknown option --verbose for wsgate validate; run wsgate validate --help for the options'));

  test('option without its value', () =>
    expectOneSentence(['validate', '--env'], MINT, EXIT.USAGE, 'option --env needs a value; run wsgate validate --help for the options'));

  test('stray argument', () =>
    expectOneSentence(['validate', 'local'], MINT, EXIT.USAGE, 'unexpected argument "local" for wsgate validate; run wsgate validate --help for the options'));

  test('--fault without --embedded-target', () =>
    expectOneSentence(
      ['validate', '--env', 'local', '--fault', 'handshake_403'],
      MINT,
      EXIT.USAGE,
      '--fault only applies to the embedded reference service; add --embedded-target, or drop --fault to validate a deployed service',
    ));

  test('--tls-cert without --embedded-target', () =>
    expectOneSentence(['validate', '--tls-cert', 'a.pem', '--tls-key', 'a.key'], MINT, EXIT.USAGE, /^wsgate: --tls-cert only applies to the embedded reference service;/));

  test('--tls-key alone', () =>
    expectOneSentence(['validate', '--embedded-target', '--tls-key', 'a.key'], BASE, EXIT.USAGE, '--tls-key was given alone; pass both --tls-cert and --tls-key, or neither'));

  for (const [command, verb] of [['validate', 'validate'], ['regression', 'test'], ['multi-user', 'test'], ['monitor', 'monitor']] as const) {
    const more = command === 'monitor' ? ['--duration', '1m'] : [];
    test(`${command}: --network-jitter without --embedded-target, and a bad value`, async () => {
      await expectOneSentence(
        [command, ...more, '--network-jitter', '20'],
        MINT,
        EXIT.USAGE,
        `--network-jitter only applies to the embedded reference service; add --embedded-target, or drop --network-jitter to ${verb} a deployed service`,
      );
      await expectOneSentence([command, ...more, '--embedded-target', '--network-jitter', '20ms'], BASE, EXIT.USAGE, '--network-jitter is "20ms"; give whole milliseconds from 0 to 10000, e.g. --network-jitter 20');
    });
  }

  test('drop-relay: a bad --jitter-ms', () =>
    expectOneSentence(['drop-relay', '--upstream', '127.0.0.1:9', '--jitter-ms', 'lots'], BASE, EXIT.USAGE, '--jitter-ms is "lots"; give whole milliseconds from 0 to 10000, e.g. --jitter-ms 20'));

  test('unknown fault lists the valid ones', () =>
    expectOneSentence(
      ['validate', '--embedded-target', '--fault', 'slow_network'],
      BASE,
      EXIT.USAGE,
      `unknown fault "slow_network"; choose one of ${ALL_FAULT_NAMES.join(', ')}`,
    ));

  test('--engine with an unknown engine, on a suite command (embedded: nothing else is checked first)', async () => {
    const results = join(tempDir(), 'results');
    await expectOneSentence(['validate', '--embedded-target', '--engine', 'bogus', '--results-dir', results], BASE, EXIT.USAGE, '--engine is "bogus"; use wsgate (the default) or k6');
    assert.ok(!existsSync(results), 'nothing was run');
  });

  test('--engine with an unknown engine for a deployed service: exit 2 before the pre-flight touches the network', async () => {
    const port = await closedPort();
    await expectOneSentence(['validate', '--env', 'local', '--engine', 'bogus'], { ...MINT, WSGATE_HTTP_URL: `http://127.0.0.1:${port}` }, EXIT.USAGE, '--engine is "bogus"; use wsgate (the default) or k6');
  });

  test('WSGATE_ENGINE with an unknown engine', () =>
    expectOneSentence(['regression', '--embedded-target', '--lb', 'none'], { ...BASE, WSGATE_ENGINE: 'k7' }, EXIT.USAGE, 'WSGATE_ENGINE is "k7"; use wsgate (the default) or k6'));

  test('--engine k6 without any k6: exit 4, one sentence naming WSGATE_K6 and where to get k6', async () => {
    const results = join(tempDir(), 'results');
    const emptyPath = tempDir();
    await expectOneSentence(
      ['validate', '--embedded-target', '--engine', 'k6', '--results-dir', results],
      { PATH: emptyPath, HOME: process.env['HOME'] },
      EXIT.ERROR,
      '--engine k6 needs a k6 v2.2.x, and there is none on PATH and WSGATE_K6 is not set; install k6 (https://grafana.com/docs/k6/latest/set-up/install-k6/) and set WSGATE_K6 to its path, or drop --engine k6 to run on the wsgate engine',
    );
    assert.ok(!existsSync(results), 'nothing was run');
  });

  test('--engine k6 with a k6 of another version: exit 4, both versions named', async () => {
    const k6 = fakeK6Version(join(tempDir(), 'k6'), 'v0.50.0');
    await expectOneSentence(['validate', '--embedded-target', '--engine', 'k6'], { ...BASE, WSGATE_K6: k6 }, EXIT.ERROR, /^wsgate: the k6 at .*\/k6 is v0\.50\.0, but the k6 bundles are written for k6 v2\.2\.x; /);
  });

  test('help for an unknown topic', () =>
    expectOneSentence(['help', 'deploy'], BASE, EXIT.USAGE, /^wsgate: there is no command "deploy"/));
});

describe('help: exit 0 on stdout', { concurrency: true }, () => {
  for (const argv of [['help'], ['--help'], ['-h'], ['validate', '--help'], ['validate', '-h'], ['help', 'validate'], ['build', '--help'], ['run', '--help'], ['run', '-h'], ['help', 'run']]) {
    test(argv.join(' '), async () => {
      const r = await run(argv, BASE);
      assert.equal(r.code, EXIT.PASS);
      assert.match(r.out, /^Usage: wsgate /);
      assert.equal(r.err, '');
    });
  }

  test('target --help is the reference service CLI', async () => {
    const r = await run(['reference', '--help'], BASE);
    assert.equal(r.code, 0);
    assert.match(r.out, /^Usage: wsgate reference/);
  });
});

describe('configuration errors: exit 2, one sentence, before any network or k6', { concurrency: true }, () => {
  test('unknown environment lists the valid ones', () =>
    expectOneSentence(['validate', '--env', 'qa'], MINT, EXIT.USAGE, 'unknown environment "qa"; choose one of local, staging, production (config/environments.json)'));

  test('WSGATE_ENV is used when --env is absent', () =>
    expectOneSentence(['validate'], { ...MINT, WSGATE_ENV: 'qa' }, EXIT.USAGE, /^wsgate: unknown environment "qa"/));

  test('token source mint without WSGATE_JWT_SECRET', () =>
    expectOneSentence(['validate', '--env', 'local'], BASE, EXIT.USAGE, /^wsgate: token source "mint" needs the shared JWT secret in WSGATE_JWT_SECRET; /));

  test('a short secret is refused by its length, never echoed', () =>
    expectOneSentence(['validate', '--env', 'local'], { ...BASE, WSGATE_JWT_SECRET: 'TOPSECRET-short' }, EXIT.USAGE, /^wsgate: WSGATE_JWT_SECRET is 15 bytes long; HS256 needs at least 32/, (all) =>
      assert.ok(!all.includes('TOPSECRET-short')),
    ));

  test('malformed WSGATE_WS_URL', () =>
    expectOneSentence(
      ['validate', '--env', 'local'],
      { ...MINT, WSGATE_WS_URL: 'localhost:8080/ws' },
      EXIT.USAGE,
      /^wsgate: WSGATE_WS_URL is "<unparseable URL>", which is not a valid ws:\/\/ or wss:\/\/ URL; /,
    ));

  test('a URL with credentials and a token is printed redacted', () =>
    expectOneSentence(
      ['validate', '--env', 'local'],
      { ...MINT, WSGATE_WS_URL: `http://admin:${SECRET}@127.0.0.1:8080/ws?token=${SECRET}` },
      EXIT.USAGE,
      'WSGATE_WS_URL is "http://REDACTED@127.0.0.1:8080/ws?token=REDACTED", which is not a valid ws:// or wss:// URL; use for example ws://host:port/ws',
    ));

  test('unknown token source', () =>
    expectOneSentence(['validate'], { ...MINT, WSGATE_TOKEN_SOURCE: 'vault' }, EXIT.USAGE, /^wsgate: WSGATE_TOKEN_SOURCE is "vault"; it must be one of mint, auth, file$/));

  test('--ca-file that does not exist', () =>
    expectOneSentence(['validate', '--ca-file', '/nonexistent/ca.pem'], MINT, EXIT.USAGE, '--ca-file /nonexistent/ca.pem cannot be read (ENOENT); pass the path of a PEM file'));

  test('--ca-file that is not a certificate', async () => {
    const file = join(tempDir(), 'ca.pem');
    writeFileSync(file, 'hello\n');
    await expectOneSentence(['validate', '--ca-file', file], MINT, EXIT.USAGE, `--ca-file ${file} holds no PEM certificate; pass a PEM file (-----BEGIN ...CERTIFICATE-----)`);
  });
});

describe('pre-flight: an unreachable target is exit 3 in one sentence, and no engine is started or looked for', { concurrency: true }, () => {
  let health: Server;
  let healthUrl = '';
  before(async () => {
    health = createServer((_req, res) => res.end('{"status":"healthy"}'));
    await new Promise<void>((resolve) => health.listen(0, '127.0.0.1', resolve));
    const address = health.address();
    healthUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  after(() => new Promise<void>((resolve) => health.close(() => resolve())));
  // With k6 asked for and a WSGATE_K6 that is no program, looking for k6 fails loudly (exit 4): the
  // proof that the CLI stopped before choosing an engine. The wsgate engine needs no looking for, so
  // the proof on its path is that no results directory was created.
  const NO_K6 = { WSGATE_ENGINE: 'k6', WSGATE_K6: '/nonexistent/k6' };

  test('chat backend on a closed port: ECONNREFUSED, URL redacted', async () => {
    const port = await closedPort();
    await expectOneSentence(
      ['validate', '--env', 'local'],
      { ...MINT, ...NO_K6, WSGATE_HTTP_URL: `http://ops:${SECRET}@127.0.0.1:${port}` },
      EXIT.UNREACHABLE,
      `the chat backend at http://REDACTED@127.0.0.1:${port}/health is unreachable (ECONNREFUSED); start it, or point WSGATE_HTTP_URL (or local's preset in config/environments.json) at it`,
    );
  });

  test('auth service on a closed port while the backend answers', async () => {
    const port = await closedPort();
    await expectOneSentence(
      ['validate', '--env', 'local'],
      { ...MINT, ...NO_K6, WSGATE_HTTP_URL: healthUrl, WSGATE_AUTH_URL: `http://127.0.0.1:${port}` },
      EXIT.UNREACHABLE,
      `the auth service at http://127.0.0.1:${port}/ is unreachable (ECONNREFUSED); start it, or point WSGATE_AUTH_URL (or local's preset in config/environments.json) at it`,
    );
  });

  test('an unresolvable host names DNS failure', async () => {
    await expectOneSentence(
      ['validate', '--env', 'local'],
      { ...MINT, ...NO_K6, WSGATE_HTTP_URL: 'http://wsgate-test.invalid:8080' },
      EXIT.UNREACHABLE,
      /^wsgate: the chat backend at http:\/\/wsgate-test\.invalid:8080\/health is unreachable \((ENOTFOUND|EAI_AGAIN)\); /,
    );
  });

  test('on the wsgate engine too: nothing is run, no results directory is created', async () => {
    const port = await closedPort();
    const results = join(tempDir(), 'results');
    await expectOneSentence(
      ['validate', '--env', 'local', '--results-dir', results],
      { ...MINT, WSGATE_HTTP_URL: `http://127.0.0.1:${port}` },
      EXIT.UNREACHABLE,
      /^wsgate: the chat backend at http:\/\/127\.0\.0\.1:\d+\/health is unreachable \(ECONNREFUSED\); /,
    );
    assert.ok(!existsSync(results), 'nothing was run');
  });

  test('both reachable: the CLI goes on to look for k6 (and says WSGATE_K6 is no program, exit 4)', async () => {
    const results = join(tempDir(), 'results');
    const r = await run(['validate', '--env', 'local', '--results-dir', results], { ...MINT, ...NO_K6, WSGATE_HTTP_URL: healthUrl, WSGATE_AUTH_URL: healthUrl });
    assert.equal(r.code, EXIT.ERROR, r.all);
    // A rebuild notice may come first when sources changed since the last build.
    assert.equal(
      r.err.trimEnd().split('\n').at(-1),
      'wsgate: WSGATE_K6 is "/nonexistent/k6", which is not an executable file; point it at your k6 binary (https://grafana.com/docs/k6/latest/set-up/install-k6/)',
    );
    assert.ok(!existsSync(results), 'nothing was run');
  });
});

describe('wsgate run', { concurrency: true }, () => {
  const probe = fileURLToPath(new URL('./fixtures/run-probe.ts', import.meta.url));

  test('no suite or file, or two: exit 2, one sentence', async () => {
    await expectOneSentence(['run'], BASE, EXIT.USAGE, 'wsgate run takes one suite or file, got 0; e.g. wsgate run deployment-validation');
    await expectOneSentence(['run', 'multi-user', 'monitoring'], BASE, EXIT.USAGE, 'wsgate run takes one suite or file, got 2; e.g. wsgate run deployment-validation');
  });

  test('an unknown suite or a file that does not exist: exit 2, one sentence listing the suites', async () => {
    await expectOneSentence(['run', 'deployment-validaton'], BASE, EXIT.USAGE, `deployment-validaton is neither a suite (${RUN_SUITES}) nor an existing file; name a suite or give the path of a scenario`);
    await expectOneSentence(['run', 'nope/scenario.ts'], BASE, EXIT.USAGE, /^wsgate: nope\/scenario\.ts is neither a suite \(/);
  });

  test('unknown option and unknown engine: exit 2', async () => {
    await expectOneSentence(['run', '--vus', '10', 'multi-user'], BASE, EXIT.USAGE, 'unknown option --vus for wsgate run; run wsgate run --help for the options');
    await expectOneSentence(['run', '--engine', 'bogus', 'multi-user'], BASE, EXIT.USAGE, '--engine is "bogus"; use wsgate (the default) or k6');
  });

  test('--engine k6 with --workers or --report: a usage error, whether or not a k6 is there', async () => {
    const sentence = '--workers and --report belong to the wsgate engine; drop them with --engine k6';
    const k6 = fakeK6Version(join(tempDir(), 'k6'), 'v2.2.0');
    await expectOneSentence(['run', '--engine', 'k6', '--workers', '2', 'deployment-validation'], { ...BASE, WSGATE_K6: k6 }, EXIT.USAGE, sentence);
    await expectOneSentence(['run', '--report', 'r.html', 'deployment-validation'], { ...BASE, WSGATE_ENGINE: 'k6', WSGATE_K6: k6 }, EXIT.USAGE, sentence);
    // A flag mistake is reported as one, not as a missing k6.
    await expectOneSentence(['run', '--engine', 'k6', '--workers', '2', 'deployment-validation'], { PATH: tempDir(), HOME: process.env['HOME'] }, EXIT.USAGE, sentence);
  });

  test('a scenario source is bundled for the engine and run: pass is 0, a crossed threshold 1', async () => {
    const pass = await run(['run', '--quiet', '--workers', '1', probe], BASE);
    assert.equal(pass.code, EXIT.PASS, pass.all);
    assert.match(pass.all, /the probe ran/, "the engine's summary passes through");
    const fail = await run(['run', '--quiet', '--workers', '1', probe], { ...BASE, PROBE_FAIL: '1' });
    assert.equal(fail.code, EXIT.FAIL, fail.all);
    assert.equal(fail.out.trimEnd().split('\n').at(-1), `wsgate: FAIL ${probe}: thresholds were crossed`);
  });

  test('--engine k6: k6 gets `run`, the flags and dist/<suite>.js; its exit codes map like a suite\'s', async () => {
    const dir = tempDir();
    const log = join(dir, 'k6-call');
    const k6 = fakeK6Runner(join(dir, 'k6'), log);
    const env = { ...BASE, WSGATE_K6: k6, WSGATE_ENV: 'local', WSGATE_RESULTS_DIR: dir, WSGATE_RUN_STAMP: 'stamp' };
    const ok = await run(['run', '--engine', 'k6', '--tag', 'env=ci', '--out', `json=${join(dir, 's.json')}`, '--quiet', 'multi-user'], env);
    assert.equal(ok.code, EXIT.PASS, ok.all);
    const call = JSON.parse(readFileSync(`${log}.json`, 'utf8')) as { args: string[]; env: Record<string, string> };
    assert.deepEqual(call.args.slice(0, -1), ['run', '--out', `json=${join(dir, 's.json')}`, '--tag', 'env=ci', '--quiet']);
    assert.match(call.args.at(-1) ?? '', /\/dist\/multi-user\.js$/);
    assert.equal(call.env['K6_NO_USAGE_REPORT'], 'true');
    for (const [k6Exit, code, last] of [
      ['99', EXIT.FAIL, 'wsgate: FAIL multi-user: thresholds were crossed'],
      ['108', EXIT.ERROR, /^wsgate: ERROR multi-user: the k6 v2\.2\.0 \(.*\) exited with code 108; no verdict$/],
      ['105', EXIT.INTERRUPTED, undefined],
    ] as const) {
      const r = await run(['run', '--engine', 'k6', 'multi-user'], { ...env, FAKE_K6_EXIT: k6Exit });
      assert.equal(r.code, code, r.all);
      if (typeof last === 'string') assert.equal(r.out.trimEnd().split('\n').at(-1), last);
      else if (last) assert.match(r.out.trimEnd().split('\n').at(-1) ?? '', last);
    }
  });
});

describe('k6 exit codes map to wsgate exit codes (--engine k6 via WSGATE_ENGINE, fake k6, embedded target)', () => {
  const dir = tempDir();
  const log = join(dir, 'k6-call');
  const k6 = fakeK6Runner(join(dir, 'k6'), log);
  const results = join(dir, 'results', 'nested');

  async function validateWith(k6Exit: number, extra: string[] = [], env: NodeJS.ProcessEnv = {}) {
    const c = capture();
    // A previous test's record must never stand in for this run's.
    rmSync(`${log}.json`, { force: true });
    const code = await main(['validate', '--env', 'local', '--embedded-target', '--results-dir', results, ...extra], { ...BASE, WSGATE_ENGINE: 'k6', WSGATE_K6: k6, FAKE_K6_EXIT: String(k6Exit), ...env }, c.io);
    const call = JSON.parse(readFileSync(`${log}.json`, 'utf8')) as { args: string[]; env: Record<string, string>; probes?: Record<string, { status: number; body: string } | undefined> };
    assert.doesNotMatch(c.all(), STACK_FRAME);
    assert.ok(!c.all().includes(call.env['WSGATE_JWT_SECRET'] ?? '<none>'), 'the generated secret is never printed');
    return { code, out: c.out(), err: c.err(), call };
  }

  const table: [number, number, string][] = [
    [0, EXIT.PASS, 'PASS'],
    [99, EXIT.FAIL, 'FAIL'],
    [110, EXIT.FAIL, 'FAIL'],
    [107, EXIT.ERROR, 'ERROR'],
    [108, EXIT.ERROR, 'ERROR'],
    [104, EXIT.ERROR, 'ERROR'],
    [1, EXIT.ERROR, 'ERROR'],
    [105, EXIT.INTERRUPTED, 'INTERRUPTED'],
  ];
  for (const [k6Code, expected, word] of table) {
    test(`k6 ${k6Code} -> wsgate ${expected} (${word})`, async () => {
      const r = await validateWith(k6Code);
      assert.equal(r.code, expected, r.err);
      // k6's own output passes through to io, then wsgate's final line.
      assert.match(r.out, /^fake k6 summary\n/);
      assert.match(r.err, /fake k6 log line\n/);
      const last = r.out.trimEnd().split('\n').at(-1) ?? '';
      assert.match(last, new RegExp(`^wsgate: ${word} deployment-validation \\(env local\\)`));
      assert.match(last, /results: .*deployment-validation-local-\d{8}T\d{6}Z\.json, .*deployment-validation-local-\d{8}T\d{6}Z\.junit\.xml$/);
    });
  }

  test('what k6 is given: run + bundle path, configuration only in its environment', async () => {
    const ca = join(dir, 'ca.pem');
    writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    const out = join(dir, 'copies', 'result.json');
    const { code, call } = await validateWith(0, ['--ca-file', ca, '--output-file', out]);
    assert.equal(code, EXIT.PASS);
    assert.deepEqual(call.args.slice(0, -1), ['run', '--quiet'], 'not a terminal, so --quiet; never -e');
    assert.match(call.args.at(-1) ?? '', /\/dist\/deployment-validation\.js$/);
    const e = call.env;
    assert.equal(e['WSGATE_ENV'], 'local');
    assert.equal(e['WSGATE_RESULTS_DIR'], results);
    assert.ok(existsSync(results), 'the CLI creates the results directory (k6 does not)');
    assert.match(e['WSGATE_RUN_STAMP'] ?? '', /^\d{8}T\d{6}Z$/);
    assert.equal(e['WSGATE_OUTPUT_FILE'], out);
    assert.ok(existsSync(join(dir, 'copies')), "the --output-file's directory exists for k6");
    assert.equal(e['SSL_CERT_FILE'], ca);
    assert.equal(e['K6_NO_USAGE_REPORT'], 'true');
    assert.match(e['WSGATE_WS_URL'] ?? '', /^ws:\/\/127\.0\.0\.1:\d+\/ws$/);
    assert.match(e['WSGATE_HTTP_URL'] ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.match(e['WSGATE_AUTH_URL'] ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.ok((e['WSGATE_JWT_SECRET'] ?? '').length >= 32);
    assert.ok(!call.args.join(' ').includes(e['WSGATE_JWT_SECRET'] ?? '<none>'), 'the secret is not on the command line');
  });

  test('the --engine k6 flag picks k6 as WSGATE_ENGINE=k6 does; --engine wsgate wins over WSGATE_ENGINE=k6', async () => {
    rmSync(`${log}.json`, { force: true });
    const c = capture();
    const code = await main(['validate', '--embedded-target', '--engine', 'k6', '--results-dir', results], { ...BASE, WSGATE_K6: k6 }, c.io);
    assert.equal(code, EXIT.PASS, c.all());
    assert.ok(existsSync(`${log}.json`), 'the fake k6 ran');
    assert.match(c.err(), /wsgate: validating env local: .* on the k6 v2\.2\.0 \(.*\/k6\)\n/);
  });

  test('the embedded target answers while k6 runs, and is closed afterwards', async () => {
    // The fake k6 asks the service for its health while it runs (FAKE_K6_PROBE).
    const { call } = await validateWith(0, [], { FAKE_K6_PROBE: '1' });
    assert.equal(call.probes?.['health']?.status, 200, JSON.stringify(call.probes));
    assert.match(call.probes?.['health']?.body ?? '', /"status":"healthy"/);
    const health = `${call.env['WSGATE_HTTP_URL']}/health`;
    await assert.rejects(fetch(health), 'closed once k6 has exited');
  });

  test('--network-jitter: every URL leads through a jittering relay (WebSocket and HTTP share one, auth its own), the drop relay in front, all closed afterwards', async () => {
    const { code, err, call } = await validateWith(0, ['--network-jitter', '20'], { FAKE_K6_PROBE: '1' });
    assert.equal(code, EXIT.PASS, err);
    assert.match(err, /wsgate: validating env local: the embedded reference service through 20 ms of network jitter at ws:\/\/127\.0\.0\.1:\d+\/ws on the k6/);
    assert.equal(call.probes?.['health']?.status, 200, JSON.stringify(call.probes));
    assert.equal(call.probes?.['auth']?.status, 404, 'the auth service answers through its relay (no load balancer here)');
    const host = (name: string): string => new URL(call.env[name] ?? 'x:').host;
    assert.equal(host('WSGATE_WS_URL'), host('WSGATE_HTTP_URL'), 'one relay for the backend port');
    assert.notEqual(host('WSGATE_AUTH_URL'), host('WSGATE_HTTP_URL'), 'one relay for the auth port');
    assert.notEqual(host('WSGATE_DROP_RELAY_WS_URL'), host('WSGATE_WS_URL'), 'the drop relay is in front of the jitter relay');
    await assert.rejects(fetch(`${call.env['WSGATE_HTTP_URL']}/health`), 'closed once k6 has exited');
  });

  test('a relative --results-dir is resolved against the working directory', async () => {
    const { call } = await validateWith(0, ['--results-dir', 'rel-results-dir-test']);
    assert.equal(call.env['WSGATE_RESULTS_DIR'], join(process.cwd(), 'rel-results-dir-test'));
    const { rmSync } = await import('node:fs');
    rmSync(join(process.cwd(), 'rel-results-dir-test'), { recursive: true, force: true });
  });

  test('SIGINT reaches k6 exactly once; k6 105 -> wsgate 130', async () => {
    const c = capture();
    const listenersBefore = process.listenerCount('SIGINT');
    const running = main(['validate', '--embedded-target', '--results-dir', results], { ...BASE, WSGATE_ENGINE: 'k6', WSGATE_K6: k6, FAKE_K6_WAIT_SIGNAL: '1' }, c.io);
    for (let i = 0; i < 200 && !existsSync(`${log}.ready`); i++) await sleep(25);
    assert.ok(existsSync(`${log}.ready`), 'the fake k6 started');
    process.kill(process.pid, 'SIGINT'); // as a terminal's Ctrl-C reaches wsgate
    const code = await running;
    assert.equal(code, EXIT.INTERRUPTED);
    assert.deepEqual(JSON.parse(readFileSync(`${log}.signals`, 'utf8')), ['SIGINT']);
    assert.match(c.err(), /wsgate: SIGINT: asking the run to stop gracefully/);
    assert.match(c.out(), /wsgate: INTERRUPTED deployment-validation \(env local\): k6 was interrupted, so there is no verdict — partial results: /);
    assert.equal(process.listenerCount('SIGINT'), listenersBefore, 'the handler is removed afterwards');
  });
});
