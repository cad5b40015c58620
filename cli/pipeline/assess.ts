/**
 * The decision of a pipeline run, from its suite results, the baseline (post only), a monitor timeline
 * (optional) and the rollback policy. Pure: no files, no clock; the report and the exit code are both
 * made from what this returns, so they cannot disagree.
 *
 *   rollback  a rollback trigger fired (or a baseline tolerance, with on_exceeded "rollback")   exit 5
 *   hold      the gate failed (a check, threshold or baseline tolerance) but no trigger fired    exit 1
 *   proceed   everything held                                                                   exit 0
 *
 * Before a deploy (`pre`) there is nothing to roll back: a fired trigger there is a hold (do not
 * deploy on top of a failing environment). `validate --report` uses the same words in its report and
 * keeps its own exit code.
 */
import { REGRESSIONS } from '../../lib/core/regressions.ts';
import type { SuiteResult } from '../../lib/core/summary.ts';
import type { MonitorEvidence } from './monitor-evidence.ts';
import type { Policy } from './policy.ts';

export type Decision = 'proceed' | 'hold' | 'rollback';

interface RateReading {
  rate: number;
  passes: number;
  fails: number;
}

/** The figures the policy judges, over every suite of the run. */
interface Measures {
  /** wsgate_connection_success over all suites (null: no handshake that was meant to succeed ran). */
  connectionSuccess: RateReading | null;
  agentEventCompletion: RateReading | null;
  isolationViolations: number;
  /** Isolation violations by suite, for the report. */
  isolationBySuite: Record<string, number>;
  criticalRegressionsRun: string[];
  criticalRegressionsFailed: string[];
  /** wsgate_event_latency statistics (ms) of the deployment validation (null: no samples). */
  eventLatency: Record<string, number> | null;
}

interface Trigger {
  id: 'connection_success' | 'critical_regressions' | 'agent_event_completion' | 'isolation_violations' | 'degraded_health';
  /** "connection success below 70%" */
  rule: string;
  observed: string;
  fired: boolean;
  /** False when the run had nothing to judge it by (no samples, no monitor timeline). */
  assessed: boolean;
  detail?: string;
}

interface Delta {
  metric: string;
  baseline: number | null;
  now: number | null;
  /** now - baseline, in the metric's unit (fraction or ms). */
  change: number | null;
  tolerance: string;
  exceeded: boolean;
  unit: 'fraction' | 'ms';
}

interface CheckChange {
  suite: string;
  scenario: string;
  check: string | null;
  /** pass -> fail since the baseline (or fail -> pass). */
  was: 'pass' | 'fail' | 'absent';
  now: 'pass' | 'fail';
}

interface Impact {
  revenue: number | null;
  currency: string;
  /** Share of chat sessions at risk now, 0..1 (null when nothing was measured). */
  share: number | null;
  baselineShare: number | null;
  atRisk: number | null;
  /** Added by this deployment: revenue x max(0, share - baseline share). */
  added: number | null;
  /** The formula with this run's numbers in it. */
  formula: string[];
}

export interface Assessment {
  command: 'pre' | 'post' | 'validate';
  env: string;
  decision: Decision;
  /** One line each, most serious first: why the decision is what it is. */
  reasons: string[];
  suites: { name: string; verdict: 'pass' | 'fail' | 'missing' }[];
  measures: Measures;
  triggers: Trigger[];
  deltas: Delta[];
  changes: CheckChange[];
  baselineUsed: boolean;
  impact: Impact;
}

export interface AssessInput {
  command: Assessment['command'];
  env: string;
  policy: Policy;
  validation: SuiteResult | null;
  regression: SuiteResult | null;
  /** Suites that were meant to run (a missing result is then a failure of the gate). */
  expected: string[];
  baseline?: { validation: SuiteResult; regression: SuiteResult | null } | undefined;
  monitor?: MonitorEvidence | undefined;
}

const pct = (x: number, digits = 1): string => `${(x * 100).toFixed(digits)}%`;

function rateOf(results: (SuiteResult | null)[], metric: string): RateReading | null {
  let passes = 0;
  let fails = 0;
  for (const r of results) {
    const v = r?.metrics[metric];
    if (!v) continue;
    passes += v['passes'] ?? 0;
    fails += v['fails'] ?? 0;
  }
  return passes + fails === 0 ? null : { rate: passes / (passes + fails), passes, fails };
}

/** The figures the policy judges, from the suites of one run. */
function measure(validation: SuiteResult | null, regression: SuiteResult | null): Measures {
  const both = [validation, regression];
  const critical = REGRESSIONS.filter((r) => r.critical).map((r) => r.name);
  const scenarios = regression?.scenarios ?? [];
  const run = scenarios.filter((s) => critical.includes(s.name));
  const latency = validation?.metrics['wsgate_event_latency'] ?? regression?.metrics['wsgate_event_latency'];
  return {
    connectionSuccess: rateOf(both, 'wsgate_connection_success'),
    agentEventCompletion: rateOf(both, 'wsgate_agent_event_completion'),
    isolationViolations: both.reduce((n, r) => n + (r?.metrics['wsgate_isolation_violations']?.['count'] ?? 0), 0),
    isolationBySuite: Object.fromEntries(both.filter((r): r is SuiteResult => r !== null).map((r) => [r.suite, r.metrics['wsgate_isolation_violations']?.['count'] ?? 0])),
    criticalRegressionsRun: run.map((s) => s.name),
    criticalRegressionsFailed: run.filter((s) => s.verdict === 'fail').map((s) => s.name),
    eventLatency: latency && (latency['count'] ?? 0) > 0 ? latency : null,
  };
}

function triggers(m: Measures, policy: Policy, monitor: MonitorEvidence | undefined, regressionRan: boolean): Trigger[] {
  const p = policy.rollback;
  const rate = (id: 'connection_success' | 'agent_event_completion', what: string, r: RateReading | null, limit: number): Trigger => ({
    id,
    rule: `${what} below ${pct(limit, 0)}`,
    observed: r ? `${pct(r.rate)} (${r.passes} of ${r.passes + r.fails})` : 'no samples',
    fired: r !== null && r.rate < limit,
    assessed: r !== null,
  });
  const failed = m.criticalRegressionsFailed;
  return [
    rate('connection_success', 'connection success', m.connectionSuccess, p.connection_success_below),
    {
      id: 'critical_regressions',
      rule: `more than ${p.critical_regressions_failed_above} critical regression tests fail`,
      observed: regressionRan ? `${failed.length} of ${m.criticalRegressionsRun.length} failed${failed.length ? ` (${failed.join(', ')})` : ''}` : 'regression suite not run',
      fired: failed.length > p.critical_regressions_failed_above,
      assessed: regressionRan,
    },
    rate('agent_event_completion', 'agent event delivery', m.agentEventCompletion, p.agent_event_completion_below),
    {
      id: 'isolation_violations',
      rule: p.isolation_violations_above === 0 ? 'any user isolation violation' : `more than ${p.isolation_violations_above} user isolation violations`,
      observed: `${m.isolationViolations} seen${m.isolationViolations > 0 ? `: ${Object.entries(m.isolationBySuite).map(([s, n]) => `${s} ${n}`).join(', ')}` : ''}`,
      fired: m.isolationViolations > p.isolation_violations_above,
      assessed: true,
    },
    monitor
      ? {
          id: 'degraded_health',
          rule: `health degraded for more than ${p.degraded_health_longer_than_s} s`,
          observed: `longest degraded-or-worse stretch ${monitor.longestDegradedS} s (${monitor.windows.degraded} degraded, ${monitor.windows.unhealthy} unhealthy of ${monitor.windows.total} windows)`,
          fired: monitor.longestDegradedS > p.degraded_health_longer_than_s,
          assessed: true,
          detail: `monitor timeline ${monitor.file}${monitor.monitorRecommendedRollback ? '; the monitor itself recommended a rollback' : ''}${monitor.complete ? '' : '; the timeline has no summary line (the monitor was stopped early)'}`,
        }
      : {
          id: 'degraded_health',
          rule: `health degraded for more than ${p.degraded_health_longer_than_s} s`,
          observed: 'not assessed: no monitor timeline given (--monitor-timeline)',
          fired: false,
          assessed: false,
        },
  ];
}

function deltas(now: Measures, base: Measures, policy: Policy): Delta[] {
  const t = policy.baseline;
  const out: Delta[] = [];
  const rate = (metric: string, b: RateReading | null, n: RateReading | null, maxDrop: number) => {
    const change = b && n ? n.rate - b.rate : null;
    out.push({ metric, baseline: b?.rate ?? null, now: n?.rate ?? null, change, tolerance: `drop of at most ${pct(maxDrop)}`, exceeded: change !== null && -change > maxDrop + 1e-12, unit: 'fraction' });
  };
  rate('connection success', base.connectionSuccess, now.connectionSuccess, t.connection_success_max_drop);
  rate('agent event completion', base.agentEventCompletion, now.agentEventCompletion, t.agent_event_completion_max_drop);
  for (const stat of t.event_latency_stats) {
    const b = base.eventLatency?.[stat];
    const n = now.eventLatency?.[stat];
    const change = b !== undefined && n !== undefined ? n - b : null;
    const allowed = b !== undefined ? Math.max(b * t.event_latency_max_increase_ratio, t.event_latency_min_increase_ms) : null;
    out.push({
      metric: `event latency ${stat}`,
      baseline: b ?? null,
      now: n ?? null,
      change,
      tolerance: `rise of at most max(${pct(t.event_latency_max_increase_ratio, 0)} of baseline, ${t.event_latency_min_increase_ms} ms)${allowed !== null ? ` = ${Math.round(allowed)} ms` : ''}`,
      exceeded: change !== null && allowed !== null && change > allowed,
      unit: 'ms',
    });
  }
  return out;
}

/** Scenarios (and their checks) whose verdict differs from the baseline's. */
function checkChanges(now: SuiteResult | null, base: SuiteResult | null | undefined): CheckChange[] {
  if (!now) return [];
  const out: CheckChange[] = [];
  for (const s of now.scenarios) {
    const was = base?.scenarios.find((b) => b.name === s.name);
    const wasVerdict = was && was.verdict !== 'not applicable' ? was.verdict : 'absent';
    if (s.verdict === 'fail' && wasVerdict !== 'fail') {
      const failing = s.checks.filter((c) => !c.ok);
      if (failing.length === 0) out.push({ suite: now.suite, scenario: s.name, check: null, was: wasVerdict, now: 'fail' });
      for (const c of failing) {
        const before = was?.checks.find((x) => x.name === c.name);
        out.push({ suite: now.suite, scenario: s.name, check: c.name, was: before ? (before.ok ? 'pass' : 'fail') : 'absent', now: 'fail' });
      }
    } else if (s.verdict === 'pass' && wasVerdict === 'fail') {
      out.push({ suite: now.suite, scenario: s.name, check: null, was: 'fail', now: 'pass' });
    }
  }
  return out;
}

/** Share of chat sessions at risk: 1 - C x A, or 1 with any isolation violation. */
function share(m: Measures): number | null {
  if (m.isolationViolations > 0) return 1;
  if (!m.connectionSuccess && !m.agentEventCompletion) return null;
  return 1 - (m.connectionSuccess?.rate ?? 1) * (m.agentEventCompletion?.rate ?? 1);
}

const money = (n: number, currency: string): string => `${Math.round(n).toLocaleString('en-US')} ${currency}`;

function impact(m: Measures, base: Measures | undefined, policy: Policy): Impact {
  const s = share(m);
  const b = base ? share(base) : null;
  const revenue = policy.monthlyRevenue;
  const c = m.connectionSuccess ? m.connectionSuccess.rate.toFixed(4) : '1 (no samples)';
  const a = m.agentEventCompletion ? m.agentEventCompletion.rate.toFixed(4) : '1 (no samples)';
  const formula = [
    'A chat session needs both a connection and a complete agent run, so the share of sessions at risk is',
    '  share = 1 - C x A  (C: connection success, A: agent event completion, over every suite of the run);',
    '  any user isolation violation makes share = 1 (one user seeing another\'s events compromises every conversation).',
    'revenue at risk = monthly revenue x share; added by this deployment = monthly revenue x max(0, share - baseline share).',
  ];
  if (m.isolationViolations > 0) formula.push(`Now: ${m.isolationViolations} isolation violations, so share = 1.`);
  else if (s !== null) formula.push(`Now: share = 1 - ${c} x ${a} = ${s.toFixed(4)}.`);
  if (b !== null) formula.push(`Baseline: share = ${b.toFixed(4)}.`);
  let atRisk: number | null = null;
  let added: number | null = null;
  if (revenue === null) {
    formula.push(`No monthly revenue is set for env ${policy.env} (environments.${policy.env}.monthly_revenue in ${policy.file}), so no amount is estimated.`);
  } else if (s !== null) {
    atRisk = revenue * s;
    formula.push(`Revenue at risk = ${money(revenue, policy.currency)} x ${s.toFixed(4)} = ${money(atRisk, policy.currency)} per month.`);
    if (b !== null) {
      added = revenue * Math.max(0, s - b);
      formula.push(`Added by this deployment = ${money(revenue, policy.currency)} x max(0, ${s.toFixed(4)} - ${b.toFixed(4)}) = ${money(added, policy.currency)} per month.`);
    }
  }
  return { revenue, currency: policy.currency, share: s, baselineShare: b, atRisk, added, formula };
}

export function assess(input: AssessInput): Assessment {
  const { policy } = input;
  const m = measure(input.validation, input.regression);
  const regressionRan = input.regression !== null;
  const t = triggers(m, policy, input.monitor, regressionRan);
  const base = input.baseline ? measure(input.baseline.validation, input.baseline.regression) : undefined;
  const d = base ? deltas(m, base, policy) : [];
  const changes = input.baseline
    ? [...checkChanges(input.validation, input.baseline.validation), ...checkChanges(input.regression, input.baseline.regression)]
    : [];
  const suites = input.expected.map((name) => {
    const r = name === input.validation?.suite ? input.validation : name === input.regression?.suite ? input.regression : null;
    return { name, verdict: r ? r.verdict : ('missing' as const) };
  });

  const reasons: string[] = [];
  for (const x of t.filter((x) => x.fired)) reasons.push(`rollback trigger: ${x.rule} (observed ${x.observed})`);
  const exceeded = d.filter((x) => x.exceeded);
  for (const x of exceeded) {
    const show = (v: number | null) => (v === null ? 'n/a' : x.unit === 'fraction' ? pct(v) : `${Math.round(v)} ms`);
    reasons.push(`baseline: ${x.metric} went from ${show(x.baseline)} to ${show(x.now)}, beyond the tolerance (${x.tolerance})`);
  }
  for (const s of suites.filter((x) => x.verdict !== 'pass')) {
    const r = s.name === input.validation?.suite ? input.validation : input.regression;
    const failed = r ? r.scenarios.filter((x) => x.verdict === 'fail').map((x) => x.name) : [];
    const thresholds = r ? r.thresholds.filter((x) => !x.ok).map((x) => `${x.metric} ${x.expression}`) : [];
    const what = s.verdict === 'missing' ? 'produced no result' : `failed: ${[...failed, ...thresholds].join(', ') || 'see its results'}`;
    reasons.push(`${s.name} ${what}`);
  }

  const fired = t.some((x) => x.fired) || (exceeded.length > 0 && policy.baseline.on_exceeded === 'rollback');
  const held = exceeded.length > 0 || suites.some((s) => s.verdict !== 'pass');
  const decision: Decision = input.command !== 'pre' && fired ? 'rollback' : fired || held ? 'hold' : 'proceed';
  if (decision === 'proceed') reasons.push('every check, threshold and rollback trigger held' + (base ? ', and every figure is within its baseline tolerance' : ''));
  return { command: input.command, env: input.env, decision, reasons, suites, measures: m, triggers: t, deltas: d, changes, baselineUsed: base !== undefined, impact: impact(m, base, policy) };
}
