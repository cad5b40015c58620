/**
 * The run's dialect, its description read through the runtime: lib/suite.ts builds it at init, where
 * k6 allows open(), and every later call gets the same object (lib/dialects/index.ts keeps one per
 * configuration).
 */
import { runtime } from '#runtime';
import type { Config } from './core/config.ts';
import type { Dialect } from './dialects/dialect.ts';
import { buildDialect } from './dialects/index.ts';

/** The dialect `config` names. */
export function dialectFor(config: Config): Dialect {
  return buildDialect(config, runtime.readFile);
}
