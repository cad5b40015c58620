/**
 * The tools tests need from the machine. Where tests and benchmarks keep tools they install for
 * themselves (actionlint, Artillery): wsgate's tools cache, $XDG_CACHE_HOME/wsgate/tools, else
 * ~/.cache/wsgate/tools. Never k6: wsgate does not build or download k6 (the k6-path tests take the
 * one WSGATE_K6 names). And what a missing tool (nginx, openssl, chromium, Centrifugo) does to a test:
 * skipped with its reason on a developer machine, a failure under CI=true.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';

export function toolsCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env['XDG_CACHE_HOME'];
  // The XDG spec: a relative XDG_CACHE_HOME is invalid and ignored.
  const base = xdg && isAbsolute(xdg) ? xdg : join(env['HOME'] || homedir(), '.cache');
  return join(base, 'wsgate', 'tools');
}

/**
 * node:test's `skip` option for a test that needs something the machine may lack: false when nothing
 * is `missing`; else, on a developer machine, the reason (one line in the report); under CI=true
 * false again, so the test runs and fails on what is missing instead of passing by being skipped.
 */
export function skipUnlessCi(missing: string | undefined, env: NodeJS.ProcessEnv = process.env): string | false {
  return missing !== undefined && env['CI'] !== 'true' ? `${missing} (CI=true makes this a failure)` : false;
}

/** The same decision inside a running test: skips it with `why`, or fails it under CI=true. */
export function skipOrFailInCi(t: { skip(message: string): void }, why: string, env: NodeJS.ProcessEnv = process.env): void {
  if (env['CI'] === 'true') assert.fail(`${why} (CI=true makes this a failure)`);
  t.skip(why);
}

/** 'openssl is not installed' when `openssl version` does not run, else undefined. */
export function opensslMissing(): string | undefined {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'openssl is not installed';
  }
}

/**
 * A self-signed certificate for 127.0.0.1 in `dir` (cert.pem, key.pem), with the address as a
 * subjectAltName too: Node and Go ignore the CN for an IP.
 */
export function selfSignedCertFiles(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
  ], { stdio: 'ignore' });
  return { cert, key };
}
