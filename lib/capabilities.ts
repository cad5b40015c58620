/**
 * What a check needs, and whether this run has it. A check whose need is missing is "not applicable"
 * with the reason (console, JSON, JUnit skipped, report): never a pass, never a configuration error
 * that stops the rest of the suite. The README's capability table is written from NEEDS_TEXT.
 */
import { runtime } from '#runtime';
import type { Config } from './core/config.ts';
import { dialectFor } from './dialect-for.ts';
import { checksRun } from './metrics.ts';
import { NOT_APPLICABLE } from './core/summary.ts';
import { NEEDS_TEXT } from './core/needs.ts';
import type { Need } from './core/needs.ts';

/** The needs this run lacks, as phrases. */
export function missing(config: Config, needs: readonly Need[]): string[] {
  const dialect = dialectFor(config);
  const out: string[] = [];
  for (const n of needs) {
    if (n === 'jwt-secret') {
      if (!config.jwtSecret) out.push(`needs ${NEEDS_TEXT[n]}`);
    } else if (n === 'drop-relay') {
      if (!config.dropRelayWsUrl || !config.dropRelayControlUrl) out.push(`needs ${NEEDS_TEXT[n]}`);
    } else if (!dialect.capabilities.has(n)) out.push(`the ${dialect.name} dialect has no ${NEEDS_TEXT[n]}`);
  }
  return out;
}

/**
 * Whether this run has every one of `needs`: for a part of a scenario that only some dialects can
 * play (the personal-stream guard inside the isolation scenarios). The whole scenario's needs go to
 * suite.step, which reports a scenario without them as not applicable.
 */
export function applicable(config: Config, needs: readonly Need[]): boolean {
  return missing(config, needs).length === 0;
}

/** Records that the current scenario could not run, and why; counts as "checked" for count>0. */
export function notApplicable(reasons: readonly string[]): void {
  const vu = runtime.vu();
  runtime.check(`${vu.scenario}: ${NOT_APPLICABLE}${reasons.join('; ')}`, true);
  checksRun.add(1);
}
