/**
 * The end-of-test text for scripts without handleSummary(): thresholds (pass, FAIL or no data),
 * checks, then every metric's summary values, in the spirit of k6's default summary.
 */

/** One threshold's outcome: ok undefined when never evaluated; noData when its metric had no sample. */
export interface ThresholdVerdict {
  metric: string;
  expression: string;
  ok: boolean | undefined;
  noData: boolean;
  observed: number | undefined;
}

interface Data {
  metrics?: Record<string, { type?: string; contains?: string; values?: Record<string, number> }>;
  root_group?: { checks?: { name: string; passes: number; fails: number }[] };
  state?: { testRunDurationMs?: number };
}

function fmt(v: number, contains: string | undefined): string {
  if (contains === 'time') return v >= 1000 ? `${(v / 1000).toFixed(2)}s` : `${v.toFixed(2)}ms`;
  return Number.isInteger(v) ? v.toLocaleString('en-US') : v.toFixed(4);
}

export function renderTextSummary(raw: unknown, verdicts: readonly ThresholdVerdict[]): string {
  const data = raw as Data;
  const lines: string[] = [''];
  if (verdicts.length > 0) {
    lines.push('  THRESHOLDS');
    for (const v of verdicts) {
      const mark = v.noData ? 'no data' : v.ok ? 'pass' : 'FAIL';
      lines.push(`    ${mark.padEnd(7)} ${v.metric}: ${v.expression}${v.observed === undefined ? '' : ` (observed ${v.observed})`}`);
    }
    lines.push('');
  }
  const checks = data.root_group?.checks ?? [];
  if (checks.length > 0) {
    lines.push('  CHECKS');
    for (const c of checks) lines.push(`    ${c.fails === 0 ? '✓' : '✗'} ${c.name} (${c.passes} passed, ${c.fails} failed)`);
    lines.push('');
  }
  lines.push('  METRICS');
  for (const [name, m] of Object.entries(data.metrics ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
    const values = Object.entries(m.values ?? {}).map(([k, v]) => `${k}=${fmt(v, k === 'rate' || k === 'count' || k === 'passes' || k === 'fails' ? undefined : m.contains)}`);
    lines.push(`    ${name.padEnd(36, '.')} ${values.join(' ')}`);
  }
  lines.push('', `  duration ${((data.state?.testRunDurationMs ?? 0) / 1000).toFixed(1)}s`, '');
  return lines.join('\n');
}
