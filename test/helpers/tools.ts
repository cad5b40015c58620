/**
 * Where tests and benchmarks keep tools they install for themselves (actionlint, Artillery): wsgate's
 * tools cache, $XDG_CACHE_HOME/wsgate/tools, else ~/.cache/wsgate/tools. Never k6: wsgate does not
 * build or download k6 (the k6-path tests take the one WSGATE_K6 names).
 */
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';

export function toolsCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env['XDG_CACHE_HOME'];
  // The XDG spec: a relative XDG_CACHE_HOME is invalid and ignored.
  const base = xdg && isAbsolute(xdg) ? xdg : join(env['HOME'] || homedir(), '.cache');
  return join(base, 'wsgate', 'tools');
}
