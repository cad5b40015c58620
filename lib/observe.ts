/**
 * A check that says what it saw. k6's check() records pass/fail only; when a check fails we also log
 * one line naming the scenario, the check and the observation ("expected 101, got 403"), so a red
 * CI run explains itself. Lines are capped per check and VU to keep a broken service from flooding
 * the log.
 */
import { check } from 'k6';
import exec from 'k6/execution';
import { checksRun } from './metrics.ts';

const MAX_LINES_PER_CHECK = 3;
const logged: Record<string, number> = {};

/** Records the check `name` for the current scenario; returns `ok`. */
export function expect(ok: boolean, name: string, observed: () => string): boolean {
  const scenario = exec.scenario.name;
  const full = `${scenario}: ${name}`;
  check(null, { [full]: () => ok });
  checksRun.add(1);
  if (!ok) {
    const n = (logged[full] ?? 0) + 1;
    logged[full] = n;
    if (n <= MAX_LINES_PER_CHECK) console.warn(`FAILED ${full} (observed: ${observed()})`);
    else if (n === MAX_LINES_PER_CHECK + 1) console.warn(`FAILED ${full} (further failures of this check are not logged by this VU)`);
  }
  return ok;
}

/**
 * Runs a scenario body so that an exception becomes a failed check with its message, instead of
 * an iteration that silently records nothing.
 */
export async function guarded(body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (e) {
    expect(false, 'scenario runs to the end without an exception', () => (e instanceof Error ? e.message : String(e)));
  }
}

export const sleepMs = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(() => resolve(), ms));

/** A user id unique to this run, scenario, VU and iteration, so concurrent checks never share users. */
export function uniqueUser(label: string): string {
  return `wsgate-${label}-${RUN_NONCE}-${exec.vu.idInTest}-${exec.vu.iterationInScenario}`;
}

/** Differs per run so repeated runs against one long-lived service never reuse user ids. */
const RUN_NONCE = (Date.now() % 1e8).toString(36);
