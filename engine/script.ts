/**
 * Loading a bundle: its options and the functions the engine calls (k6's script contract: `options`,
 * `setup`, `teardown`, `handleSummary`, `default` and the scenarios' `exec` names).
 */
import { pathToFileURL } from 'node:url';
import type { Options } from '../lib/runtime/options.ts';

export type ExecFn = (data: unknown) => unknown;

export interface Script {
  options: Options;
  setup: ExecFn | undefined;
  teardown: ExecFn | undefined;
  handleSummary: ((data: unknown) => unknown) | undefined;
  /** The exported function called `name`, if it is one. */
  fn(name: string): ExecFn | undefined;
}

/** An error of the script itself (k6 exit code 107), with the script's location when known. */
class ScriptError extends Error {
  readonly code = 'ERR_SCRIPT';
}

/** Where an error was thrown, as `file:line` of the first frame in the bundle or its sources. */
export function whereThrown(err: unknown): string {
  const stack = err instanceof Error ? (err.stack ?? '') : '';
  const frame = /\(?((?:file:\/\/)?[^\s()]+\.(?:ts|mjs|js):\d+:\d+)\)?/.exec(stack.split('\n').slice(1).join('\n'));
  return frame?.[1] ? ` (at ${frame[1].replace(/^file:\/\//, '')})` : '';
}

export async function loadScript(path: string): Promise<Script> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (err) {
    throw new ScriptError(`the script ${path} threw while loading: ${err instanceof Error ? err.message : String(err)}${whereThrown(err)}`);
  }
  const fnOf = (name: string): ExecFn | undefined => (typeof mod[name] === 'function' ? (mod[name] as ExecFn) : undefined);
  const options = (typeof mod['options'] === 'object' && mod['options'] !== null ? mod['options'] : {}) as Options;
  return {
    options,
    setup: fnOf('setup'),
    teardown: fnOf('teardown'),
    handleSummary: fnOf('handleSummary'),
    fn: fnOf,
  };
}
