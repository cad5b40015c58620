/**
 * End to end: the real CLI (`node bin/wsgate.mjs validate`) on the real bundle against the embedded
 * reference service, asserting wsgate's exit code and the result files. The runs go on wsgate's own
 * engine (or WSGATE_ENGINE's); the same healthy and faulty runs, the private-CA refusal and Ctrl-C go
 * once more with --engine k6 when WSGATE_K6 names a k6 v2.2 (skipped with one line otherwise).
 * The runs are independent (random ports, own results directory) and run two at a time: a validation
 * opens some 300 connections in a burst (its connection sample), and more of them at once on two
 * cores would measure the machine, not the service (ws_connecting p(95) is one of the thresholds).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test as nodeTest } from 'node:test';
import { EXIT } from '../../cli/main.ts';
import { k6Skip } from '../helpers/k6.ts';
import { DEFAULT_ENGINE, cleanEnv, lastLine, resultFiles, runCli, tempDir } from './helpers.ts';

const SUITE = 'deployment-validation';

interface Result {
  verdict: string;
  scenarios: { name: string; verdict: string }[];
}

const read = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as Result;

/** A private CA and a server certificate for 127.0.0.1 (an IP SAN: Go and Node ignore the CN). */
function makeTls(dir: string): void {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2',
    '-subj', '/CN=wsgate e2e test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign');
  ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'ext.cnf');
}

/** What each engine says when the service's certificate is signed by a CA it does not trust. */
const UNTRUSTED: Record<'wsgate' | 'k6', RegExp> = {
  wsgate: /UNABLE_TO_VERIFY_LEAF_SIGNATURE/,
  k6: /x509: certificate signed by unknown authority/,
};
const ENGINE_WORD: Record<'wsgate' | 'k6', string> = { wsgate: 'the engine', k6: 'k6' };

/**
 * The validate runs every engine must get right. `engine` is the engine the runs use; `flags` select
 * it on the command line (none: the default, WSGATE_ENGINE's or wsgate's own).
 */
function validateSuite(engine: 'wsgate' | 'k6', flags: string[], tls: string): void {
  const cli = (args: string[], onStderr?: Parameters<typeof runCli>[2]) => runCli(['validate', ...flags, ...args], cleanEnv(), onStderr);
  const label = engine === 'k6' ? /on the k6 v2\.2\.\d+ \(/ : /on the wsgate engine/;
  // A run takes seconds; a hung one fails its own test in two minutes, not the whole describe in ten.
  const test = (name: string, fn: () => Promise<void>) => nodeTest(name, { timeout: 120_000 }, fn);

  test('a healthy service passes: exit 0, JSON and JUnit written, verdict pass, --output-file copy', async () => {
    const dir = tempDir('wsgate-e2e-');
    const copy = join(dir, 'copy', 'result.json');
    const r = await cli(['--env', 'local', '--embedded-target', '--results-dir', join(dir, 'results'), '--output-file', copy]);
    assert.equal(r.code, EXIT.PASS, r.out + r.err);
    assert.match(r.err, label, 'the run names its engine');
    const files = resultFiles(join(dir, 'results'), SUITE, 'local');
    const result = read(files.json);
    assert.equal(result.verdict, 'pass');
    assert.ok(result.scenarios.length >= 6 && result.scenarios.every((s) => s.verdict === 'pass'), JSON.stringify(result.scenarios));
    assert.match(readFileSync(files.junit, 'utf8'), /<testsuites [^>]*failures="0"/);
    assert.deepEqual(read(copy), result, 'the --output-file copy is the same result');
    assert.equal(lastLine(r.out), `wsgate: PASS deployment-validation (env local) — results: ${files.json}, ${files.junit}`);
  });

  test('handshake_403: exit 1 and websocket_connection fails', async () => {
    const dir = tempDir('wsgate-e2e-');
    const r = await cli(['--env', 'local', '--embedded-target', '--fault', 'handshake_403', '--results-dir', dir]);
    assert.equal(r.code, EXIT.FAIL, r.out + r.err);
    const files = resultFiles(dir, SUITE, 'local');
    const result = read(files.json);
    assert.equal(result.verdict, 'fail');
    assert.equal(result.scenarios.find((s) => s.name === 'websocket_connection')?.verdict, 'fail');
    assert.match(readFileSync(files.junit, 'utf8'), /<failure/);
    assert.match(lastLine(r.out), /^wsgate: FAIL deployment-validation \(env local\) — results: /);
  });

  test('wss:// with a private CA trusted through --ca-file: exit 0', async () => {
    const dir = tempDir('wsgate-e2e-');
    const r = await cli([
      '--env', 'local', '--embedded-target', '--results-dir', dir,
      '--tls-cert', join(tls, 'server.pem'), '--tls-key', join(tls, 'server.key'), '--ca-file', join(tls, 'ca.pem'),
    ]);
    assert.equal(r.code, EXIT.PASS, r.out + r.err);
    assert.match(r.err, /the embedded reference service at wss:\/\/127\.0\.0\.1:\d+\/ws/);
    assert.equal(read(resultFiles(dir, SUITE, 'local').json).verdict, 'pass');
  });

  test('wss:// without --ca-file: the certificate is refused, setup aborts (108), exit 4 (no verdict)', async () => {
    // Why 4 and not 1: the bundle's setup() checks /health first; TLS refuses the unknown CA, so setup
    // aborts the test (108) and nothing about the service was judged. That is "no verdict".
    const dir = tempDir('wsgate-e2e-');
    const r = await cli(['--env', 'local', '--embedded-target', '--results-dir', dir, '--tls-cert', join(tls, 'server.pem'), '--tls-key', join(tls, 'server.key')]);
    assert.equal(r.code, EXIT.ERROR, r.out + r.err);
    assert.match(r.err, UNTRUSTED[engine]);
    assert.match(r.err, /test aborted/);
    assert.match(lastLine(r.out), new RegExp(`^wsgate: ERROR deployment-validation \\(env local\\): ${ENGINE_WORD[engine]} exited with code 108, the test aborted`));
  });

  test('SIGINT to wsgate mid-run: the engine stops gracefully, partial results, exit 130', async () => {
    const dir = tempDir('wsgate-e2e-');
    let sent = false;
    const r = await cli(['--env', 'local', '--embedded-target', '--results-dir', dir], (err, kill) => {
      if (!sent && err.includes('validating env local')) {
        sent = true;
        // Long enough for the engine to be past setup and inside the scenarios.
        setTimeout(() => kill('SIGINT'), 3000);
      }
    });
    assert.ok(sent);
    assert.equal(r.code, EXIT.INTERRUPTED, r.out + r.err);
    assert.match(r.err, /wsgate: SIGINT: asking (k6|the run) to stop gracefully/);
    resultFiles(dir, SUITE, 'local'); // a graceful stop still runs handleSummary
    assert.match(lastLine(r.out), new RegExp(`^wsgate: INTERRUPTED deployment-validation \\(env local\\): ${ENGINE_WORD[engine]} was interrupted, so there is no verdict — partial results: `));
  });
}

const tls = tempDir('wsgate-e2e-tls-');
before(() => makeTls(tls));

describe(`wsgate validate --embedded-target, end to end on the ${DEFAULT_ENGINE === 'k6' ? 'k6 WSGATE_ENGINE names' : 'wsgate engine'}`, { concurrency: 2, timeout: 10 * 60_000 }, () => {
  validateSuite(DEFAULT_ENGINE, [], tls);
});

describe('wsgate validate --engine k6, end to end with the k6 at WSGATE_K6', { concurrency: 2, timeout: 10 * 60_000, skip: k6Skip() }, () => {
  validateSuite('k6', ['--engine', 'k6'], tls);
});
