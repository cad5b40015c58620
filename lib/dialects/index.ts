/**
 * The dialect a configuration names (config.dialect), built once per configuration. Adding a dialect:
 * a module in this folder implementing Dialect (dialect.ts), a line here, and its server in the
 * conformance suite (test/dialects/conformance.test.ts).
 */
import { runtime } from '#runtime';
import type { Config } from '../config.ts';
import { SUPPORTED_DIALECTS } from '../config.ts';
import { ConfigError } from '../errors.ts';
import { centrifugo } from './centrifugo.ts';
import type { Dialect } from './dialect.ts';
import { jsonDialectFromFile } from './json.ts';
import { wsgateChat } from './wsgate-chat.ts';

const built = new WeakMap<Config, Dialect>();

export function dialectFor(config: Config): Dialect {
  let d = built.get(config);
  if (!d) {
    d = build(config);
    built.set(config, d);
  }
  return d;
}

function build(config: Config): Dialect {
  switch (config.dialect) {
    case 'wsgate-chat':
      return wsgateChat;
    case 'json':
      // Read through the runtime: lib/suite.ts builds the dialect at init, where k6 allows open().
      return jsonDialectFromFile(config.dialectFile, runtime.readFile);
    case 'centrifugo':
      return centrifugo;
    default:
      // loadConfig only accepts SUPPORTED_DIALECTS, so this is reached only by a hand-made Config.
      throw new ConfigError(`dialect "${config.dialect}" is not one this build has; use one of ${SUPPORTED_DIALECTS.join(', ')}`);
  }
}
