/**
 * main() in-process with captured streams: every usage and configuration mistake is one sentence on
 * stderr with the right exit code, no stack trace and no secret; k6's exit codes map through the table
 * in cli/io.ts (checked with a fake k6 that exits as told); signals reach k6 exactly once.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { EXIT, main } from '../../cli/main.ts';
import { SECRET, STACK_FRAME, capture, closedPort, fakeK6Runner, fakeK6Version, tempDir } from './helpers.ts';

/** Just enough environment: no WSGATE_* from the developer's shell. */
const BASE: NodeJS.ProcessEnv = { PATH: process.env['PATH'], HOME: process.env['HOME'] };
const MINT = { ...BASE, WSGATE_JWT_SECRET: SECRET };

async function run(argv: string[], env: NodeJS.ProcessEnv) {
  const c = capture();
  const code = await main(argv, env, c.io);
  const all = c.all();
  assert.doesNotMatch(all, STACK_FRAME, 'no stack trace');
  assert.ok(!all.includes(SECRET), 'the secret never appears in the output');
  return { code, out: c.out(), err: c.err(), all };
}

/** Asserts exit code `code` and exactly one line on stderr, `wsgate: ` + something matching `sentence`. */
async function expectOneSentence(argv: string[], env: NodeJS.ProcessEnv, code: number, sentence: RegExp | string, also?: (all: string) => void): Promise<void> {
  const r = await run(argv, env);
  assert.equal(r.code, code, r.all);
  assert.equal(r.out, '');
  const lines = r.err.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line, got:\n${r.err}`);
  if (typeof sentence === 'string') assert.equal(lines[0], `wsgate: ${sentence}`);
  else assert.match(lines[0] ?? '', sentence);
  also?.(r.all);
}

describe('usage errors: exit 2, one sentence', { concurrency: true }, () => {
  test('unknown command', () =>
    expectOneSentence(['deploy'], BASE, EXIT.USAGE, 'unknown command "deploy"; the commands are validate, regression, pre, post, merge, multi-user, monitor, target, drop-relay, matrix, build, install-k6 and help'));

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

  test('unknown fault lists the valid ones', () =>
    expectOneSentence(
      ['validate', '--embedded-target', '--fault', 'slow_network'],
      BASE,
      EXIT.USAGE,
      'unknown fault "slow_network"; choose one of handshake_403, jwt_secret_desync, idle_timeout, isolation_leak, missing_agent_events, connection_leak, token_refresh_broken',
    ));

  test('install-k6 takes no options', () =>
    expectOneSentence(['install-k6', '--force'], BASE, EXIT.USAGE, 'unknown option --force for wsgate install-k6; run wsgate install-k6 --help for the options'));

  test('help for an unknown topic', () =>
    expectOneSentence(['help', 'deploy'], BASE, EXIT.USAGE, /^wsgate: there is no command "deploy"/));
});

describe('help: exit 0 on stdout', { concurrency: true }, () => {
  for (const argv of [['help'], ['--help'], ['-h'], ['validate', '--help'], ['validate', '-h'], ['help', 'validate'], ['build', '--help'], ['install-k6', '-h']]) {
    test(argv.join(' '), async () => {
      const r = await run(argv, BASE);
      assert.equal(r.code, EXIT.PASS);
      assert.match(r.out, /^Usage: wsgate /);
      assert.equal(r.err, '');
    });
  }

  test('target --help is the reference service CLI', async () => {
    const r = await run(['target', '--help'], BASE);
    assert.equal(r.code, 0);
    assert.match(r.out, /^Usage: wsgate target/);
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

describe('pre-flight: an unreachable target is exit 3 in one sentence, and k6 is never looked for', { concurrency: true }, () => {
  let health: Server;
  let healthUrl = '';
  before(async () => {
    health = createServer((_req, res) => res.end('{"status":"healthy"}'));
    await new Promise<void>((resolve) => health.listen(0, '127.0.0.1', resolve));
    const address = health.address();
    healthUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  after(() => new Promise<void>((resolve) => health.close(() => resolve())));
  // A WSGATE_K6 that would fail loudly if the CLI got as far as looking for k6.
  const NO_K6 = { WSGATE_K6: '/nonexistent/k6' };

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

  test('both reachable: the CLI goes on to look for k6 (and says it is missing, exit 4)', async () => {
    const r = await run(['validate', '--env', 'local'], { ...MINT, ...NO_K6, WSGATE_HTTP_URL: healthUrl, WSGATE_AUTH_URL: healthUrl });
    assert.equal(r.code, EXIT.ERROR);
    // A rebuild notice may come first when sources changed since the last build.
    assert.equal(r.err.trimEnd().split('\n').at(-1), 'wsgate: WSGATE_K6 points at /nonexistent/k6, which cannot be run (ENOENT); point it at a k6 v2.2.x binary or unset it');
  });
});

describe('install-k6', { concurrency: true }, () => {
  test('prints version, path and source', async () => {
    const k6 = fakeK6Version(join(tempDir(), 'k6'), 'v2.2.0');
    const r = await run(['install-k6'], { ...BASE, WSGATE_K6: k6 });
    assert.equal(r.code, EXIT.PASS);
    assert.equal(r.out, `k6 v2.2.0 at ${k6} (env)\n`);
  });

  test('a wrong version is exit 4', async () => {
    const k6 = fakeK6Version(join(tempDir(), 'k6'), 'v0.50.0');
    await expectOneSentence(['install-k6'], { ...BASE, WSGATE_K6: k6 }, EXIT.ERROR, /^wsgate: WSGATE_K6 points at k6 v0\.50\.0 /);
  });
});

describe('k6 exit codes map to wsgate exit codes (fake k6, embedded target)', () => {
  const dir = tempDir();
  const log = join(dir, 'k6-call');
  const k6 = fakeK6Runner(join(dir, 'k6'), log);
  const results = join(dir, 'results', 'nested');

  async function validateWith(k6Exit: number, extra: string[] = [], env: NodeJS.ProcessEnv = {}) {
    const c = capture();
    const code = await main(['validate', '--env', 'local', '--embedded-target', '--results-dir', results, ...extra], { ...BASE, WSGATE_K6: k6, FAKE_K6_EXIT: String(k6Exit), ...env }, c.io);
    const call = JSON.parse(readFileSync(`${log}.json`, 'utf8')) as { args: string[]; env: Record<string, string> };
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

  test('the embedded target answers while k6 runs, and is closed afterwards', async () => {
    const { call } = await validateWith(0);
    const health = `${call.env['WSGATE_HTTP_URL']}/health`;
    await assert.rejects(fetch(health), 'closed once k6 has exited');
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
    const running = main(['validate', '--embedded-target', '--results-dir', results], { ...BASE, WSGATE_K6: k6, FAKE_K6_WAIT_SIGNAL: '1' }, c.io);
    for (let i = 0; i < 200 && !existsSync(`${log}.ready`); i++) await sleep(25);
    assert.ok(existsSync(`${log}.ready`), 'the fake k6 started');
    process.kill(process.pid, 'SIGINT'); // as a terminal's Ctrl-C reaches wsgate
    const code = await running;
    assert.equal(code, EXIT.INTERRUPTED);
    assert.deepEqual(JSON.parse(readFileSync(`${log}.signals`, 'utf8')), ['SIGINT']);
    assert.match(c.err(), /wsgate: SIGINT: asking k6 to stop gracefully/);
    assert.match(c.out(), /wsgate: INTERRUPTED deployment-validation \(env local\): k6 was interrupted, so there is no verdict — partial results: /);
    assert.equal(process.listenerCount('SIGINT'), listenersBefore, 'the handler is removed afterwards');
  });
});
