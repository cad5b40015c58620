import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ALL_FAULT_NAMES } from '../../reference-service/faults.ts';
import { runTargetCli } from '../../reference-service/main.ts';
import { within } from './helpers.ts';

const SECRET_ENV = { WSGATE_AUTH_SECRET: 'cli-secret-0123456789abcdef-0123456789' };
const MAIN = fileURLToPath(new URL('../../reference-service/main.ts', import.meta.url));
const REPO = fileURLToPath(new URL('../..', import.meta.url));

/** Runs the CLI in-process and returns its exit code and what it wrote. */
async function runCli(argv: string[], env: NodeJS.ProcessEnv = SECRET_ENV): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const stop = new AbortController();
  stop.abort(); // a successful start shuts down at once
  const code = await runTargetCli(argv, env, {
    stdout: (text) => (stdout += text),
    stderr: (text) => (stderr += text),
    stop: stop.signal,
  });
  return { code, stdout, stderr };
}

/** Spawns `node --import tsx` running the CLI, as a user would. */
function spawnCli(argv: string[], env: NodeJS.ProcessEnv) {
  const code = `import(${JSON.stringify(MAIN)}).then((m) => m.runTargetCli(process.argv.slice(1), process.env)).then((c) => process.exit(c))`;
  return spawn(process.execPath, ['--import', 'tsx', '-e', code, '--', ...argv], {
    cwd: REPO,
    env: { PATH: process.env['PATH'], ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

describe('runTargetCli: bad input is one sentence on stderr and exit code 2', { concurrency: true }, () => {
  const cases: [string, string[], NodeJS.ProcessEnv, string][] = [
    ['unknown flag', ['--colour', 'red'], SECRET_ENV, 'wsgate reference: unknown option "--colour"; run wsgate reference --help to see the valid options.'],
    [
      'unknown fault',
      ['--fault', 'isolation_leak', '--fault', 'foo'],
      SECRET_ENV,
      `wsgate reference: unknown fault "foo"; valid faults are ${ALL_FAULT_NAMES.join(', ')}.`,
    ],
    ['non-numeric port', ['--port', 'eighty'], SECRET_ENV, 'wsgate reference: --port is "eighty"; it must be a port number from 0 to 65535.'],
    ['port out of range', ['--auth-port', '70000'], SECRET_ENV, 'wsgate reference: --auth-port is "70000"; it must be a port number from 0 to 65535.'],
    ['bad idle timeout', ['--idle-timeout-s', '0'], SECRET_ENV, 'wsgate reference: --idle-timeout-s is "0"; it must be a number of seconds greater than 0, e.g. 3 or 0.5.'],
    ['missing value', ['--token-ttl'], SECRET_ENV, 'wsgate reference: option --token-ttl needs a value; write it as --token-ttl VALUE or --token-ttl=VALUE (see --help).'],
    ['value that looks like a flag', ['--port', '-1'], SECRET_ENV, 'wsgate reference: option --port needs a value; write it as --port VALUE or --port=VALUE (see --help).'],
    ['positional argument', ['serve'], SECRET_ENV, 'wsgate reference: unexpected argument "serve"; wsgate reference takes only options (see --help).'],
    [
      'short auth secret',
      [],
      { WSGATE_AUTH_SECRET: 'short-secret' },
      'wsgate reference: WSGATE_AUTH_SECRET is 12 bytes long; set it to at least 32 bytes, e.g. WSGATE_AUTH_SECRET=$(openssl rand -hex 32).',
    ],
    [
      'short backend secret',
      [],
      { ...SECRET_ENV, WSGATE_BACKEND_SECRET: 'tiny' },
      'wsgate reference: WSGATE_BACKEND_SECRET is 4 bytes long; set it to at least 32 bytes, e.g. WSGATE_BACKEND_SECRET=$(openssl rand -hex 32).',
    ],
    [
      'unreadable cert',
      ['--tls-cert', '/nonexistent/cert.pem', '--tls-key', '/nonexistent/key.pem'],
      SECRET_ENV,
      'wsgate reference: cannot read the --tls-cert file "/nonexistent/cert.pem" (ENOENT); pass the path of a readable PEM file.',
    ],
    ['cert without key', ['--tls-cert', '/x.pem'], SECRET_ENV, 'wsgate reference: --tls-cert was given alone; pass both --tls-cert and --tls-key, or neither.'],
  ];
  for (const [name, argv, env, sentence] of cases) {
    test(name, async () => {
      const result = await runCli(argv, env);
      assert.equal(result.code, 2);
      assert.equal(result.stdout, '');
      assert.equal(result.stderr, `${sentence}\n`);
    });
  }

  test('a short secret is reported by length, never by value', async () => {
    const result = await runCli([], { WSGATE_AUTH_SECRET: 'hunter2-hunter2' });
    assert.equal(result.code, 2);
    assert.ok(!result.stderr.includes('hunter2'));
  });
});

test('--help prints the usage and exits 0', async () => {
  const result = await runCli(['--help']);
  assert.equal(result.code, 0);
  assert.match(result.stdout, /^Usage: wsgate reference \[options\]/);
  assert.equal(result.stderr, '');
});

test('the spawned CLI prints one ready line, serves, and exits 0 on SIGTERM', async () => {
  const child = spawnCli(['--fault', 'connection_leak', '--token-ttl', '60', '--step-delay-ms', '1'], SECRET_ENV);
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const lines = createInterface({ input: child.stdout });
  const stdoutLines: string[] = [];
  const firstLine = new Promise<string>((resolve) => lines.once('line', resolve));
  lines.on('line', (line) => stdoutLines.push(line));
  const ready = JSON.parse(await within(firstLine, 10_000, 'the ready line')) as Record<string, unknown>;
  assert.deepEqual(Object.keys(ready), ['event', 'auth_url', 'http_url', 'ws_url', 'health_url', 'faults']);
  assert.equal(ready['event'], 'ready');
  assert.deepEqual(ready['faults'], ['connection_leak']);
  assert.match(String(ready['ws_url']), /^ws:\/\/127\.0\.0\.1:\d+\/ws$/);
  assert.equal(ready['health_url'], `${String(ready['http_url'])}/health`);
  const health = await fetch(String(ready['health_url']));
  assert.equal(health.status, 200);
  const token = await fetch(`${String(ready['auth_url'])}/auth/token`, { method: 'POST', body: JSON.stringify({ user_id: 'u1' }) });
  assert.equal(((await token.json()) as Record<string, unknown>)['expires_in'], 60);
  child.kill('SIGTERM');
  assert.equal(await within(exited, 5000, 'the process to exit'), 0);
  assert.equal(stdoutLines.length, 1);
  assert.equal(stderr, '');
});

test('the spawned CLI with bad input writes one line, no stack trace, and exits 2', async () => {
  const child = spawnCli(['--fault', 'nope'], {});
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const code = await within(new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c))), 10_000, 'the process to exit');
  assert.equal(code, 2);
  assert.equal(stdout, '');
  assert.equal(stderr.split('\n').length, 2, stderr);
  assert.match(stderr, /^wsgate reference: unknown fault "nope"; valid faults are /);
  assert.doesNotMatch(stderr, /\n\s+at /);
});

test('with no secret in the environment a random one is generated and never printed', async () => {
  const result = await runCli([], {});
  assert.equal(result.code, 0);
  const ready = JSON.parse(result.stdout) as Record<string, unknown>;
  assert.equal(ready['event'], 'ready');
  assert.deepEqual(ready['faults'], []);
  assert.equal(result.stderr, '');
  assert.doesNotMatch(result.stdout, /secret/i);
});

describe('runTargetCli: a service that cannot start is one sentence and exit code 4 ("could not run")', () => {
  test('the backend port is taken', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const address = taken.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    try {
      const result = await runCli(['--port', String(port)]);
      assert.equal(result.code, 4);
      assert.equal(result.stdout, '');
      assert.equal(result.stderr, `wsgate reference: the backend port 127.0.0.1:${port} is already in use; choose another port or free this one.\n`);
    } finally {
      await new Promise<void>((resolve) => taken.close(() => resolve()));
    }
  });

  test('nginx exits at startup', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wsgate-target-cli-'));
    try {
      const fake = join(dir, 'nginx');
      writeFileSync(fake, '#!/bin/sh\nif [ "$1" = "-V" ]; then echo "nginx version: nginx/1.22.1" >&2; exit 0; fi\necho "nginx: [emerg] boom" >&2\nexit 1\n');
      chmodSync(fake, 0o755);
      const result = await runCli(['--nginx', 'healthy'], { ...SECRET_ENV, WSGATE_NGINX: fake });
      assert.equal(result.code, 4);
      assert.equal(result.stdout, '');
      assert.match(result.stderr, /^wsgate reference: nginx \(.*, config healthy\) exited with code 1 before it answered; last lines of its error log: nginx: \[emerg\] boom\n$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('the auth service refuses to listen beyond loopback without a password (it issues a token for any user)', async () => {
  const { normalizeOptions } = await import('../../reference-service/config.ts');
  const base = { authSecret: 'x'.repeat(40), backendSecret: 'x'.repeat(40) };
  assert.throws(() => normalizeOptions({ ...base, host: '0.0.0.0' }), /^TargetConfigError: host 0\.0\.0\.0 would let anyone who reaches it ask the auth service for any user's token; set WSGATE_AUTH_PASSWORD, or bind a loopback address such as 127\.0\.0\.1\.$/);
  assert.equal(normalizeOptions({ ...base, host: '0.0.0.0', authPassword: 'pw' }).host, '0.0.0.0');
  assert.equal(normalizeOptions({ ...base, host: '127.0.0.2' }).host, '127.0.0.2');
  assert.equal(normalizeOptions({ ...base, host: '::1' }).host, '::1');
});
