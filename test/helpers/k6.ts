/**
 * The k6-path tests' k6: only the one WSGATE_K6 names. wsgate never builds, downloads or looks for k6
 * on the tests' behalf (k6 is AGPL-3.0, wsgate MIT), so without WSGATE_K6 those tests skip with
 * {@link NO_K6}, one line; with it they run, and a WSGATE_K6 that is not an executable file fails them
 * rather than skipping (the developer asked for k6 and did not get it).
 */
import { accessSync, constants, statSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, runProcess } from './wsgate-process.ts';

/** Why a k6-path test is skipped: one line, in the test report. */
export const NO_K6 = 'no k6 at WSGATE_K6: the k6-path tests need a k6 v2.2 (wsgate never builds one)';

/** The k6 binary WSGATE_K6 names, or undefined when it is not set. */
export function k6Path(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env['WSGATE_K6'] || undefined;
}

/** node:test's `skip` option for a k6-path test: false when WSGATE_K6 is set, else {@link NO_K6}. */
export function k6Skip(env: NodeJS.ProcessEnv = process.env): string | false {
  return k6Path(env) ? false : NO_K6;
}

/** The k6 to run; throws (failing the test) when WSGATE_K6 is unset or names no executable file. */
export function k6Binary(env: NodeJS.ProcessEnv = process.env): string {
  const path = k6Path(env);
  if (!path) throw new Error(NO_K6);
  try {
    if (!statSync(path).isFile()) throw new Error('not a file');
    accessSync(path, constants.X_OK);
  } catch {
    throw new Error(`WSGATE_K6 is "${path}", which is not an executable file; point it at a k6 v2.2 binary or unset it to skip the k6-path tests`);
  }
  return path;
}

/** A finished run: exit code and what it printed. */
export interface ProcRun {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(cmd: string, args: string[], env: Record<string, string>): Promise<ProcRun> {
  const r = await runProcess(cmd, args, { env: { ...process.env, ...env } });
  return { code: r.code ?? -1, stdout: r.out, stderr: r.err };
}

/** `k6 run --quiet [args] script` with WSGATE_K6's k6; the caller has checked {@link k6Skip}. */
export function runK6(script: string, env: Record<string, string>, args: string[] = []): Promise<ProcRun> {
  return run(k6Binary(), ['run', '--quiet', ...args, script], env);
}

/** `node dist/node/engine.mjs run --quiet [args] bundle`: the same run on wsgate's engine. */
export function runEngine(bundle: string, env: Record<string, string>, args: string[] = []): Promise<ProcRun> {
  const engine = join(REPO, 'dist', 'node', 'engine.mjs');
  return run(process.execPath, [engine, 'run', '--quiet', ...args, bundle], env);
}
