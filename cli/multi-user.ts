/**
 * `wsgate multi-user`: the multi-user framework (scenarios/multi-user.ts) from the command line. Flags
 * become the WSGATE_MULTI_* variables lib/core/config.ts reads, so a run here and a plain `wsgate run` or `k6 run` with
 * those variables are the same run. The shared machinery (flags, bundle, k6, embedded service, exit
 * code) is cli/suite-run.ts, as for `wsgate validate`.
 *
 * `--instances N` splits one run over N k6 processes on this machine (execution segments), for more
 * connections than one process may hold; they share the plan's nonce and ramp clock, so together
 * they are the same test as one process would run. Each judges its own thresholds and writes its own
 * results (k6 has no merged verdict across processes; building one from their samples is future work).
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { Config } from '../lib/core/config.ts';
import { BUSINESS_SCENARIOS, loadConfig } from '../lib/core/config.ts';
import { redactUrl } from '../lib/core/url.ts';
import { ConfigError } from '../lib/core/errors.ts';
import { MAX_WORKERS } from '../reference-service/cluster.ts';
import { ALL_FAULT_NAMES } from '../reference-service/service.ts';
import { UsageError } from './errors.ts';
import { MAX_INSTANCES, formatLocalIps, instanceFile, parseLocalIps, shares, worstExit } from './instances.ts';
import type { InstanceShare } from './instances.ts';
import type { Io } from './io.ts';
import { EXIT, say } from './io.ts';
import { NETWORK_JITTER_USAGE, SUITE_OPTIONS_USAGE, runSuite, runSuiteCommand, suiteCommand, verdict } from './suite-run.ts';
import type { PreparedRun, SuiteArgs, SuiteRun, Vars } from './suite-run.ts';

const SCENARIO = 'multi-user';

/** How long before the shared ramp start the instances are started: k6 start-up and VU init. */
const RAMP_LEAD_MS = 3000;
const RAMP_LEAD_PER_VU_MS = 40;

export const MULTI_USER_USAGE = `Usage: wsgate multi-user [--env NAME] [options]

Runs the multi-user scenario: many authenticated users at once, each checked to receive
exactly what was meant for them (scenarios/multi-user.ts), and exits with its verdict:
0 pass, 1 fail, 2 usage/config, 3 unreachable, 4 error, 130 interrupted.

Options:
${SUITE_OPTIONS_USAGE}
  --scenario NAME        what the users do: ${BUSINESS_SCENARIOS.join(', ')}
  --users N              users in the whole run, one connection each
  --duration D           how long connections are held after the ramp (k6 duration: 90s, 5m)
  --group-size N         users per group (chat patterns and agent runs happen inside groups)
  --messages N           messages per sender per pattern, and agent runs per agent user
  --connections-per-vu N users one VU holds on its event loop
  --ramp-per-s N         connections opened per second over the whole run
  --agent-percent N      with --scenario mixed: percentage of groups that run agents
                         (each of these defaults to the preset in config/environments.json)
  --embedded-target      start the reference service on random loopback ports and test it
  --workers N            with --embedded-target: its backend's worker processes (default 1)
  --fault NAME           with --embedded-target: play a regression; repeatable. One of:
                         ${ALL_FAULT_NAMES.join(', ')}
${NETWORK_JITTER_USAGE}
  --instances N          split the run over N processes (execution segments), for more connections
                         than one process may hold (its open-files limit). On the wsgate engine
                         they are its worker processes (default: one per core) and the verdict is
                         judged on their merged data. With --engine k6, N k6 processes share the
                         plan and its clock; each writes its own results (<name>-iKofN) and prints
                         its own verdict, the exit code is the worst of theirs (wsgate merge
                         judges their samples as one run).
  --local-ips RANGE      source addresses to connect from, e.g. 127.0.0.1-127.0.0.4 (k6's
                         --local-ips): one address reaches one server port from ~28k ports at
                         most. Each process gets its own slice.
  -h, --help             print this help

Environment: as wsgate validate (WSGATE_JWT_SECRET, WSGATE_AUTH_PASSWORD, ...), and every
WSGATE_MULTI_* variable the flags above set (WSGATE_MULTI_USERS, ...).

Example, 50,000 connections on one machine:
  wsgate multi-user --embedded-target --workers 4 --scenario stress_concurrent_connections \\
    --users 50000 --connections-per-vu 500 --ramp-per-s 700 --duration 60s \\
    --instances 4 --local-ips 127.0.0.1-127.0.0.4
`;

const OPTIONS = {
  scenario: { type: 'string' },
  users: { type: 'string' },
  duration: { type: 'string' },
  'group-size': { type: 'string' },
  messages: { type: 'string' },
  'connections-per-vu': { type: 'string' },
  'ramp-per-s': { type: 'string' },
  'agent-percent': { type: 'string' },
  workers: { type: 'string' },
  instances: { type: 'string' },
  'local-ips': { type: 'string' },
} as const;

/** Flag -> the variable lib/core/config.ts reads. */
const MULTI_FLAGS = {
  scenario: 'WSGATE_MULTI_SCENARIO',
  users: 'WSGATE_MULTI_USERS',
  duration: 'WSGATE_MULTI_DURATION',
  'group-size': 'WSGATE_MULTI_GROUP_SIZE',
  messages: 'WSGATE_MULTI_MESSAGES',
  'connections-per-vu': 'WSGATE_MULTI_CONNECTIONS_PER_VU',
  'ramp-per-s': 'WSGATE_MULTI_RAMP_PER_S',
  'agent-percent': 'WSGATE_MULTI_AGENT_PERCENT',
} as const;

function count(flag: string, value: string | undefined, max: number): number {
  if (value === undefined) return 1;
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > max) throw new UsageError(`--${flag} is "${value}"; it must be a whole number from 1 to ${max}`);
  return n;
}

/** Parses the configuration; a bad value set by a flag is reported under the flag's name. */
function configFrom(vars: Vars, given: readonly string[]): Config {
  try {
    return loadConfig(vars);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const flag of given) {
      const variable = MULTI_FLAGS[flag as keyof typeof MULTI_FLAGS];
      if (err.message.startsWith(`${variable} `)) throw new UsageError(`--${flag}${err.message.slice(variable.length)}`);
    }
    throw err;
  }
}

/** A stream that prefixes every line written to `to` with `prefix` (one instance's k6 output). */
function prefixed(to: NodeJS.WritableStream, prefix: string): Writable {
  let partial = '';
  return new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      if (lines.length) to.write(lines.map((l) => `${prefix}${l}\n`).join(''));
      done();
    },
    final(done) {
      if (partial) to.write(`${prefix}${partial}\n`);
      done();
    },
  });
}

/** One instance's copy of the prepared run: its own stamp, result files, output file and label. */
function instanceRun(run: PreparedRun, share: InstanceShare): PreparedRun {
  const tag = `i${share.index}of${share.count}`;
  const stamp = `${run.stamp}-${tag}`;
  const base = `${run.results.json.slice(0, -'.json'.length)}-${tag}`;
  return {
    ...run,
    stamp,
    results: { json: `${base}.json`, junit: `${base}.junit.xml` },
    plan: { ...run.plan, outputFile: run.plan.outputFile === undefined ? undefined : instanceFile(run.plan.outputFile, share) },
    label: `${run.suite} (env ${run.env}, instance ${share.index}/${share.count})`,
  };
}

/** Who does what, how many processes share the run, and where they connect from. */
interface MultiUserPlan {
  readonly config: Config;
  readonly workers: number;
  readonly instances: number;
  readonly localIps: string[] | undefined;
  readonly parts: InstanceShare[];
  /** VUs of the whole run, over which the instances share the ramp. */
  readonly vus: number;
}

type MultiUserRun = SuiteRun<typeof OPTIONS, MultiUserPlan>;

/** The flags become the WSGATE_MULTI_* variables; the scale flags are checked against the plan. */
function planMultiUser({ values, vars }: SuiteArgs<typeof OPTIONS>): MultiUserPlan {
  if (values.scenario !== undefined && !(BUSINESS_SCENARIOS as readonly string[]).includes(values.scenario)) {
    throw new UsageError(`--scenario is "${values.scenario}"; choose one of ${BUSINESS_SCENARIOS.join(', ')}`);
  }
  const workers = count('workers', values.workers, MAX_WORKERS);
  const instances = count('instances', values.instances, MAX_INSTANCES);
  const localIps = values['local-ips'] === undefined ? undefined : parseLocalIps(values['local-ips']);
  const given: string[] = [];
  for (const [flag, variable] of Object.entries(MULTI_FLAGS)) {
    const value = values[flag as keyof typeof MULTI_FLAGS];
    if (value === undefined) continue;
    vars[variable] = value;
    given.push(flag);
  }
  const config = configFrom(vars, given);
  const vus = Math.ceil(config.multi.users / config.multi.connectionsPerVu);
  if (instances > vus) {
    throw new UsageError(
      `--instances ${instances} is more than the run's ${vus} VU(s) (${config.multi.users} users, ${config.multi.connectionsPerVu} per VU); use at most ${vus} instances or fewer connections per VU`,
    );
  }
  return { config, workers, instances, localIps, parts: shares(instances, localIps), vus };
}

/** The engine splits the run over its worker processes itself; k6 runs one process, or one per instance. */
async function runMultiUser(r: MultiUserRun): Promise<number> {
  const { plan, run, vars, env, io } = r;
  if (run.engine.kind === 'wsgate') {
    // The engine splits the run over its worker processes itself (execution segments, one
    // --local-ips slice each) and judges the merged data: one process, one verdict.
    const args = [...(plan.instances > 1 ? ['--workers', String(plan.instances)] : []), ...(plan.localIps ? ['--local-ips', formatLocalIps(plan.localIps)] : [])];
    return verdict(await runSuite(run, vars, env, io, args), run, io);
  }
  if (plan.instances === 1) {
    const args = plan.parts[0]?.localIps === undefined ? [] : ['--local-ips', plan.parts[0].localIps];
    return verdict(await runSuite(run, vars, env, io, args), run, io);
  }
  return runK6Instances(r);
}

/** N k6 processes, one share of the plan each, on one clock; the exit code is the worst of theirs. */
async function runK6Instances({ plan, run, vars, env, io }: MultiUserRun): Promise<number> {
  const { instances, parts, vus } = plan;
  // Every instance computes the same plan (nonce) and ramps on the same clock (ramp start).
  const shared: Vars = {
    ...vars,
    WSGATE_MULTI_NONCE: randomBytes(6).toString('hex'),
    WSGATE_MULTI_RAMP_START: String(Date.now() + RAMP_LEAD_MS + Math.ceil(vus / instances) * RAMP_LEAD_PER_VU_MS),
  };
  const runs = parts.map((share) => ({ share, run: instanceRun(run, share) }));
  // Each k6 process forwards Ctrl-C through a listener of its own.
  process.setMaxListeners(Math.max(process.getMaxListeners(), 10 + 2 * instances));
  const exits = await Promise.all(
    runs.map(({ share, run: own }) => {
      const prefix = `[${share.index}/${share.count}] `;
      const ownIo: Io = { stdout: prefixed(io.stdout, prefix), stderr: prefixed(io.stderr, prefix) };
      const args = ['--execution-segment', share.segment, '--execution-segment-sequence', share.sequence];
      if (share.localIps !== undefined) args.push('--local-ips', share.localIps);
      return runSuite(own, shared, env, ownIo, args).finally(() => {
        ownIo.stdout.end();
        ownIo.stderr.end();
      });
    }),
  );
  const codes = runs.map(({ run: own }, i) => verdict(exits[i] ?? { code: null, signal: null, interrupted: false }, own, io));
  const worst = worstExit(codes);
  const word = worst === EXIT.PASS ? 'PASS' : worst === EXIT.FAIL ? 'FAIL' : worst === EXIT.INTERRUPTED ? 'INTERRUPTED' : 'ERROR';
  say(io.stdout, `${word} ${run.label} over ${instances} instances: the worst of their verdicts (each judged its own share; no merged verdict yet)`);
  return worst;
}

/** The multi-user scenario, declared: its flags as WSGATE_MULTI_* variables, workers for the service, instances. */
const MULTI_USER = suiteCommand({
  name: 'multi-user',
  suite: SCENARIO,
  usage: MULTI_USER_USAGE,
  options: OPTIONS,
  verb: 'test',
  embeddedOnly: (values) => ({ workers: values.workers }),
  plan: planMultiUser,
  service: (plan) => ({ workers: plan.workers }),
  describe({ config, plan, what, run }) {
    const m = config.multi;
    return [
      `multi-user ${m.scenario} on env ${config.env}: ${m.users} users (${m.connectionsPerVu} per VU, ${m.rampPerS}/s), held ${m.duration}, ` +
        `against ${what} at ${redactUrl(config.wsUrl)} on the ${run.engine.label}${plan.instances > 1 ? ` in ${plan.instances} instances` : ''}`,
    ];
  },
  execute: runMultiUser,
});

/** Runs `wsgate multi-user <argv...>`; resolves with the exit code (EXIT in io.ts). */
export function multiUser(argv: string[], env: NodeJS.ProcessEnv, io: Io): Promise<number> {
  return runSuiteCommand(MULTI_USER, argv, env, io);
}
