/**
 * Helpers for the CLI tests: captured streams, temporary directories, fake k6 programs (for the CLI's
 * --engine k6 plumbing: what it starts, with which arguments and environment, and how it reads the
 * exit), and ports that are certainly closed. Fakes are small Node scripts with this Node's absolute
 * path in the shebang, so they run even with PATH stripped.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { after } from 'node:test';
import type { Io } from '../../cli/io.ts';

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

export const STACK_FRAME = /\n\s+at /;

// ---- end to end: the real CLI in a process of its own --------------------------------------------

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = join(REPO, 'bin', 'wsgate.mjs');

/**
 * The caller's environment without wsgate configuration, except which engine runs the suites
 * (WSGATE_ENGINE: unset means wsgate's own) and which k6 --engine k6 uses (WSGATE_K6), plus `keep`.
 */
export function cleanEnv(keep: readonly string[] = [], extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('WSGATE_') || k === 'WSGATE_K6' || k === 'WSGATE_ENGINE' || keep.includes(k)) env[k] = v;
  }
  return { ...env, ...extra };
}

/** The engine the e2e tests' default runs use: WSGATE_ENGINE's, else wsgate's own. */
export const DEFAULT_ENGINE: 'wsgate' | 'k6' = process.env['WSGATE_ENGINE'] === 'k6' ? 'k6' : 'wsgate';

export interface CliRun {
  code: number | null;
  out: string;
  err: string;
}

/**
 * `node bin/wsgate.mjs ARGS` from the checkout; `onStderr` sees stderr as it grows, with a way to
 * signal the process. Asserts no stack trace was printed.
 */
export function runCli(args: string[], env: NodeJS.ProcessEnv = cleanEnv(), onStderr?: (text: string, kill: (s: NodeJS.Signals) => void) => void): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    // A run that outlives its test (timed out, cancelled) is killed with everything it started (the
    // engine, k6) when the test file ends.
    const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    child.once('exit', () => running.delete(child));
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
      onStderr?.(err, (s) => child.kill(s));
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (STACK_FRAME.test(out + err)) reject(new Error(`a stack trace was printed:\n${out}\n${err}`));
      else resolve({ code, out, err });
    });
  });
}

export const lastLine = (text: string): string => text.trimEnd().split('\n').at(-1) ?? '';

/**
 * CLI processes still running. Any left when the file's tests are done (a test timed out or was
 * cancelled while its run hung) are killed with all their descendants, or their open pipes would keep
 * the test process alive.
 */
const running = new Set<ReturnType<typeof spawn>>();
after(() => {
  for (const child of running) if (child.pid) killTree(child.pid);
});

/** SIGKILL to `root` and every process under it (the engine and k6 run in process groups of their own). */
function killTree(root: number): void {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
    } catch {
      // gone meanwhile
    }
  }
  const all: number[] = [];
  const walk = (pid: number): void => {
    all.push(pid);
    for (const c of children.get(pid) ?? []) walk(c);
  };
  walk(root);
  for (const pid of all) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
