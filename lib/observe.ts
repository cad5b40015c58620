/**
 * A check that says what it saw. k6's check() records pass/fail only; when a check fails we also log
 * one line naming the scenario, the check and the observation ("expected 101, got 403"), so a red
 * CI run explains itself. Lines are capped per check and VU to keep a broken service from flooding
 * the log. Observations quote the server (close reasons, error frames, ids it sent), so every line is
 * redacted (lib/core/redact.ts) before it is printed: a hostile server cannot make wsgate print a secret.
 */
import { runtime } from '#runtime';
import { checksRun } from './metrics.ts';
import { redactorFor } from './core/redact.ts';

let redactor: ((text: string) => string) | undefined;

/** `text` without the run's secrets and anything secret-shaped (lib/core/redact.ts). */
function redact(text: string): string {
  return (redactor ??= redactorFor(runtime.env))(text);
}

/** Prints one diagnostic line, redacted: the only way scenario and library code writes to the log. */
export function warn(line: string): void {
  console.warn(redact(line));
}

const MAX_LINES_PER_CHECK = 3;
/**
 * Failure lines logged per VU and check. Keyed by VU because on the engine many VUs share this module;
 * the cap stays per VU as on k6.
 */
const logged = new Map<string, number>();

/** Records the check `name` for the current scenario; returns `ok`. */
export function expect(ok: boolean, name: string, observed: () => string): boolean {
  const vu = runtime.vu();
  const full = `${vu.scenario}: ${name}`;
  runtime.check(full, ok);
  checksRun.add(1);
  if (!ok) {
    const key = `${vu.vuIdInTest} ${full}`;
    const n = (logged.get(key) ?? 0) + 1;
    logged.set(key, n);
    if (n <= MAX_LINES_PER_CHECK) warn(`FAILED ${full} (observed: ${observed()})`);
    else if (n === MAX_LINES_PER_CHECK + 1) warn(`FAILED ${full} (further failures of this check are not logged by this VU)`);
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

export const sleepMs = (ms: number): Promise<void> => runtime.sleep(ms);

/** A user id unique to this run, scenario, VU and iteration, so concurrent checks never share users. */
export function uniqueUser(label: string): string {
  const vu = runtime.vu();
  return `wsgate-${label}-${RUN_NONCE}-${vu.vuIdInTest}-${vu.iterationInScenario}`;
}

/** Differs per run so repeated runs against one long-lived service never reuse user ids. */
const RUN_NONCE = (Date.now() % 1e8).toString(36);
