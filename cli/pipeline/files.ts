/**
 * How `wsgate pre` and `wsgate post` write files: a fresh directory per run, outputs whose failure is
 * one sentence, and the files another process reads while a run may be writing them (the baseline, the
 * decision file) replaced atomically.
 */
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ConfigError } from '../../lib/core/errors.ts';

const reason = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? String(err);

/**
 * Writes `text` through a temporary file in the same directory and a rename, so a reader in another
 * process (a post run reading a baseline, a hook reading a decision) sees the old content or the new,
 * never half of either. Throws the file system's error; callers name the flag to change.
 */
export function writeAtomically(path: string, text: string): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  try {
    writeFileSync(tmp, text, { mode: 0o644 });
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** Writes an output of the run (creating its directory); a ConfigError when it cannot. */
export function writeOut(path: string, text: string): void {
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
  } catch (err) {
    throw new ConfigError(`${path} cannot be written (${reason(err)}); choose a writable path`);
  }
}

/** A fresh directory for one run; a second run in the same second gets -2, -3, ... */
export function makeRunDir(resultsDir: string, name: string): string {
  try {
    mkdirSync(resultsDir, { recursive: true });
    for (let i = 1; ; i++) {
      const dir = join(resultsDir, i === 1 ? name : `${name}-${i}`);
      try {
        mkdirSync(dir);
        return dir;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || i >= 100) throw err;
      }
    }
  } catch (err) {
    throw new ConfigError(`a run directory cannot be created in ${resultsDir} (${reason(err)}); choose a writable --results-dir`);
  }
}
