/**
 * End to end: the real CLI (`node bin/wsgate.mjs validate`), the real k6 v2.2 on the real bundle,
 * against the embedded reference service, asserting wsgate's exit code and the result files.
 *
 * k6 is resolved the way the CLI resolves it (WSGATE_K6, cache, PATH, else one build with Go) in a
 * `before` hook, so a cold machine pays the build once, here, and not inside a timed run. The runs are
 * independent (random ports, own results directory) and run concurrently.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, describe, test } from 'node:test';
import { ensureK6 } from '../../cli/k6-runtime.ts';
import { EXIT } from '../../cli/main.ts';
import { STACK_FRAME, tempDir } from './helpers.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(REPO, 'bin', 'wsgate.mjs');

/** The caller's environment without wsgate configuration, except where to find k6. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('WSGATE_') || k === 'WSGATE_K6' || k === 'WSGATE_K6_CACHE') env[k] = v;
  }
  return env;
}

interface CliRun {
  code: number | null;
  out: string;
  err: string;
}

function cli(args: string[], onStderr?: (text: string, kill: (s: NodeJS.Signals) => void) => void): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
      onStderr?.(err, (s) => child.kill(s));
    });
    child.on('error', reject);
    child.on('close', (code) => {
      assert.doesNotMatch(out + err, STACK_FRAME, 'no stack trace');
      resolve({ code, out, err });
    });
  });
}

function resultFiles(dir: string): { json: string; junit: string } {
  const files = existsSync(dir) ? readdirSync(dir) : [];
  const json = files.find((f) => /^deployment-validation-local-\d{8}T\d{6}Z\.json$/.test(f));
  const junit = files.find((f) => /^deployment-validation-local-\d{8}T\d{6}Z\.junit\.xml$/.test(f));
  assert.ok(json && junit, `both result files in ${dir}: ${files.join(', ')}`);
  return { json: join(dir, json), junit: join(dir, junit) };
}

interface Result {
  verdict: string;
  scenarios: { name: string; verdict: string }[];
}

const read = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as Result;

function lastLine(text: string): string {
  return text.trimEnd().split('\n').at(-1) ?? '';
}

describe('wsgate validate --embedded-target, end to end with the real k6', { concurrency: true, timeout: 20 * 60_000 }, () => {
  const tls = tempDir('wsgate-e2e-tls-');
  before(
    async () => {
      const k6 = await ensureK6({ env: process.env, log: (l) => process.stderr.write(`wsgate (test setup): ${l}\n`) });
      process.stderr.write(`e2e uses k6 ${k6.version} (${k6.source}) at ${k6.path}\n`);
      // A private CA and a server certificate for 127.0.0.1 (an IP SAN: Go ignores the CN).
      const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: tls, stdio: 'pipe' });
      ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2',
        '-subj', '/CN=wsgate e2e test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign');
      ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
      writeFileSync(join(tls, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
      ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'ext.cnf');
    },
    { timeout: 20 * 60_000 },
  );

  test('a healthy service passes: exit 0, JSON and JUnit written, verdict pass, --output-file copy', async () => {
    const dir = tempDir('wsgate-e2e-');
    const copy = join(dir, 'copy', 'result.json');
    const r = await cli(['validate', '--env', 'local', '--embedded-target', '--results-dir', join(dir, 'results'), '--output-file', copy]);
    assert.equal(r.code, EXIT.PASS, r.out + r.err);
    const files = resultFiles(join(dir, 'results'));
    const result = read(files.json);
    assert.equal(result.verdict, 'pass');
    assert.ok(result.scenarios.length >= 6 && result.scenarios.every((s) => s.verdict === 'pass'), JSON.stringify(result.scenarios));
    assert.match(readFileSync(files.junit, 'utf8'), /<testsuites [^>]*failures="0"/);
    assert.deepEqual(read(copy), result, 'the --output-file copy is the same result');
    assert.equal(lastLine(r.out), `wsgate: PASS deployment-validation (env local) — results: ${files.json}, ${files.junit}`);
  });

  test('handshake_403: exit 1 and websocket_connection fails', async () => {
    const dir = tempDir('wsgate-e2e-');
    const r = await cli(['validate', '--env', 'local', '--embedded-target', '--fault', 'handshake_403', '--results-dir', dir]);
    assert.equal(r.code, EXIT.FAIL, r.out + r.err);
    const files = resultFiles(dir);
    const result = read(files.json);
    assert.equal(result.verdict, 'fail');
    assert.equal(result.scenarios.find((s) => s.name === 'websocket_connection')?.verdict, 'fail');
    assert.match(readFileSync(files.junit, 'utf8'), /<failure/);
    assert.match(lastLine(r.out), /^wsgate: FAIL deployment-validation \(env local\) — results: /);
  });

  test('wss:// with a private CA trusted through --ca-file: exit 0', async () => {
    const dir = tempDir('wsgate-e2e-');
    const r = await cli([
      'validate', '--env', 'local', '--embedded-target', '--results-dir', dir,
      '--tls-cert', join(tls, 'server.pem'), '--tls-key', join(tls, 'server.key'), '--ca-file', join(tls, 'ca.pem'),
    ]);
    assert.equal(r.code, EXIT.PASS, r.out + r.err);
    assert.match(r.err, /the embedded reference service at wss:\/\/127\.0\.0\.1:\d+\/ws/);
    assert.equal(read(resultFiles(dir).json).verdict, 'pass');
  });

  test('wss:// without --ca-file: k6 cannot verify the certificate, setup aborts (108), exit 4 (no verdict)', async () => {
    // Why 4 and not 1: the bundle's setup() checks /health first; Go's TLS refuses the unknown CA, so
    // setup aborts the test (k6 108) and nothing about the service was judged. That is "no verdict".
    const dir = tempDir('wsgate-e2e-');
    const r = await cli(['validate', '--env', 'local', '--embedded-target', '--results-dir', dir, '--tls-cert', join(tls, 'server.pem'), '--tls-key', join(tls, 'server.key')]);
    assert.equal(r.code, EXIT.ERROR, r.out + r.err);
    assert.match(r.err, /x509: certificate signed by unknown authority/);
    assert.match(r.err, /test aborted/);
    assert.match(lastLine(r.out), /^wsgate: ERROR deployment-validation \(env local\): k6 exited with code 108, the test aborted/);
  });

  test('SIGINT to wsgate mid-run: k6 stops gracefully, partial results, exit 130', async () => {
    const dir = tempDir('wsgate-e2e-');
    let sent = false;
    const r = await cli(['validate', '--env', 'local', '--embedded-target', '--results-dir', dir], (err, kill) => {
      if (!sent && err.includes('validating env local')) {
        sent = true;
        // Long enough for k6 to be past setup and inside the scenarios.
        setTimeout(() => kill('SIGINT'), 3000);
      }
    });
    assert.ok(sent);
    assert.equal(r.code, EXIT.INTERRUPTED, r.out + r.err);
    assert.match(r.err, /wsgate: SIGINT: asking k6 to stop gracefully/);
    resultFiles(dir); // k6's graceful stop still runs handleSummary
    assert.match(lastLine(r.out), /^wsgate: INTERRUPTED deployment-validation \(env local\): k6 was interrupted, so there is no verdict — partial results: /);
  });
});
