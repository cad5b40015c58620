// Shared by the k6 probes the tests bundle (runs inside k6).
import { runtime } from '#runtime';

/** 'ok', or the thrown error's code (jose's ERR_*) or text; a synchronous throw counts as an error too. */
export async function outcome(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
    return 'ok';
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
}

/** What a probe's test reads: each check's passes and fails, and what setup() returned (k6 hands it to handleSummary). */
export interface ProbeSummary {
  checks: { name: string; passes: number; fails: number }[];
  setup: unknown;
}

/** handleSummary for a probe: its checks and setup data as JSON at PROBE_SUMMARY, for the test to read instead of k6's human summary. */
export function probeSummary(data: { root_group: { checks: ProbeSummary['checks'] }; setup_data?: unknown }): Record<string, string> {
  const summary: ProbeSummary = { checks: data.root_group.checks, setup: data.setup_data ?? null };
  return { [runtime.env['PROBE_SUMMARY'] ?? 'probe-summary.json']: JSON.stringify(summary) };
}
