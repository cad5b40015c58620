/**
 * Benchmark 4, peer: the same connection workload and the same message workload driven by wsgate's
 * multi-user scenario and by Artillery's WebSocket engine (`engine: ws`, Node's `ws` client), one after
 * the other against a fresh reference service each. wsgate runs on its own engine, and on k6 too when
 * WSGATE_K6 names one (skipped with one line otherwise).
 * Goal: at least 2x Artillery in connections per GB of generator memory and in messages per
 * generator CPU-second, on wsgate's engine (the verdict); k6's ratios are reported.
 *
 * Artillery is not a dependency of this project: every artillery 2.x depends on Playwright's
 * Chromium package, whose install script downloads a browser, which this network refuses (and the
 * current 2.0.34 needs Node >= 22.18). So this benchmark installs artillery@2.0.21 itself into
 * wsgate's tools cache with PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1, or uses WSGATE_BENCH_ARTILLERY; if
 * neither works it says so and is skipped.
 *
 * Fair to Artillery: its default local mode (one worker thread per core but one, which on this
 * machine is one), one VU per connection as its WebSocket engine works, a connect function for the
 * per-user token and flow functions (bench/artillery/processor.cjs) doing what wsgate's users do:
 * wait for connection_established, run agents on wsgate's schedule recording event latency, hold with
 * the same keep-alive ping. No plugins, no per-request debug.
 *
 *   WSGATE_BENCH_ARTILLERY=/path/to/artillery npm run bench:peer
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AUDIENCE, ISSUER, ROOT, newSecret, prepare, readJson, scratch, spawnTimed, startService, tail, toolsCacheDir } from './lib/harness.ts';
import type { BenchService, Generator } from './lib/harness.ts';
import { Sampler, machineBusyS } from './lib/proc.ts';
import { header, machine, mb, rows, standalone, verdict } from './lib/report.ts';
import type { Outcome } from './lib/report.ts';
import { MS_PER_MESSAGE, SETTLE_MS, connectedRate, measure, noise, timelineFor } from './lib/workloads.ts';
import type { Measured, Workload } from './lib/workloads.ts';

const GOAL_RATIO = 2;

interface PeerRun {
  users: number;
  ok: number;
  cpuS: number;
  steadyKb: number;
  peakKb: number;
  baselineKb: number;
  messages: number;
  latency: { p50?: number; p95?: number; p99?: number };
  code: number;
  failure: string | undefined;
}

/** The Artillery this benchmark installs for itself when none is given (the newest that runs on Node 20). */
const ARTILLERY_VERSION = '2.0.21';

/**
 * WSGATE_BENCH_ARTILLERY, else a pinned Artillery in wsgate's tools cache, installed on first use with
 * Playwright's browser download switched off: the one install step this network refuses, and one the
 * WebSocket engine never uses.
 */
function findArtillery(): string | undefined {
  const env = process.env['WSGATE_BENCH_ARTILLERY'];
  if (env) return env;
  const dir = join(toolsCacheDir(), `artillery-${ARTILLERY_VERSION}`);
  const bin = join(dir, 'node_modules', '.bin', 'artillery');
  if (existsSync(bin)) return bin;
  console.log(`installing artillery@${ARTILLERY_VERSION} into ${dir} (first run only)`);
  try {
    mkdirSync(dir, { recursive: true });
    execFileSync('npm', ['install', '--prefix', dir, '--no-save', '--no-audit', '--no-fund', `artillery@${ARTILLERY_VERSION}`], {
      env: { ...process.env, PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  } catch (e) {
    console.log(`could not install artillery@${ARTILLERY_VERSION}: ${String((e as { stderr?: Buffer }).stderr ?? e).trim().split('\n').at(-1)}`);
  }
  return existsSync(bin) ? bin : undefined;
}

export async function main(argv: string[]): Promise<Outcome> {
  const { values } = parseArgs({ args: argv, options: { 'hold-users': { type: 'string' }, 'agent-users': { type: 'string' } } });
  const gens = await prepare();
  const m = machine(gens);
  const artillery = findArtillery();
  const hold: Workload = { kind: 'hold', users: Number(values['hold-users'] ?? 5000), perVu: 500, rampPerS: 1000, runs: 1, holdS: 20 };
  const agents: Workload = { kind: 'agents', users: Number(values['agent-users'] ?? 500), perVu: 100, rampPerS: 1000, runs: 10, holdS: 5 };
  header(
    `peer: wsgate (${gens.all.map((g) => g.name).join(', ')}) vs Artillery WebSocket engine, same workloads`,
    `hold: ${hold.users} users held ${hold.holdS} s; agents: ${agents.users} users x ${agents.runs} runs (one per 400 ms)`,
    m,
  );
  if (!artillery || !existsSync(artillery)) {
    return verdict({
      bench: 'peer',
      status: 'skipped',
      verdict:
        `Artillery could not be installed (artillery@${ARTILLERY_VERSION} into wsgate's tools cache, see above); set WSGATE_BENCH_ARTILLERY to an artillery binary installed with PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1`,
      figures: { machine: m },
    });
  }
  const version = /Artillery:\s*(\S+)/.exec(execFileSync(artillery, ['version'], { encoding: 'utf8' }))?.[1] ?? '?';
  console.log(`artillery ${version} (engine: ws, Node ${process.version}), default local mode`);

  const withService = async <T>(fn: (s: BenchService, secret: string) => Promise<T>): Promise<T> => {
    const secret = newSecret();
    const service = await startService({ secret });
    try {
      return await fn(service, secret);
    } finally {
      await service.stop();
    }
  };
  const wsgate: Record<string, Record<string, Measured>> = {};
  const art: Record<string, PeerRun> = {};
  for (const w of [hold, agents]) {
    for (const gen of gens.all) {
      const r = await withService((service, secret) => measure('wsgate', w, { gen, service, secret, outDir: scratch(`peer-wsgate-${gen.kind}-${w.kind}`) }));
      (wsgate[gen.name] ??= {})[w.kind] = r;
      const n = noise(r);
      if (n) console.log(`${n} (wsgate on ${gen.name}, ${w.kind})`);
    }
    art[w.kind] = await withService((service, secret) => runArtillery(artillery, w, service, secret));
  }

  const arHold = art['hold'] as PeerRun;
  const arAgents = art['agents'] as PeerRun;
  const perGb = (n: number, kb: number): number => n / (kb / 2 ** 20);
  const msgs = (r: Measured): number => (r.metrics['ws_msgs_sent']?.['count'] ?? 0) + (r.metrics['ws_msgs_received']?.['count'] ?? 0);
  const arConnPerGb = perGb(arHold.ok, arHold.steadyKb);
  const arConnPerGbMarginal = perGb(arHold.ok, arHold.steadyKb - arHold.baselineKb);
  const arMsgPerCpu = arAgents.messages / arAgents.cpuS;

  /** One generator's figures against Artillery's. */
  const against = (gen: Generator) => {
    const wsHold = wsgate[gen.name]?.['hold'] as Measured;
    const wsAgents = wsgate[gen.name]?.['agents'] as Measured;
    const held = wsHold.checks.find((c) => c.name === 'connection stays open for the whole hold')?.passes ?? 0;
    const connPerGb = perGb(held, wsHold.genSteadyKb);
    const connPerGbMarginal = perGb(held, wsHold.genSteadyKb - wsHold.genBaselineKb);
    const msgPerCpu = msgs(wsAgents) / wsAgents.genCpuS;
    const lat = wsAgents.metrics['wsgate_event_latency'] ?? {};
    return { gen, wsHold, wsAgents, held, connPerGb, connPerGbMarginal, msgPerCpu, lat, memRatio: connPerGb / arConnPerGb, cpuRatio: msgPerCpu / arMsgPerCpu };
  };
  const results = gens.all.map(against);
  const table: [string, ...string[]][] = [['', 'held', 'steady RSS', 'peak RSS', 'conn/GB', 'conn/GB marginal', 'agents CPU-s', 'messages', 'msg/CPU-s', 'p50/p95/p99 ms']];
  for (const x of results) {
    table.push([
      `wsgate (${x.gen.name})`,
      `${x.held}/${hold.users}`,
      mb(x.wsHold.genSteadyKb),
      mb(x.wsHold.genPeakKb),
      x.connPerGb.toFixed(0),
      x.connPerGbMarginal.toFixed(0),
      x.wsAgents.genCpuS.toFixed(2),
      String(msgs(x.wsAgents)),
      x.msgPerCpu.toFixed(0),
      `${x.lat['med']}/${x.lat['p(95)']?.toFixed(0)}/${x.lat['p(99)']?.toFixed(0)}`,
    ]);
  }
  table.push([
    `artillery ${version}`,
    `${arHold.ok}/${hold.users}`,
    mb(arHold.steadyKb),
    mb(arHold.peakKb),
    arConnPerGb.toFixed(0),
    arConnPerGbMarginal.toFixed(0),
    arAgents.cpuS.toFixed(2),
    String(arAgents.messages),
    arMsgPerCpu.toFixed(0),
    `${arAgents.latency.p50}/${arAgents.latency.p95}/${arAgents.latency.p99}`,
  ]);
  for (const x of results) {
    table.push([`wsgate (${x.gen.name}) / artillery`, '', '', '', `${x.memRatio.toFixed(2)}x`, `${(x.connPerGbMarginal / arConnPerGbMarginal).toFixed(2)}x`, '', '', `${x.cpuRatio.toFixed(2)}x`, '']);
  }
  rows(table);
  for (const [k, r] of Object.entries(art)) if (r.failure) console.log(`  artillery ${k}: ${r.failure}`);
  for (const x of results) for (const r of [x.wsHold, x.wsAgents]) if (r.failure) console.log(`  wsgate (${x.gen.name}) ${r.workload.kind}: ${r.failure}`);
  const ratios = (x: (typeof results)[number]): string =>
    `${x.gen.name}: connections per GB ${x.memRatio.toFixed(2)}x${x.memRatio < GOAL_RATIO ? ` (${(GOAL_RATIO - x.memRatio).toFixed(2)} short)` : ''}, messages per CPU-second ${x.cpuRatio.toFixed(2)}x${x.cpuRatio < GOAL_RATIO ? ` (${(GOAL_RATIO - x.cpuRatio).toFixed(2)} short)` : ''}`;
  const engine = results[0] as (typeof results)[number];
  const met = engine.memRatio >= GOAL_RATIO && engine.cpuRatio >= GOAL_RATIO;
  const figuresOf = (x: (typeof results)[number]) => ({
    hold: { held: x.held, steadyMb: x.wsHold.genSteadyKb / 1024, peakMb: x.wsHold.genPeakKb / 1024, connPerGb: x.connPerGb, connPerGbMarginal: x.connPerGbMarginal },
    agents: { cpuS: x.wsAgents.genCpuS, messages: msgs(x.wsAgents), msgPerCpuS: x.msgPerCpu, latency: x.lat, connected: connectedRate(x.wsAgents).passes },
    ratios: { connectionsPerGb: x.memRatio, messagesPerCpuS: x.cpuRatio },
  });
  return verdict({
    bench: 'peer',
    status: met ? 'met' : 'not met',
    verdict: `goal >= ${GOAL_RATIO}x Artillery ${version}: ${results.map(ratios).join('; ')}${gens.k6 ? '' : '; k6 not run (WSGATE_K6 is not set)'}`,
    figures: {
      machine: m,
      artillery: {
        version,
        engine: 'ws',
        mode: 'local, default workers',
        hold: { held: arHold.ok, steadyMb: arHold.steadyKb / 1024, peakMb: arHold.peakKb / 1024, connPerGb: arConnPerGb, connPerGbMarginal: arConnPerGbMarginal },
        agents: { cpuS: arAgents.cpuS, messages: arAgents.messages, msgPerCpuS: arMsgPerCpu, latency: arAgents.latency, completedRuns: arAgents.ok },
      },
      wsgate: Object.fromEntries(results.map((x) => [x.gen.name, figuresOf(x)])),
    },
  });
}

interface ArtilleryReport {
  aggregate?: { counters?: Record<string, number>; summaries?: Record<string, Record<string, number>> };
}

/** Artillery starts its arrivals when it has loaded (seconds): the harness's timeline waits for that. */
const ARTILLERY_LEAD_MS = 12_000;

async function runArtillery(artillery: string, w: Workload, service: BenchService, secret: string): Promise<PeerRun> {
  const dir = scratch(`peer-artillery-${w.kind}`);
  const t = timelineFor(w, Date.now() + ARTILLERY_LEAD_MS);
  const script = join(dir, 'artillery.json');
  const flow = [{ connect: { function: 'authenticate' } }, { function: 'established' }, ...(w.kind === 'agents' ? [{ function: 'runAgents' }] : []), { function: 'hold' }];
  writeFileSync(
    script,
    JSON.stringify({
      config: {
        target: service.wsUrls[0],
        phases: [{ duration: Math.max(1, Math.ceil(w.users / w.rampPerS)), arrivalCount: w.users }],
        processor: join(ROOT, 'bench', 'artillery', 'processor.cjs'),
        ws: { headers: { Origin: 'http://localhost' } },
      },
      scenarios: [{ name: w.kind, engine: 'ws', flow }],
    }),
  );
  const report = join(dir, 'report.json');
  const firstConnectFile = join(dir, 'first-connect');
  const started = Date.now();
  const run = spawnTimed({
    cmd: artillery,
    args: ['run', '--output', report, script],
    env: {
      BENCH_JWT_SECRET: secret,
      BENCH_ISSUER: ISSUER,
      BENCH_AUDIENCE: AUDIENCE,
      BENCH_RAMP_START: String(t.rampStart),
      BENCH_START_AT: String(t.startAt),
      BENCH_HOLD_UNTIL: String(t.holdUntil),
      BENCH_RUNS: String(w.runs),
      BENCH_MS_PER_RUN: String(MS_PER_MESSAGE),
      BENCH_SETTLE_MS: String(SETTLE_MS),
      BENCH_FIRST_CONNECT_FILE: firstConnectFile,
      // No telemetry calls home from a benchmark (and there is no network for them).
      ARTILLERY_DISABLE_TELEMETRY: 'true',
    },
    outDir: dir,
    name: 'artillery',
    timeoutMs: t.holdUntil - Date.now() + 120_000,
  });
  const busy0 = machineBusyS();
  const sampler = new Sampler({ gen: run.pids, service: service.pids }, 200).start();
  const result = await run.done;
  sampler.stop();
  const others = machineBusyS() - busy0 - result.cpuS - sampler.cpuS('service');
  const wallS = (Date.now() - started) / 1000;
  if (others / (wallS * 2) > 0.1) {
    console.log(`  note: other processes used ${others.toFixed(1)} CPU-s (${((100 * others) / (wallS * 2)).toFixed(0)}% of the 2 cores) during this ${wallS.toFixed(0)} s run; its figures are not clean (artillery ${w.kind})`);
  }
  const agg = readJson<ArtilleryReport>(report)?.aggregate ?? {};
  const c = agg.counters ?? {};
  const lat = agg.summaries?.['bench.event_latency'] ?? {};
  // The arrivals begin when Artillery is up, not at a fixed time: the steady window is the hold's
  // second half, and the baseline the RSS just before the first connection (the processor notes when).
  const firstConnected = Number(readJson<number>(firstConnectFile)) || started + ARTILLERY_LEAD_MS;
  console.log(`  artillery ${w.kind}: first connection ${((firstConnected - started) / 1000).toFixed(1)} s after start`);
  const steadyFrom = w.kind === 'hold' ? (t.rampEnd + t.holdUntil) / 2 : t.startAt + 1000;
  const steadyTo = w.kind === 'hold' ? t.holdUntil - 1000 : t.startAt + t.windowMs + SETTLE_MS;
  const baseline = sampler.samples('gen').filter((s) => s.at <= firstConnected && s.rssKb > 0);
  return {
    users: w.users,
    ok: w.kind === 'hold' ? (c['bench.held'] ?? 0) : (c['bench.runs_completed'] ?? 0),
    cpuS: result.cpuS,
    steadyKb: sampler.steadyRssKb('gen', steadyFrom, steadyTo),
    peakKb: sampler.peakRssKb('gen'),
    baselineKb: baseline[baseline.length - 1]?.rssKb ?? 0,
    messages: (c['bench.msgs_sent'] ?? 0) + (c['bench.msgs_received'] ?? 0),
    latency: { p50: lat['median'] ?? lat['p50'], p95: lat['p95'], p99: lat['p99'] },
    code: result.code,
    failure: result.code !== 0 || (c['bench.connected'] ?? 0) < w.users ? `exit ${result.code}, connected ${c['bench.connected'] ?? 0}/${w.users}, counters ${JSON.stringify(c)}\n${tail(result.stderrFile)}\n${tail(result.stdoutFile)}` : undefined,
  };
}

await standalone(import.meta.url, main);
