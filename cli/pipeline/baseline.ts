/**
 * Baselines: what `wsgate pre` measured, kept per environment (default results/baselines/<env>.json)
 * for `wsgate post` to compare against. Written atomically (a temporary file in the same directory,
 * then a rename), so a post run in another job never reads half a baseline.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../../lib/core/errors.ts';
import type { SuiteResult } from '../../lib/core/summary.ts';
import { writeAtomically } from './files.ts';

export interface Baseline {
  wsgate_baseline_version: 1;
  env: string;
  saved_at: string;
  /** The run directory the baseline came from, as the pre run printed it. */
  source: string;
  validation: SuiteResult;
  regression: SuiteResult | null;
}

function baselinePath(dir: string, env: string): string {
  return join(dir, `${env}.json`);
}

/** Writes the baseline atomically; returns its path. */
export function saveBaseline(dir: string, baseline: Baseline): string {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new ConfigError(`the baseline directory ${dir} cannot be created (${(err as NodeJS.ErrnoException).code ?? String(err)}); choose a writable --baseline-dir`);
  }
  const path = baselinePath(dir, baseline.env);
  try {
    writeAtomically(path, JSON.stringify(baseline, null, 2) + '\n');
  } catch (err) {
    throw new ConfigError(`the baseline ${path} cannot be written (${(err as NodeJS.ErrnoException).code ?? String(err)}); choose a writable --baseline-dir`);
  }
  return path;
}

/** Reads a baseline; undefined when there is none; a ConfigError when it is unreadable or not a baseline. */
export function loadBaseline(dir: string, env: string): { path: string; baseline: Baseline } | undefined {
  const path = baselinePath(dir, env);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigError(`the baseline ${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  let doc: Partial<Baseline>;
  try {
    doc = JSON.parse(text) as Partial<Baseline>;
  } catch {
    throw new ConfigError(`the baseline ${path} is not valid JSON; run wsgate pre --env ${env} again to replace it`);
  }
  if (doc.wsgate_baseline_version !== 1 || typeof doc.validation !== 'object' || doc.validation === null) {
    throw new ConfigError(`${path} is not a wsgate baseline (version 1); run wsgate pre --env ${env} again to replace it`);
  }
  if (doc.env !== env) {
    throw new ConfigError(`the baseline ${path} belongs to env "${String(doc.env)}", not "${env}"; run wsgate pre --env ${env}`);
  }
  return { path, baseline: doc as Baseline };
}
