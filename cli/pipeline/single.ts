/**
 * `wsgate validate --report FILE`: the deployment report for a single run, without a baseline. The
 * policy is read before the run starts (a bad policy costs a sentence, not a run); the HTML report is
 * written next to the JSON result; the report is written after the verdict and never changes the exit
 * code, which stays validate's own.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigError } from '../../lib/core/errors.ts';
import type { SuiteResult } from '../../lib/core/summary.ts';
import type { Io } from '../io.ts';
import { say } from '../io.ts';
import { show } from '../suite-run.ts';
import { assess } from './assess.ts';
import { dashboardVars } from './dashboard.ts';
import { loadPolicy } from './policy.ts';
import type { Policy } from './policy.ts';
import { renderReport } from './report.ts';
import type { ReportFile } from './report.ts';

export interface ReportPlan {
  path: string;
  policy: Policy;
  startedAt: Date;
}

/** Checks what the report needs before anything runs; `env` is the caller's environment. */
export function planReport(file: string, envName: string, env: NodeJS.ProcessEnv): ReportPlan {
  const policyPath = env['WSGATE_ROLLBACK_POLICY'] || undefined;
  const path = resolve(file);
  try {
    mkdirSync(dirname(path), { recursive: true });
  } catch (err) {
    throw new ConfigError(`the directory of --report ${file} cannot be created (${(err as NodeJS.ErrnoException).code ?? String(err)}); choose a writable path`);
  }
  return { path, policy: loadPolicy(envName, policyPath === undefined ? undefined : resolve(policyPath)), startedAt: new Date() };
}

/** The dashboard export that goes with a result file (x.json -> x.html), as k6 environment variables. */
export function reportDashboardVars(resultJson: string, env: NodeJS.ProcessEnv): Record<string, string> {
  return dashboardVars(resultJson.replace(/\.json$/, '.html'), env);
}

/** Writes the report for one finished run of `suite` whose result is `results.json`. */
export function writeRunReport(plan: ReportPlan, results: { json: string; junit: string }, exitCode: number, io: Io): void {
  let result: SuiteResult | null = null;
  try {
    result = JSON.parse(readFileSync(results.json, 'utf8')) as SuiteResult;
  } catch {
    result = null;
  }
  const assessment = assess({ command: 'validate', env: plan.policy.env, policy: plan.policy, validation: result, regression: null, expected: ['deployment-validation'] });
  const files: ReportFile[] = [];
  const html = results.json.replace(/\.json$/, '.html');
  for (const [label, path] of [
    ['result (JSON)', results.json],
    ['JUnit', results.junit],
    ['report (HTML)', html],
  ] as const) {
    if (existsSync(path)) files.push({ label, path });
  }
  const notes = existsSync(html) ? [] : ['no HTML report was written (k6 skips its dashboard export for runs shorter than two periods; no engine writes one for a run that never started).'];
  const text = renderReport(
    {
      assessment,
      exitCode,
      startedAt: plan.startedAt,
      finishedAt: new Date(),
      policyFile: plan.policy.file,
      target: result?.target ?? {},
      validation: result,
      regression: null,
      files,
      notes,
    },
    plan.path,
  );
  try {
    writeFileSync(plan.path, text);
  } catch (err) {
    say(io.stderr, `the report ${show(plan.path)} cannot be written (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    return;
  }
  say(io.stderr, `report: ${show(plan.path)}`);
}
