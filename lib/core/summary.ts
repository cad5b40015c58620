/**
 * Turns k6's end-of-test data into wsgate's result: a JSON document with every check and threshold
 * and its verdict, a JUnit XML in which every check and every threshold is a test case, and a
 * short text summary. The verdict is k6's own threshold verdict, with one addition: a scenario
 * that recorded no check at all fails (k6 treats thresholds as holding when a run is aborted or
 * interrupted before any check; such a run exits non-zero, and the report must not say pass).
 *
 * Pure module: Node tests feed it recorded k6 data.
 */
import { EVIDENCE_FAMILIES, assess, percent } from './evidence.ts';

/** The check-name prefix lib/capabilities.ts records for a scenario that could not run here. */
export const NOT_APPLICABLE = 'not applicable: ';
import type { Evidence, EvidenceFamily } from './evidence.ts';

/** The parts of k6's handleSummary() data wsgate reads. */
export interface K6SummaryData {
  metrics: Record<string, { type?: string; values?: Record<string, number>; thresholds?: Record<string, { ok: boolean }> }>;
  root_group?: K6Group;
  state?: { testRunDurationMs?: number };
}
interface K6Group {
  name: string;
  checks?: { name: string; passes: number; fails: number }[];
  groups?: K6Group[];
}

interface CheckResult {
  name: string;
  passes: number;
  fails: number;
  ok: boolean;
}
export interface ThresholdResult {
  metric: string;
  expression: string;
  /** False only when the threshold was crossed; a threshold with no data is not crossed, and not passed. */
  ok: boolean;
  /**
   * pass, fail, or "no data": a rate or trend that got no sample measured nothing, so it is reported
   * as such (JUnit: skipped), never as a pass. Counters are measured by their absence (no violation
   * seen is a count of 0), so they are never "no data".
   */
  status: 'pass' | 'fail' | 'no data';
  /** The metric's values k6 measured (rate, count, p(95), ...). */
  observed: Record<string, number>;
}
interface ScenarioResult {
  name: string;
  /** 'not applicable' when the run lacked what the check needs (the reason is in not_applicable). */
  verdict: 'pass' | 'fail' | 'not applicable';
  not_applicable?: string;
  checks: CheckResult[];
  thresholds: ThresholdResult[];
}
export interface SuiteResult {
  wsgate_result_version: 1;
  suite: string;
  env: string;
  verdict: 'pass' | 'fail';
  finished_at: string;
  duration_s: number;
  target: Record<string, string>;
  scenarios: ScenarioResult[];
  /** Thresholds that belong to the whole suite rather than one scenario. */
  thresholds: ThresholdResult[];
  /**
   * How much the run could have seen, per family (agent runs, connections, messages, isolation
   * checks), against the environment's detection floor; see lib/core/evidence.ts. Absent in results
   * written before wsgate stated its evidence.
   */
  evidence?: EvidenceResult[];
  metrics: Record<string, Record<string, number>>;
}

interface EvidenceResult extends Evidence {
  /** Whether this suite answers for the family (a sample too small then fails or warns, per policy). */
  enforced: boolean;
  /** 'fail' when enforced, too small and the policy fails; 'warn' when too small otherwise. */
  outcome: 'ok' | 'warn' | 'fail' | 'not gathered';
}

export interface ResultMeta {
  suite: string;
  env: string;
  /** Redacted URLs of the target. */
  target: Record<string, string>;
  scenarios: string[];
  finishedAt: Date;
  /**
   * Suite-wide metrics whose thresholds a scenario answers for: a violation seen by any session of
   * the run fails that scenario too (isolation violations belong to the isolation test wherever the
   * leaked event landed).
   */
  owners?: Record<string, string>;
  /** The environment's detection floor and policy, and the families this suite answers for. */
  evidence?: { floor: number; policy: 'fail' | 'warn'; enforced: readonly EvidenceFamily[] };
}

/** checks{scenario:agent_events} -> agent_events */
const SCENARIO_SUBMETRIC = /\{scenario:([^}]+)\}/;

export function buildResult(data: K6SummaryData, meta: ResultMeta): SuiteResult {
  const checks = collectChecks(data.root_group);
  const thresholds: ThresholdResult[] = [];
  for (const [metric, m] of Object.entries(data.metrics)) {
    const empty = measuredNothing(m.type, m.values);
    for (const [expression, t] of Object.entries(m.thresholds ?? {})) {
      thresholds.push({ metric, expression, ok: t.ok, status: !t.ok ? 'fail' : empty ? 'no data' : 'pass', observed: m.values ?? {} });
    }
  }
  const scenarios: ScenarioResult[] = meta.scenarios.map((name) => {
    const own = checks.filter((c) => c.name.startsWith(name + ': '));
    const ownThresholds = thresholds.filter((t) => SCENARIO_SUBMETRIC.exec(t.metric)?.[1] === name || meta.owners?.[t.metric] === name);
    // A scenario passes when its thresholds hold (suites that want every check to pass say so with
    // checks{scenario:NAME}: rate==1) and it checked something: k6 reports thresholds as holding
    // when a run is aborted before they are evaluated.
    const ok = own.length > 0 && ownThresholds.every((t) => t.ok);
    const checksOf = own.map((c) => ({ ...c, name: c.name.slice(name.length + 2) }));
    const na = checksOf.length > 0 && checksOf.every((c) => c.name.startsWith(NOT_APPLICABLE) && c.ok);
    if (na) {
      return { name, verdict: 'not applicable', not_applicable: checksOf.map((c) => c.name.slice(NOT_APPLICABLE.length)).join('; '), checks: [], thresholds: [] };
    }
    return { name, verdict: ok ? 'pass' : 'fail', checks: checksOf, thresholds: ownThresholds };
  });
  const suiteThresholds = thresholds.filter((t) => !SCENARIO_SUBMETRIC.test(t.metric) && !(meta.owners?.[t.metric] && meta.scenarios.includes(meta.owners[t.metric] ?? '')));
  const evidence = meta.evidence ? gatherEvidence(data, meta.evidence) : [];
  const metrics: Record<string, Record<string, number>> = {};
  for (const [name, m] of Object.entries(data.metrics)) {
    if ((name.startsWith('wsgate_') || name.startsWith('ws_') || name === 'checks') && m.values) metrics[name] = m.values;
  }
  return {
    wsgate_result_version: 1,
    suite: meta.suite,
    env: meta.env,
    verdict: thresholds.every((t) => t.ok) && scenarios.every((s) => s.verdict !== 'fail') && evidence.every((e) => e.outcome !== 'fail') ? 'pass' : 'fail',
    finished_at: meta.finishedAt.toISOString(),
    duration_s: round((data.state?.testRunDurationMs ?? 0) / 1000, 2),
    target: meta.target,
    scenarios,
    thresholds: suiteThresholds,
    evidence,
    metrics,
  };
}

/** Trials and failures of each family, from the metrics that count them (EVIDENCE_FAMILIES). */
function gatherEvidence(data: K6SummaryData, e: NonNullable<ResultMeta['evidence']>): EvidenceResult[] {
  const out: EvidenceResult[] = [];
  for (const family of Object.keys(EVIDENCE_FAMILIES) as EvidenceFamily[]) {
    const v = data.metrics[EVIDENCE_FAMILIES[family].metric]?.values ?? {};
    const trials = family === 'isolation' ? (v['count'] ?? 0) : (v['passes'] ?? 0) + (v['fails'] ?? 0);
    const failures = family === 'isolation' ? (data.metrics['wsgate_isolation_violations']?.values?.['count'] ?? 0) : (v['fails'] ?? 0);
    const a = assess(family, trials, failures, e.floor);
    const enforced = e.enforced.includes(family);
    // Families the suite does not answer for are reported for information only.
    const short = a.sufficiency !== 'enough';
    const outcome = !enforced ? (a.sufficiency === 'not gathered' ? 'not gathered' : 'ok') : short ? (e.policy === 'fail' ? 'fail' : 'warn') : 'ok';
    if (a.sufficiency === 'not gathered' && !enforced) continue;
    out.push({ ...a, enforced, outcome });
  }
  return out;
}

/** A rate or trend with no sample (k6 and the engine both leave its values empty or zero-count). */
function measuredNothing(type: string | undefined, values: Record<string, number> | undefined): boolean {
  const v = values ?? {};
  if (type === 'rate') return v['rate'] === undefined || (v['passes'] ?? 0) + (v['fails'] ?? 0) === 0;
  if (type === 'trend') return v['count'] !== undefined ? v['count'] === 0 : Object.keys(v).length === 0;
  return false;
}

function collectChecks(group: K6Group | undefined): CheckResult[] {
  if (!group) return [];
  const own = (group.checks ?? []).map((c) => ({ name: c.name, passes: c.passes, fails: c.fails, ok: c.fails === 0 }));
  return own.concat(...(group.groups ?? []).map(collectChecks));
}

const NO_CHECKS = 'no checks ran (the run was aborted or interrupted before this scenario checked anything)';

// ---- JUnit ----------------------------------------------------------------------------------

export function renderJUnit(r: SuiteResult): string {
  const suites: string[] = [];
  let tests = 0;
  let failures = 0;
  let skipped = 0;
  const suiteXml = (name: string, cases: { name: string; ok: boolean; skipped?: boolean; message: string }[]): void => {
    const f = cases.filter((c) => !c.ok).length;
    const sk = cases.filter((c) => c.ok && c.skipped).length;
    tests += cases.length;
    failures += f;
    skipped += sk;
    const body = cases
      .map((c) => {
        const tc = `    <testcase classname="${xml(`wsgate.${r.suite}.${name}`)}" name="${xml(c.name)}"`;
        if (!c.ok) return `${tc}>\n      <failure message="${xml(c.message)}">${xml(c.message)}</failure>\n    </testcase>`;
        return c.skipped ? `${tc}>\n      <skipped message="${xml(c.message)}"/>\n    </testcase>` : `${tc}/>`;
      })
      .join('\n');
    suites.push(`  <testsuite name="${xml(name)}" tests="${cases.length}" failures="${f}" skipped="${sk}">\n${body}\n  </testsuite>`);
  };
  for (const s of r.scenarios) {
    if (s.verdict === 'not applicable') {
      suiteXml(s.name, [{ name: s.name, ok: true, skipped: true, message: `not applicable: ${s.not_applicable ?? ''}` }]);
      continue;
    }
    const ran = s.checks.length > 0 ? [] : [{ name: 'scenario ran its checks', ok: false, message: NO_CHECKS }];
    suiteXml(s.name, [
      ...ran,
      ...s.checks.map((c) => ({ name: c.name, ok: c.ok, message: `${c.fails} of ${c.passes + c.fails} failed` })),
      ...s.thresholds.map(thresholdCase),
    ]);
  }
  if (r.thresholds.length > 0) suiteXml('thresholds', r.thresholds.map(thresholdCase));
  if (r.evidence && r.evidence.length > 0) {
    suiteXml(
      'evidence',
      r.evidence.map((e) => ({ name: `evidence: ${e.family} (floor ${percent(e.floor)})`, ok: e.outcome !== 'fail', skipped: e.outcome === 'not gathered', message: e.sentence })),
    );
  }
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<testsuites name="${xml(`wsgate ${r.suite} (${r.env})`)}" tests="${tests}" failures="${failures}" skipped="${skipped}" time="${r.duration_s}">\n` +
    `${suites.join('\n')}\n</testsuites>\n`
  );
}

function thresholdCase(t: ThresholdResult): { name: string; ok: boolean; skipped: boolean; message: string } {
  const noData = t.status === 'no data';
  return {
    name: `threshold ${t.metric} ${t.expression}`,
    ok: t.ok,
    skipped: noData,
    message: noData ? `no data: ${t.metric} got no sample in this run, so this threshold measured nothing` : `observed ${describeValues(t.observed, t.expression)}`,
  };
}

// ---- text -----------------------------------------------------------------------------------

export function renderText(r: SuiteResult, files: string[] = []): string {
  const mark = (ok: boolean): string => (ok ? 'ok  ' : 'FAIL');
  const lines = [`wsgate ${r.suite} (env ${r.env}): ${r.verdict.toUpperCase()} in ${r.duration_s} s`];
  for (const s of r.scenarios) {
    if (s.verdict === 'not applicable') {
      lines.push(`  n/a  ${s.name.padEnd(40)} not applicable: ${s.not_applicable ?? ''}`);
      continue;
    }
    const passed = s.checks.filter((c) => c.ok).length;
    lines.push(`  ${mark(s.verdict === 'pass')} ${s.name.padEnd(40)} ${passed}/${s.checks.length} checks`);
    for (const c of s.checks.filter((x) => !x.ok)) lines.push(`         - ${c.name}: ${c.fails} of ${c.passes + c.fails} failed`);
    if (s.checks.length === 0) lines.push(`         - ${NO_CHECKS}`);
  }
  for (const t of r.thresholds) {
    const status = t.status === 'no data' ? 'n/a ' : mark(t.ok);
    lines.push(`  ${status} ${t.metric} ${t.expression} (${t.status === 'no data' ? 'no data: nothing was measured' : `observed ${describeValues(t.observed, t.expression)}`})`);
  }
  if (r.evidence && r.evidence.length > 0) {
    const floor = r.evidence[0]?.floor ?? 0;
    lines.push(`  evidence (detection floor ${percent(floor)}, 95% confidence):`);
    for (const e of r.evidence) {
      const mark = e.outcome === 'fail' ? 'FAIL' : e.outcome === 'warn' ? 'warn' : e.outcome === 'not gathered' ? 'n/a ' : 'ok  ';
      lines.push(`  ${mark} ${e.sentence}`);
    }
  }
  if (files.length > 0) lines.push(`  results: ${files.join(', ')}`);
  return lines.join('\n') + '\n';
}

function describeValues(v: Record<string, number>, expression = ''): string {
  // Rates carry passes/fails, counters count and a per-second rate, trends percentiles; the value the
  // expression judges comes first.
  if ('passes' in v && (v['passes'] ?? 0) + (v['fails'] ?? 0) === 0) return 'no samples';
  const judged = /^\s*(p\([\d.]+\)|avg|min|max|med|rate|count|value)/.exec(expression)?.[1];
  const usual = 'passes' in v ? ['rate'] : 'avg' in v ? ['p(95)', 'avg', 'count'] : ['count'];
  const wanted = judged && judged in v ? [judged, ...usual.filter((k) => k !== judged)] : usual;
  const keys = wanted.filter((k) => v[k] !== undefined);
  if (keys.length === 0) return 'no data';
  return keys.map((k) => `${k} ${round(v[k] ?? 0, k === 'rate' ? 4 : 2)}`).join(', ');
}

const round = (n: number, digits: number): number => Math.round(n * 10 ** digits) / 10 ** digits;

function xml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
