/**
 * The dialect a configuration names (config.dialect), built once per configuration. Pure: the json
 * dialect's description is read through `readFile`, which the caller provides (the runtime's, in a
 * suite: lib/dialect-for.ts; node:fs in the CLI). Adding a dialect: a module in this folder
 * implementing Dialect (dialect.ts), a line here, and its server in the conformance suite
 * (test/dialects/conformance.test.ts).
 */
import type { Config } from '../core/config.ts';
import { SUPPORTED_DIALECTS } from '../core/config.ts';
import { ConfigError } from '../core/errors.ts';
import { centrifugo } from './centrifugo.ts';
import type { Dialect } from './dialect.ts';
import { jsonDialectFromFile } from './json.ts';
import { wsgateChat } from './wsgate-chat.ts';

const built = new WeakMap<Config, Dialect>();

export function buildDialect(config: Config, readFile: (path: string) => string): Dialect {
  let d = built.get(config);
  if (!d) {
    d = build(config, readFile);
    built.set(config, d);
  }
  return d;
}

function build(config: Config, readFile: (path: string) => string): Dialect {
  switch (config.dialect) {
    case 'wsgate-chat':
      return wsgateChat;
    case 'json':
      return jsonDialectFromFile(config.dialectFile, readFile);
    case 'centrifugo':
      return centrifugo;
    default:
      // loadConfig only accepts SUPPORTED_DIALECTS, so this is reached only by a hand-made Config.
      throw new ConfigError(`dialect "${config.dialect}" is not one this build has; use one of ${SUPPORTED_DIALECTS.join(', ')}`);
  }
}
