/**
 * `--decision-file FILE` of `wsgate pre` and `wsgate post`: the run's outcome as one word on one line,
 * for hooks that see only zero or non-zero of an exit code. Flagger's load tester answers 500 for every
 * non-zero exit, so there hold (1), rollback (5) and could-not-run (2/3/4/130) look alike; a `rollback`
 * webhook that reads this file tells them apart (deploy/flagger/canary.yaml).
 *
 * The word is the exit code's meaning: 0 proceed, 1 hold, 5 rollback, anything else could-not-run (so
 * pre, which never exits 5, never writes rollback). The file is written when the run starts, saying
 * could-not-run until the run decides, so a run that dies, or stops on a bad flag, a bad policy or an
 * unreachable target, never leaves the previous run's word behind. Every write is atomic.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConfigError } from '../../lib/core/errors.ts';
import { EXIT } from '../io.ts';
import { writeAtomically } from './files.ts';

const DECISION_WORDS = ['proceed', 'hold', 'rollback', 'could-not-run'] as const;
export type DecisionWord = (typeof DECISION_WORDS)[number];

/** The word for an exit code of wsgate pre or post. */
export function decisionWord(code: number): DecisionWord {
  if (code === EXIT.PASS) return 'proceed';
  if (code === EXIT.FAIL) return 'hold';
  if (code === EXIT.ROLLBACK) return 'rollback';
  return 'could-not-run';
}

/** Writes the word to the decision file (creating its directory); a ConfigError when it cannot. */
export function writeDecision(path: string, word: DecisionWord): void {
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeAtomically(path, `${word}\n`);
  } catch (err) {
    throw new ConfigError(`--decision-file ${path} cannot be written (${(err as NodeJS.ErrnoException).code ?? String(err)}); choose a writable path`);
  }
}
