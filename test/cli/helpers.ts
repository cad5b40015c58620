/**
 * Helpers for the CLI tests: captured streams, temporary directories, fake k6 programs (for the CLI's
 * --engine k6 plumbing: what it starts, with which arguments and environment, and how it reads the
 * exit), and ports that are certainly closed. Fakes are small Node scripts with this Node's absolute
 * path in the shebang, so they run even with PATH stripped.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after } from 'node:test';
import type { Io } from '../../cli/io.ts';
import { STACK_FRAME } from '../helpers/wsgate-process.ts';

export interface Captured {
  io: Io;
  out: () => string;
  err: () => string;
  /** stdout and stderr together, for "never printed" assertions. */
  all: () => string;
}

export function capture(): Captured {
  let out = '';
  let err = '';
  const sink = (append: (s: string) => void) =>
    new Writable({
      write(chunk: Buffer | string, _enc, done) {
        append(chunk.toString());
        done();
      },
    });
  return {
    io: { stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)) },
    out: () => out,
    err: () => err,
    all: () => out + err,
  };
}

/** A fresh directory, removed when the test file ends. */
export function tempDir(prefix = 'wsgate-cli-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes an executable file. */
export function writeExecutable(path: string, text: string): string {
  writeFileSync(path, text);
  chmodSync(path, 0o755);
  return path;
}

/** A Node script usable as a program: `#!<this node>` plus `body` (CommonJS). */
export function nodeScript(path: string, body: string): string {
  return writeExecutable(path, `#!${process.execPath}\n${body}\n`);
}

/** A k6 stand-in that only answers `version`. */
export function fakeK6Version(path: string, version: string): string {
  return writeExecutable(path, `#!/bin/sh\necho "k6 ${version} (go1.26.0, linux/amd64)"\n`);
}

/**
 * A k6 stand-in for `k6 run`, for tests that run the CLI with WSGATE_ENGINE=k6 and WSGATE_K6 pointing
 * here: records its arguments and environment in `<log>.json`, writes the two
 * result files the real bundle writes (named after the bundle, e.g. regression-prevention-local-...;
 * the JSON is FAKE_K6_RESULT when set), prints a line, and exits with FAKE_K6_EXIT. With
 * FAKE_K6_PROBE=1 it first GETs what it was pointed at and records each answer under `probes`:
 * `lb` ($WSGATE_HTTP_URL/__wsgate/lb, which only nginx answers), `health`, `auth` ($WSGATE_AUTH_URL/
 * __wsgate/lb) and `relay` ($WSGATE_DROP_RELAY_CONTROL_URL/stats). With FAKE_K6_WAIT_SIGNAL=1 it
 * writes `<log>.ready`, counts SIGINT/SIGTERM it receives, and exits 105 shortly after the first,
 * like k6's graceful stop.
 */
export function fakeK6Runner(path: string, log: string): string {
  return nodeScript(
    path,
    `const fs = require('fs');
const pathMod = require('path');
const args = process.argv.slice(2);
if (args[0] === 'version') { console.log('k6 v2.2.0 (go1.26.0, linux/amd64)'); process.exit(0); }
const e = process.env;
async function get(url) {
  try { const r = await fetch(url); return { status: r.status, lb: r.headers.get('x-wsgate-lb'), body: await r.text() }; }
  catch (err) { return { error: String(err.cause && err.cause.code || err) }; }
}
(async () => {
  const probes = {};
  if (e.FAKE_K6_PROBE) {
    probes.lb = await get(e.WSGATE_HTTP_URL + '/__wsgate/lb');
    probes.health = await get(e.WSGATE_HTTP_URL + '/health');
    probes.auth = await get(e.WSGATE_AUTH_URL + '/__wsgate/lb');
    if (e.WSGATE_DROP_RELAY_CONTROL_URL) probes.relay = await get(e.WSGATE_DROP_RELAY_CONTROL_URL + '/stats');
  }
  fs.writeFileSync(${JSON.stringify(log + '.json')}, JSON.stringify({ args, env: e, probes }));
  const suite = pathMod.basename(args[args.length - 1], '.js');
  const base = e.WSGATE_RESULTS_DIR + '/' + suite + '-' + e.WSGATE_ENV + '-' + e.WSGATE_RUN_STAMP;
  fs.writeFileSync(base + '.json', e.FAKE_K6_RESULT || JSON.stringify({ verdict: 'fake' }));
  fs.writeFileSync(base + '.junit.xml', '<testsuites/>');
  console.log('fake k6 summary');
  console.error('fake k6 log line');
  if (e.FAKE_K6_WAIT_SIGNAL) {
    const signals = [];
    const on = (s) => { signals.push(s); fs.writeFileSync(${JSON.stringify(log + '.signals')}, JSON.stringify(signals));
      if (signals.length === 1) setTimeout(() => process.exit(105), 300); };
    process.on('SIGINT', on); process.on('SIGTERM', on);
    fs.writeFileSync(${JSON.stringify(log + '.ready')}, '');
    setInterval(() => {}, 1000);
  } else {
    process.exit(Number(e.FAKE_K6_EXIT || 0));
  }
})();`,
  );
}

/** A TCP port on 127.0.0.1 that nothing listens on (bound, read, released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return address.port;
}

/** A distinctive secret: any test output containing it is a leak. */
export const SECRET = 'TOPSECRET-wsgate-test-0123456789abcdefghijklmnop';

/**
 * `main(argv, env)` in-process with captured streams; asserts that no stack trace and no {@link SECRET}
 * was printed.
 */
export async function runMain(argv: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string; err: string; all: string }> {
  // Imported here: most files that use these helpers have their own reason to load the CLI, or none.
  const { main } = await import('../../cli/main.ts');
  const c = capture();
  const code = await main(argv, env, c.io);
  const all = c.all();
  assert.doesNotMatch(all, STACK_FRAME, 'no stack trace');
  assert.ok(!all.includes(SECRET), 'the secret never appears in the output');
  return { code, out: c.out(), err: c.err(), all };
}

// ---- end to end: the real CLI in a process of its own (test/helpers/wsgate-process.ts) -------------

export { BIN, DEFAULT_ENGINE, REPO, STACK_FRAME, cleanEnv, lastLine, runCli } from '../helpers/wsgate-process.ts';
export type { CliRun } from '../helpers/wsgate-process.ts';

/**
 * The two result files a suite run writes in `dir`, `<suite>-<env>-<UTC stamp>.json` and `.junit.xml`
 * (their names are a contract); asserts both are there.
 */
export function resultFiles(dir: string, suite: string, env: string): { json: string; junit: string } {
  const files = existsSync(dir) ? readdirSync(dir) : [];
  const named = (ext: string) => files.find((f) => new RegExp(`^${suite}-${env}-\\d{8}T\\d{6}Z\\.${ext}$`).test(f));
  const json = named('json');
  const junit = named('junit\\.xml');
  assert.ok(json && junit, `both result files in ${dir}: ${files.join(', ')}`);
  return { json: join(dir, json), junit: join(dir, junit) };
}
