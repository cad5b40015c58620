/**
 * What every suite does at init and setup: parse the configuration once, build the token source and
 * the thresholds, and refuse to start against a bad configuration or an unreachable target.
 *
 * A bad configuration must read as one sentence, not a stack trace, on the engine and under plain
 * `k6 run` alike: init code keeps the error, and setup() aborts the test with it (exit code 108).
 */
import { runtime } from '#runtime';
import type { Options, Scenario } from './runtime/options.ts';
import { loadConfig } from './core/config.ts';
import { redactUrl } from './core/url.ts';
import type { Config } from './core/config.ts';
import { WsgateError } from './core/errors.ts';
import { guarded } from './observe.ts';
import { missing, notApplicable } from './capabilities.ts';
import { dialectFor } from './dialect-for.ts';
import type { Need } from './core/needs.ts';
import { thresholdsFor } from './core/thresholds.ts';
import type { ThresholdFile } from './core/thresholds.ts';
import { createTokenProvider } from './tokens.ts';
import type { TokenProvider } from './tokens.ts';

/**
 * k6's default system tags without the two that can carry a secret into every sample: `subproto` is
 * whatever subprotocol the server selected (a hostile server can echo `jwt.<token>`), and `error` is
 * Go's error text, which quotes the full URL (user info, query string). The engine never records them.
 */
const SAFE_SYSTEM_TAGS = ['proto', 'status', 'method', 'url', 'name', 'group', 'check', 'error_code', 'tls_version', 'scenario', 'service', 'expected_response'];

/** What setup() hands every VU: small on purpose, since k6 copies it into each one. */
export interface SetupData {
  /** Shared by all VUs of this run, for user ids and rooms that several VUs must agree on. */
  nonce: string;
}

export interface Suite {
  name: string;
  config: Config | undefined;
  tokens: TokenProvider | undefined;
  /** The one-sentence reason the suite cannot run, if any. */
  error: string | undefined;
  /** Upper bound for any one scenario, from the slowest thing it waits for. */
  maxDuration: string;
  options(scenarios: Record<string, Scenario>): Options;
  /**
   * A scenario's exec function: the body gets the parsed config and token source, and an exception
   * becomes a failed check with its message rather than an iteration that records nothing.
   */
  step(body: (config: Config, tokens: TokenProvider, data: SetupData) => Promise<void>, needs?: readonly Need[]): (data: SetupData) => Promise<void>;
}

/**
 * @param scenarioNames the scenarios this run has (each gets its checks thresholds), or a function
 *   of the configuration that picks them and may throw ConfigError for suite-specific demands
 */
export function loadSuite(
  name: string,
  thresholdFile: ThresholdFile,
  scenarioNames: string[] | ((config: Config) => string[]),
  opts: { everyCheckMustPass?: boolean } = {},
): Suite {
  let config: Config | undefined;
  let tokens: TokenProvider | undefined;
  let thresholds: Record<string, string[]> = {};
  let error: string | undefined;
  try {
    config = loadConfig(runtime.env);
    // Built now, at init: the json dialect reads its file (k6 allows that only at init), and a bad
    // description is then the suite's one-sentence error rather than a failure in every scenario.
    dialectFor(config);
    const names = typeof scenarioNames === 'function' ? scenarioNames(config) : scenarioNames;
    thresholds = thresholdsFor(thresholdFile, name, config.env, names, opts.everyCheckMustPass ?? true);
    tokens = createTokenProvider(config);
  } catch (e) {
    if (!(e instanceof WsgateError)) throw e;
    error = e.message;
  }
  const maxS = config ? config.idleHoldS + Math.ceil(config.agentDeadlineMs / 1000) + 60 : 60;
  return {
    name,
    config,
    tokens,
    error,
    maxDuration: `${maxS}s`,
    options: (scenarios) => ({
      scenarios,
      thresholds,
      summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)', 'count'],
      systemTags: SAFE_SYSTEM_TAGS,
      setupTimeout: '30s',
    }),
    step: (body, needs = []) => (data) =>
      guarded(async () => {
        // setup() aborts the test before any scenario when either is missing
        if (!config || !tokens) throw new Error(error ?? 'the suite is not configured');
        const lacking = missing(config, needs);
        if (lacking.length > 0) return notApplicable(lacking);
        await body(config, tokens, data);
      }),
  };
}

/**
 * setup(): aborts the test, before any scenario starts, when it cannot meaningfully run; otherwise
 * returns the data every VU shares.
 */
export async function preflight(suite: Suite): Promise<SetupData> {
  const data: SetupData = { nonce: Date.now().toString(36) + Math.floor(Math.random() * 1e6).toString(36) };
  if (suite.error || !suite.config) {
    runtime.abort(`wsgate: ${suite.error ?? 'no configuration'}`);
  }
  // Reachability only: any HTTP answer from the backend will do (its health is a check of its own).
  const res = await runtime.http({ method: 'GET', url: suite.config.httpUrl, timeoutMs: 5000 });
  if (res.status === 0) {
    runtime.abort(
      `wsgate: the chat backend at ${redactUrl(suite.config.httpUrl)} is unreachable (${res.error}); check WSGATE_HTTP_URL and that the service is running`,
    );
  }
  return data;
}
