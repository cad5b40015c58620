/**
 * What the tests of deploy/ share: the manifests parsed, the reference service configured like the
 * staging preset on loopback, the environment that points the staging preset at it, and commands run
 * the way a pod, a CI runner or Flagger's load tester runs them, with `wsgate` (and `npx wsgate`)
 * resolving to this checkout's bin/wsgate.mjs, as in the image (deploy/Dockerfile) and after `npm ci`.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { build, isStale } from '../../build.mjs';
import { startTarget } from '../../reference-service/service.ts';
import type { FaultName, RunningTarget } from '../../reference-service/service.ts';
import { writeExecutable } from '../cli/helpers.ts';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));

/** Builds dist/ once, up front, when a source changed: the wsgate processes the tests start at once would each rebuild it, racing. */
export async function buildIfStale(): Promise<void> {
  if (isStale()) await build();
}

export type Obj = Record<string, unknown>;

// Registered when the file loads, so it runs when all of the file's tests are done, whichever hook or
// test made the directories (test/cli/helpers.ts's tempDir registers its clean-up where it is called).
const ROOT = mkdtempSync(join(tmpdir(), 'wsgate-deploy-'));
after(() => rmSync(ROOT, { recursive: true, force: true }));

/** A fresh directory, removed when the test file is done. */
export function scratch(prefix: string): string {
  return mkdtempSync(join(ROOT, prefix));
}

/** The documents of a manifest (a path inside the checkout), each parsed without error. */
export function manifest(path: string): Obj[] {
  return parseAllDocuments(readFileSync(join(REPO, path), 'utf8')).map((d, i) => {
    assert.deepEqual(d.errors, [], `${path} document ${i + 1} parses`);
    return d.toJS() as Obj;
  });
}

/** The value at `path` inside parsed YAML, or undefined. */
export function at(o: unknown, ...path: (string | number)[]): unknown {
  let cur = o;
  for (const p of path) cur = (cur as Record<string | number, unknown> | undefined)?.[p];
  return cur;
}

/** What Kubernetes does to $(VAR) in args, env values and subPathExpr: expands the variables the container has. */
export function expand(text: string, vars: Record<string, string>): string {
  return text.replace(/\$\(([A-Z_][A-Z0-9_]*)\)/g, (whole, name: string) => vars[name] ?? whole);
}

/** `text` with each absolute mount path (a key of `mounts`, such as /results) replaced by the directory standing in for it. */
export function remount(text: string, mounts: Record<string, string>): string {
  let out = text;
  for (const [mountPath, dir] of Object.entries(mounts)) out = out.replace(new RegExp(`(^|[\\s=:'"])${mountPath}(?=/|$|[\\s'"])`, 'g'), `$1${dir}`);
  return out;
}

// ---- the service under test ----------------------------------------------------------------------

const SECRET = 'deploy-test-secret-0123456789abcdef-0123';
const PASSWORD = 'deploy-test-user-password';
const STAGING = (JSON.parse(readFileSync(join(REPO, 'config', 'environments.json'), 'utf8')) as Record<string, Record<string, string>>)['staging'] ?? {};

/** The wsgate-secrets Secret (and the workflow's secrets): the test user's password and the shared JWT secret. */
export const SECRETS: Readonly<Record<string, string>> = { WSGATE_AUTH_PASSWORD: PASSWORD, WSGATE_JWT_SECRET: SECRET };

/**
 * The reference service configured like staging (its issuer, audience and origin, tokens from the
 * auth service with the test user's password) on loopback, with `faults`: the deployment under test.
 * Its heartbeat is 1.5 s / 2 s instead of 3.5 s / 5 s, so the leak test's reaping wait is short.
 */
export function startStaging(faults: readonly FaultName[] = []): Promise<RunningTarget> {
  return startTarget({
    host: '127.0.0.1',
    authSecret: SECRET,
    backendSecret: SECRET,
    issuer: STAGING['issuer'],
    audience: STAGING['audience'],
    allowedOrigins: [STAGING['origin'] ?? ''],
    authPassword: PASSWORD,
    heartbeatIntervalS: 1.5,
    heartbeatTimeoutS: 2,
    faults,
  });
}

/**
 * The environment variables that point the staging preset at `target` (wsgate's documented overrides,
 * which a team sets to try the gate on a small environment): its URLs, and local's short waits
 * instead of staging's minutes (idle hold, agent deadline, leak settle, reaping, token lifetime), so a
 * pre or post run takes about 14 s instead of 4 minutes. Sizes, detection floor, evidence policy,
 * thresholds and issuer stay staging's. The rollback policy is the shipped one with two changes the
 * runs need: the latency tolerance widened (runs here share two CPUs with each other, so a p(95) may
 * rise by a second without the service changing), and a revenue figure for staging, so the report's
 * business impact is computed.
 */
export function pointedAt(target: RunningTarget, policy: string): Record<string, string> {
  return {
    WSGATE_WS_URL: target.wsUrl,
    WSGATE_HTTP_URL: target.httpUrl,
    WSGATE_AUTH_URL: target.authUrl,
    WSGATE_IDLE_HOLD_S: '1',
    WSGATE_AGENT_DEADLINE_MS: '5000',
    WSGATE_AGENT_SETTLE_MS: '300',
    WSGATE_LEAK_SETTLE_MS: '1000',
    WSGATE_HEARTBEAT_TIMEOUT_MS: '2000',
    WSGATE_REAP_MARGIN_MS: '1000',
    WSGATE_REFRESH_TTL_S: '2',
    WSGATE_ROLLBACK_POLICY: policy,
  };
}

/** Writes the rollback policy {@link pointedAt} describes into `dir`; returns its path. */
export function testPolicy(dir: string): string {
  const doc = JSON.parse(readFileSync(join(REPO, 'thresholds', 'rollback-policy.json'), 'utf8')) as { baseline: Obj; environments: Record<string, Obj> };
  doc.baseline['event_latency_min_increase_ms'] = 2000;
  doc.environments['staging'] = { ...doc.environments['staging'], monthly_revenue: 10000 };
  const path = join(dir, 'rollback-policy.json');
  writeFileSync(path, JSON.stringify(doc));
  return path;
}

// ---- running commands ----------------------------------------------------------------------------

/** A directory with `wsgate` and `npx` (which runs `npx wsgate ...` only) resolving to this checkout. */
export function shimDir(): string {
  const bin = join(scratch('bin-'), 'bin');
  mkdirSync(bin);
  const wsgate = `"${process.execPath}" "${join(REPO, 'bin', 'wsgate.mjs')}"`;
  writeExecutable(join(bin, 'wsgate'), `#!/bin/sh\nexec ${wsgate} "$@"\n`);
  writeExecutable(join(bin, 'npx'), `#!/bin/sh\n[ "$1" = wsgate ] || { echo "npx: only wsgate is provided here, not $1" >&2; exit 127; }\nshift\nexec ${wsgate} "$@"\n`);
  return bin;
}

/** A process's environment: PATH (the shims first) and HOME, then `vars`. Nothing else of the caller's. */
export function processEnv(shims: string, vars: Record<string, string | undefined>): NodeJS.ProcessEnv {
  return { PATH: `${shims}:${process.env['PATH'] ?? ''}`, HOME: process.env['HOME'], ...vars };
}

export interface Ran {
  code: number | null;
  out: string;
}

/**
 * Runs a program to its end (asynchronously: the services under test live in this process), in a
 * process group of its own that is killed after `timeoutMs`; stdout and stderr together.
 */
export function runProgram(command: string, args: readonly string[], options: { env: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number }): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd ?? REPO, env: options.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => {
      out += `\n[killed after ${(options.timeoutMs ?? 120_000) / 1000} s]`;
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    }, options.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

/**
 * At most `n` of the functions given to the returned one run at a time; the others wait their turn.
 * The wsgate runs of these tests run side by side, each against a service of its own, but all those
 * services share this process's one thread, and the runs share two CPUs.
 */
export function limiter(n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const queue: (() => void)[] = [];
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    if (active >= n) await new Promise<void>((r) => queue.push(r));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      queue.shift()?.();
    }
  };
}

/** A copy of directory `from` in a new temporary directory (a volume or an artifact in another world). */
export function copyDir(from: string, prefix: string): string {
  const to = scratch(prefix);
  cpSync(from, to, { recursive: true });
  return to;
}
