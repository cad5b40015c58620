/**
 * wsgate's engine host in this process, as a worker has it, so tests can call lib code (sessions,
 * checks, the multi-user runner) directly against real servers instead of through a whole-suite run.
 * A lib module declares its metrics when it loads, which needs the host: install it first, then import
 * the lib modules dynamically.
 *
 *   const engine = installEngineHost();
 *   const { checkIdleSurvival } = await import('../../lib/checks/idle.ts');
 *   const run = await engine.record('idle', () => checkIdleSurvival(config, tokens));
 *   assertChecks(run, { 'connection idle for 1 s is still open and alive': [1, 0] });
 *
 * Code runs as a VU (the AsyncLocalStorage store the engine sets around an iteration), so
 * runtime.vu(), a check's scenario prefix and the per-VU failure lines behave as in a run. Each
 * record() is a scenario of its own name: its checks, its samples (kept per tag set) and the lines it
 * logs are read back by that name, so runs side by side in one process do not mix.
 */
import assert from 'node:assert/strict';
import { Host } from '../../engine/host.ts';
import type { VuContext } from '../../engine/host.ts';
import type { SinkSnapshot } from '../../engine/contracts.ts';
import { mergeSinkSnapshots } from '../../engine/metrics/sinks.ts';
import { Registry } from '../../engine/metrics/registry.ts';
import { startDropRelay } from '../../cli/drop-relay-server.ts';
import type { RunningRelay } from '../../cli/drop-relay-server.ts';
import { loadConfig } from '../../lib/core/config.ts';
import type { Config } from '../../lib/core/config.ts';
import type { TokenProvider } from '../../lib/tokens.ts';
import { startTarget } from '../../reference-service/service.ts';
import type { FaultName, RunningTarget, StartTargetOptions } from '../../reference-service/service.ts';

export interface CheckCount {
  passes: number;
  fails: number;
}

/** What one record() saw. */
export interface Recorded<T> {
  /** The scenario name the run's checks and samples carry. */
  readonly scenario: string;
  /** What the body returned, per VU. */
  readonly values: T[];
  /** The run's checks by name (without the `scenario: ` prefix), with their passes and fails. */
  readonly checks: Readonly<Record<string, CheckCount>>;
  /** What each failed check observed, from its FAILED lines (three per check and VU at most, as in a run). */
  readonly observed: Readonly<Record<string, string[]>>;
  /** Every line the run logged (failures, isolation warnings), redacted as a run prints them. */
  readonly log: readonly string[];
  /** The run's samples of `name`, merged over its tag sets (counter: sum; rate: passes, total; trend: count); undefined when none. */
  metric(name: string): SinkSnapshot | undefined;
}

export interface EngineHarness {
  readonly host: Host;
  readonly registry: Registry;
  /** Runs `fn` as a fresh VU of `scenario`. */
  asVu<T>(fn: () => Promise<T>, scenario?: string): Promise<T>;
  /** Runs `fn` as `vus` fresh VUs of a new scenario named after `label`, side by side, and returns what they recorded. */
  record<T>(label: string, fn: (vu: number) => Promise<T>, opts?: { vus?: number }): Promise<Recorded<T>>;
}

/**
 * Installs the engine host (with a registry that keeps every tag set apart) before any lib module is
 * loaded. `env` is what runtime.env reads (the redaction of logged lines takes the run's secrets from it).
 */
export function installEngineHost(env: Record<string, string> = {}): EngineHarness {
  const registry = new Registry({ series: true });
  const host = new Host({ env, registry, testTags: {}, json: undefined, onAbort: () => undefined });
  host.install();
  const logs = new WeakMap<VuContext, string[]>();
  // A line logged inside a recorded VU belongs to its run; any other line is printed as usual.
  const print = console.warn.bind(console);
  console.warn = (...args: unknown[]): void => {
    const ctx = host.als.getStore();
    const log = ctx && logs.get(ctx);
    if (log) log.push(args.map(String).join(' '));
    else print(...args);
  };

  let vus = 0;
  const context = (scenario: string, iteration?: number): VuContext => {
    const vu = { idInTest: ++vus, iterationInScenario: 0 };
    return { vu, scenario, scenarioStartTime: Date.now(), iterationInTest: iteration ?? vu.idInTest, tags: { scenario }, env, resources: new Set() };
  };
  let runs = 0;

  return {
    host,
    registry,
    asVu: (fn, scenario = 'test') => host.als.run(context(scenario), fn),
    async record(label, fn, opts = {}) {
      const scenario = `${label}-${++runs}`;
      const log: string[] = [];
      const values = await Promise.all(
        Array.from({ length: opts.vus ?? 1 }, (_, i) => {
          const ctx = context(scenario, i);
          logs.set(ctx, log);
          return host.als.run(ctx, () => fn(i));
        }),
      );
      return recorded(registry, scenario, values, log);
    },
  };
}

function recorded<T>(registry: Registry, scenario: string, values: T[], log: string[]): Recorded<T> {
  const snapshot = registry.snapshot();
  const prefix = `${scenario}: `;
  const checks: Record<string, CheckCount> = {};
  for (const [name, c] of Object.entries(snapshot.checks)) if (name.startsWith(prefix)) checks[name.slice(prefix.length)] = { ...c };
  const observed: Record<string, string[]> = {};
  const failed = `FAILED ${prefix}`;
  for (const line of log) {
    const at = line.indexOf(' (observed: ');
    if (!line.startsWith(failed) || at < 0) continue;
    (observed[line.slice(failed.length, at)] ??= []).push(line.slice(at + ' (observed: '.length, -1));
  }
  const series = snapshot.series ?? [];
  return {
    scenario,
    values,
    checks,
    observed,
    log,
    metric(name) {
      const mine = series.filter((s) => s.metric === name && s.tags['scenario'] === scenario).map((s) => s.sink);
      return mine.length > 0 ? mergeSinkSnapshots(mine) : undefined;
    },
  };
}

/** A rate metric's passes and samples in `run`, [0, 0] when it has none. */
export function rateOf(run: Recorded<unknown>, name: string): [passes: number, total: number] {
  const s = run.metric(name);
  return [s?.passes ?? 0, s?.total ?? 0];
}

/** Each check `run` recorded, exactly: name -> [passes, fails]. A check missing or extra fails too. */
export function assertChecks(run: Recorded<unknown>, expected: Record<string, [passes: number, fails: number]>): void {
  const got = Object.fromEntries(Object.entries(run.checks).map(([name, c]) => [name, [c.passes, c.fails]]));
  assert.deepEqual(got, expected, `checks of ${run.scenario}; its log:\n${run.log.join('\n')}`);
}

/** `check` failed in `run`, and one of its observations matches `observed`. */
export function assertFailed(run: Recorded<unknown>, check: string, observed: RegExp): void {
  const c = run.checks[check];
  assert.ok(c && c.fails > 0, `"${check}" failed in ${run.scenario}; its checks: ${JSON.stringify(run.checks)}`);
  const lines = run.observed[check] ?? [];
  assert.ok(lines.some((l) => observed.test(l)), `"${check}" observed ${observed}; it observed:\n${lines.join('\n')}`);
}

// ---- the reference service, with the configuration a check gets in a run -----------------------------

export const SECRET = 'engine-host-secret-0123456789abcdef-0123';
const ORIGIN = 'http://localhost';

/**
 * Short timings, so a check waits for nothing production-sized: the service pings a silent client
 * after 0.5 s and reaps it at 1.5 s (the config's heartbeat timeout), the idle_timeout fault cuts at
 * 0.5 s of an idle hold of 1 s. A run has 3 s to complete (a healthy one takes 50 ms): tests run side
 * by side on a shared machine, and only a run that never completes waits that long.
 */
const TIMINGS = {
  WSGATE_IDLE_HOLD_S: '1',
  WSGATE_AGENT_DEADLINE_MS: '3000',
  WSGATE_AGENT_SETTLE_MS: '100',
  WSGATE_HEALTH_CONNECTIONS: '3',
  WSGATE_JWT_SYNC_USERS: '2',
  WSGATE_LEAK_CONNECTIONS: '4',
  WSGATE_LEAK_SETTLE_MS: '1000',
  WSGATE_HEARTBEAT_TIMEOUT_MS: '1500',
  WSGATE_REAP_MARGIN_MS: '1000',
  WSGATE_BLACKHOLE_CONNECTIONS: '2',
  WSGATE_REFRESH_TTL_S: '2',
};

export interface Reference {
  target: RunningTarget;
  /** Where the drop relay is, when asked for: the config's relay variables point at it. */
  relay: RunningRelay | undefined;
  config: Config;
  tokens: TokenProvider;
}

/**
 * The reference service with `faults` on loopback (port 0), the configuration of a local run pointed
 * at it (TIMINGS, then `vars`), and its token source; with `relay`, a drop relay in front of it. `t`'s
 * after() closes them. Call it after installEngineHost() (the token source is lib code).
 */
export async function startReference(
  t: { after(fn: () => Promise<void>): void },
  faults: readonly FaultName[],
  opts: { relay?: boolean; vars?: Record<string, string>; service?: StartTargetOptions } = {},
): Promise<Reference> {
  const vars: Record<string, string> = { WSGATE_ENV: 'local', WSGATE_ORIGIN: ORIGIN, WSGATE_JWT_SECRET: SECRET, ...TIMINGS, ...opts.vars };
  const heartbeatTimeoutS = Number(vars['WSGATE_HEARTBEAT_TIMEOUT_MS']) / 1000;
  const target = await startTarget({
    host: '127.0.0.1',
    authSecret: SECRET,
    backendSecret: SECRET,
    allowedOrigins: [ORIGIN],
    faults,
    heartbeatTimeoutS,
    heartbeatIntervalS: heartbeatTimeoutS / 3,
    idleTimeoutS: Number(vars['WSGATE_IDLE_HOLD_S']) / 2,
    // rare_late_run completes its runs a second after the deadline, as the CLI starts the service.
    lateRunMs: Number(vars['WSGATE_AGENT_DEADLINE_MS']) + 1000,
    // The rare faults' hits land at the same places every run.
    faultSeed: 7,
    ...opts.service,
  });
  t.after(() => target.close());
  let relay: RunningRelay | undefined;
  if (opts.relay) {
    const r = (relay = await startDropRelay({ upstream: target.wsUrl }));
    t.after(() => r.close());
    const relayed = new URL(target.wsUrl);
    relayed.host = r.address;
    vars['WSGATE_DROP_RELAY_WS_URL'] = relayed.toString();
    vars['WSGATE_DROP_RELAY_CONTROL_URL'] = r.controlUrl;
  }
  const config = loadConfig({ ...vars, WSGATE_WS_URL: target.wsUrl, WSGATE_HTTP_URL: target.httpUrl, WSGATE_AUTH_URL: target.authUrl });
  const { createTokenProvider } = await import('../../lib/tokens.ts');
  return { target, relay, config, tokens: createTokenProvider(config) };
}
