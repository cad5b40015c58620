/**
 * What a pipeline run writes for people and for CI, all from one Assessment: the Markdown deployment
 * report (verdict and recommendation first, then the triggers, each check and regression test, the
 * baseline deltas, the business impact and links to the raw results), a JUnit file in which every
 * rollback trigger and baseline tolerance is a test case, and the JSON record. Pure: paths in, text out.
 */
import { dirname, relative } from 'node:path';
import { REGRESSIONS } from '../../lib/core/regressions.ts';
import type { SuiteResult, ThresholdResult } from '../../lib/core/summary.ts';
import type { Assessment, Decision } from './assess.ts';

export interface ReportFile {
  label: string;
  path: string;
}

export interface ReportContext {
  assessment: Assessment;
  exitCode: number;
  startedAt: Date;
  finishedAt: Date;
  policyFile: string;
  /** Redacted target URLs. */
  target: Record<string, string>;
  validation: SuiteResult | null;
  regression: SuiteResult | null;
  baseline?: { path: string; savedAt: string; source: string; validation: SuiteResult; regression: SuiteResult | null } | undefined;
  /** Raw results to link (JSON, JUnit, HTML reports), absolute paths. */
  files: ReportFile[];
  /** Lines about things that did not happen as asked (a dashboard k6 skipped, a baseline not saved). */
  notes: string[];
}

export const EXIT_MEANING: Record<number, string> = {
  0: 'pass / proceed',
  1: 'fail / hold: the gate failed, no rollback trigger fired',
  2: 'usage or configuration error: nothing was run',
  3: 'target unreachable: nothing was run',
  4: 'no verdict: k6 unavailable, script error or aborted run',
  5: 'rollback recommended',
  130: 'interrupted',
};

const HEADLINE: Record<Assessment['command'], Record<Decision, string>> = {
  post: { proceed: 'PROCEED', hold: 'HOLD', rollback: 'ROLLBACK RECOMMENDED' },
  pre: { proceed: 'READY TO DEPLOY', hold: 'DO NOT DEPLOY', rollback: 'DO NOT DEPLOY' },
  validate: { proceed: 'PASS', hold: 'FAIL', rollback: 'FAIL, ROLLBACK RECOMMENDED' },
};

function recommendation(a: Assessment, ctx: ReportContext): string {
  const fired = a.triggers.filter((t) => t.fired);
  switch (a.command) {
    case 'post':
      if (a.decision === 'rollback') {
        return `**Roll back this deployment.** ${fired.length ? `${fired.length} rollback trigger${fired.length > 1 ? 's' : ''} fired: ${fired.map((t) => `${t.rule} (${t.observed})`).join('; ')}.` : 'It drifted from its baseline beyond the policy\'s tolerance, and the policy says roll back.'}`;
      }
      if (a.decision === 'hold') return '**Hold the rollout and investigate.** The gate failed, but no rollback trigger fired; a person decides.';
      return `**Proceed.** Every check and regression test passed, no rollback trigger fired${a.baselineUsed ? ', and the deployment is within its baseline tolerances' : ''}.`;
    case 'pre':
      if (a.decision === 'proceed') return `**Ready to deploy.** The environment passes before the change${ctx.notes.some((n) => n.startsWith('baseline saved')) ? '; its figures are saved as the baseline for the post-deployment run' : ''}.`;
      return '**Do not deploy on top of this.** The environment already fails before the change, so a post-deployment comparison would measure nothing useful; the previous baseline (if any) is kept.';
    case 'validate':
      if (a.decision === 'rollback') return `**The deployment fails, and the rollback policy recommends rolling it back:** ${fired.map((t) => `${t.rule} (${t.observed})`).join('; ')}.`;
      return a.decision === 'hold' ? '**The deployment fails its checks.** No rollback trigger fired.' : '**The deployment passes.**';
  }
}

const pct = (x: number | null, digits = 1): string => (x === null ? 'n/a' : `${(x * 100).toFixed(digits)}%`);
const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function link(file: string, from: string): string {
  const rel = relative(dirname(from), file) || file;
  return `[${cell(rel)}](${encodeURI(rel)})`;
}

function observed(t: ThresholdResult): string {
  const used = Object.entries(t.observed).filter(([k]) => t.expression.includes(k));
  const shown = used.length ? used : Object.entries(t.observed);
  if ('passes' in t.observed && (t.observed['passes'] ?? 0) + (t.observed['fails'] ?? 0) === 0) return 'no samples';
  return shown.map(([k, v]) => `${k} ${Number.isInteger(v) ? v : v.toFixed(3)}`).join(', ');
}

function scenarioTable(r: SuiteResult, base: SuiteResult | null | undefined, regression: boolean): string[] {
  const head = regression ? '| test | critical | verdict | checks | baseline | failed checks |' : '| check group | verdict | checks | baseline | failed checks |';
  const rule = regression ? '| --- | --- | --- | --- | --- | --- |' : '| --- | --- | --- | --- | --- |';
  const lines = [head, rule];
  for (const s of r.scenarios) {
    const passed = s.checks.filter((c) => c.ok).length;
    const was = base?.scenarios.find((b) => b.name === s.name)?.verdict ?? (base ? 'not run' : '—');
    const failed = s.checks.length === 0 ? 'no checks ran' : s.checks.filter((c) => !c.ok).map((c) => `${c.name} (${c.fails} of ${c.passes + c.fails} failed)`).join('; ');
    const verdict = s.verdict === 'pass' ? 'pass' : '**FAIL**';
    const critical = REGRESSIONS.find((x) => x.name === s.name)?.critical ? 'yes' : 'no';
    lines.push(`| ${cell(s.name)} | ${regression ? `${critical} | ` : ''}${verdict} | ${passed}/${s.checks.length} | ${was} | ${cell(failed || '—')} |`);
  }
  return lines;
}

function thresholdLines(r: SuiteResult): string[] {
  if (r.thresholds.length === 0) return [];
  return ['', '| threshold | observed | held |', '| --- | --- | --- |', ...r.thresholds.map((t) => `| \`${cell(t.metric)} ${cell(t.expression)}\` | ${cell(observed(t))} | ${t.status === 'no data' ? 'no data (nothing measured)' : t.ok ? 'yes' : '**no**'} |`)];
}

/** The Markdown deployment report; links are relative to `reportPath`'s directory. */
export function renderReport(ctx: ReportContext, reportPath: string): string {
  const a = ctx.assessment;
  const title = { post: 'Post-deployment report', pre: 'Pre-deployment report', validate: 'Deployment validation report' }[a.command];
  const out: string[] = [];
  out.push(`# ${title}: ${a.env} — ${HEADLINE[a.command][a.decision]}`, '');
  out.push(recommendation(a, ctx), '');
  out.push(`Exit code **${ctx.exitCode}** (${EXIT_MEANING[ctx.exitCode] ?? 'see wsgate help'}). \`wsgate ${a.command} --env ${a.env}\`, ${ctx.startedAt.toISOString()} to ${ctx.finishedAt.toISOString()}.`, '');
  out.push('## Why', '', ...a.reasons.map((r) => `- ${r}`), '');
  for (const n of ctx.notes) out.push(`> ${n}`, '');

  out.push('## Run', '', '| | |', '| --- | --- |');
  for (const [k, v] of Object.entries(ctx.target)) out.push(`| ${k} | \`${cell(v)}\` |`);
  for (const s of a.suites) out.push(`| ${s.name} | ${s.verdict === 'pass' ? 'pass' : `**${s.verdict.toUpperCase()}**`} |`);
  out.push(`| rollback policy | \`${cell(ctx.policyFile)}\` |`);
  if (ctx.baseline) out.push(`| baseline | \`${cell(ctx.baseline.path)}\`, saved ${ctx.baseline.savedAt} by the run in \`${cell(ctx.baseline.source)}\` |`);
  else if (a.command === 'post') out.push('| baseline | none: nothing was compared |');
  out.push('');

  out.push(`## Rollback triggers`, '', `From \`${cell(ctx.policyFile)}\`; any one that fires recommends a rollback.`, '', '| trigger | observed | fired |', '| --- | --- | --- |');
  for (const t of a.triggers) out.push(`| ${cell(t.rule)} | ${cell(t.observed)} | ${t.fired ? '**YES**' : t.assessed ? 'no' : 'not assessed'} |`);
  for (const t of a.triggers.filter((x) => x.detail)) out.push('', `${t.rule}: ${t.detail}.`);
  out.push('');

  if (ctx.validation) {
    out.push(`## Deployment validation: ${ctx.validation.verdict.toUpperCase()}`, '', ...scenarioTable(ctx.validation, ctx.baseline?.validation, false), ...thresholdLines(ctx.validation), '');
  }
  if (ctx.regression) {
    out.push(`## Regression tests: ${ctx.regression.verdict.toUpperCase()}`, '', ...scenarioTable(ctx.regression, ctx.baseline?.regression, true), ...thresholdLines(ctx.regression), '');
  }

  if (a.baselineUsed) {
    out.push('## Compared with the baseline', '', '| figure | baseline | now | change | tolerance | within |', '| --- | --- | --- | --- | --- | --- |');
    for (const d of a.deltas) {
      const show = (v: number | null) => (v === null ? 'n/a' : d.unit === 'fraction' ? pct(v) : `${v.toFixed(1)} ms`);
      const change = d.change === null ? 'n/a' : d.unit === 'fraction' ? `${d.change >= 0 ? '+' : ''}${(d.change * 100).toFixed(1)} pts` : `${d.change >= 0 ? '+' : ''}${d.change.toFixed(1)} ms`;
      out.push(`| ${d.metric} | ${show(d.baseline)} | ${show(d.now)} | ${change} | ${cell(d.tolerance)} | ${d.exceeded ? '**no**' : 'yes'} |`);
    }
    if (a.changes.length) {
      out.push('', 'Changed since the baseline:', '');
      for (const c of a.changes) out.push(`- ${c.suite} / ${c.scenario}${c.check ? `: "${c.check}"` : ''}: ${c.was} → ${c.now}`);
    }
    out.push('');
  }

  out.push('## Business impact', '');
  const i = a.impact;
  if (i.atRisk !== null) out.push(`Estimated revenue at risk: **${Math.round(i.atRisk).toLocaleString('en-US')} ${i.currency} per month**${i.added !== null ? `, of which **${Math.round(i.added).toLocaleString('en-US')} ${i.currency}** added by this deployment` : ''}.`, '');
  out.push('```text', ...i.formula, '```', '');
  out.push('The revenue figure is the one set in the policy file for this environment, not a measurement; the shares are measured.', '');

  out.push('## Raw results', '');
  for (const f of ctx.files) out.push(`- ${f.label}: ${link(f.path, reportPath)}`);
  out.push('');
  return out.join('\n');
}

function xml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** JUnit: one suite of rollback triggers, one of baseline tolerances (the suites' own files hold their checks). */
export function renderPipelineJUnit(a: Assessment): string {
  const suites: { name: string; cases: { name: string; ok: boolean; skipped?: boolean; message: string }[] }[] = [
    {
      name: 'rollback policy',
      cases: a.triggers.map((t) => ({ name: `no rollback: ${t.rule}`, ok: !t.fired, skipped: !t.assessed, message: `observed ${t.observed}` })),
    },
  ];
  if (a.baselineUsed) {
    suites.push({ name: 'baseline comparison', cases: a.deltas.map((d) => ({ name: `${d.metric} within baseline tolerance`, ok: !d.exceeded, skipped: d.change === null, message: `baseline ${d.baseline ?? 'n/a'}, now ${d.now ?? 'n/a'}; ${d.tolerance}` })) });
  }
  let tests = 0;
  let failures = 0;
  const body = suites
    .map((s) => {
      const f = s.cases.filter((c) => !c.ok).length;
      const sk = s.cases.filter((c) => c.ok && c.skipped).length;
      tests += s.cases.length;
      failures += f;
      const cases = s.cases
        .map((c) => {
          const tc = `    <testcase classname="${xml(`wsgate.${a.command}.${s.name.replace(/ /g, '_')}`)}" name="${xml(c.name)}"`;
          if (!c.ok) return `${tc}>\n      <failure message="${xml(c.message)}">${xml(c.message)}</failure>\n    </testcase>`;
          if (c.skipped) return `${tc}>\n      <skipped message="${xml(c.message)}"/>\n    </testcase>`;
          return `${tc}/>`;
        })
        .join('\n');
      return `  <testsuite name="${xml(s.name)}" tests="${s.cases.length}" failures="${f}" skipped="${sk}">\n${cases}\n  </testsuite>`;
    })
    .join('\n');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="${xml(`wsgate ${a.command} (${a.env}): ${a.decision}`)}" tests="${tests}" failures="${failures}">\n${body}\n</testsuites>\n`;
}
