/**
 * Thresholds per environment. The file in thresholds/<suite>.json holds the suite-wide metric
 * thresholds per environment; every scenario also gets `checks{scenario:NAME}: rate==1`, so each
 * check group is its own pass/fail line and a failing check fails the run, and
 * `wsgate_checks_run{scenario:NAME}: count>0`, so a scenario that checked nothing fails too. Pure module.
 */
import { ConfigError } from './errors.ts';

export type ThresholdFile = Record<string, unknown>;

/**
 * @param everyCheck whether any failed check fails its scenario. Monitoring says no: its verdict is
 *   the window timeline, and one failed probe must not make k6 itself report a failure.
 */
export function thresholdsFor(file: ThresholdFile, suite: string, env: string, scenarios: string[], everyCheck = true): Record<string, string[]> {
  const forEnv = file[env];
  if (typeof forEnv !== 'object' || forEnv === null || Array.isArray(forEnv)) {
    const envs = Object.keys(file).filter((k) => !k.startsWith('$'));
    throw new ConfigError(`thresholds/${suite}.json has no thresholds for environment "${env}"; add them, or use one of ${envs.join(', ')}`);
  }
  const out: Record<string, string[]> = {};
  for (const [metric, exprs] of Object.entries(forEnv as Record<string, unknown>)) {
    if (!Array.isArray(exprs) || exprs.some((e) => typeof e !== 'string')) {
      throw new ConfigError(`thresholds/${suite}.json: ${env}.${metric} is ${JSON.stringify(exprs)}; it must be a list of k6 threshold expressions such as ["rate>0.95"]`);
    }
    out[metric] = exprs as string[];
  }
  for (const s of scenarios) {
    if (everyCheck) out[`checks{scenario:${s}}`] = ['rate==1'];
    // A rate threshold passes with no samples; this one fails a scenario that checked nothing.
    out[`wsgate_checks_run{scenario:${s}}`] = ['count>0'];
  }
  return out;
}
