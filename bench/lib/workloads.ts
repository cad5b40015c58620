/**
 * One workload, two scripts: wsgate's multi-user scenario and the minimal hand-written script of the
 * same workload (bench/engine/minimal-*.ts on the engine, bench/k6/minimal-*.ts on k6) get the same
 * users, users per VU, ramp, agent runs and hold, on the same timeline, against a fresh reference
 * service, on one generator (wsgate's engine, or k6). `measure` runs one of them and samples every
 * generator and service process from /proc while it runs.
 */
import { join } from 'node:path';
import { AUDIENCE, ISSUER, mergeMetrics, readJson, sleep, startRun, tail } from './harness.ts';
import type { BenchService, Generator, GeneratorKind, MetricValues } from './harness.ts';
import { Sampler, machineBusyS } from './proc.ts';

/** Fixed by scenarios/multi-user.ts: one send every 400 ms per user, judged 2 s after the window. */
export const MS_PER_MESSAGE = 400;
export const SETTLE_MS = 2000;

export interface Workload {
  /** hold: connect and hold (stress_concurrent_connections); agents: agent runs (agent_execution). */
  kind: 'hold' | 'agents';
  users: number;
  perVu: number;
  rampPerS: number;
  /** Agent runs per user (wsgate's WSGATE_MULTI_MESSAGES); at least 1. */
  runs: number;
  /** Seconds connections are held after the ramp (WSGATE_MULTI_DURATION). */
  holdS: number;
}

export interface Timeline {
  rampStart: number;
  rampEnd: number;
  startAt: number;
  windowMs: number;
  holdUntil: number;
}

/** The same timeline scenarios/multi-user.ts computes (timingFor). */
export function timelineFor(w: Workload, rampStart: number): Timeline {
  const rampMs = (w.users / w.rampPerS) * 1000;
  const startAt = rampStart + rampMs + 2000;
  const windowMs = w.runs * MS_PER_MESSAGE;
  const holdUntil = Math.max(startAt + windowMs + SETTLE_MS, rampStart + rampMs + w.holdS * 1000);
  return { rampStart, rampEnd: rampStart + rampMs, startAt, windowMs, holdUntil };
}

/** Which script drives the workload: wsgate's multi-user scenario, or the minimal hand-written one. */
export type Script = 'wsgate' | 'minimal';

export interface Check {
  name: string;
  passes: number;
  fails: number;
}

export interface Measured {
  generator: Script;
  /** The engine that ran it. */
  engine: GeneratorKind;
  workload: Workload;
  timeline: Timeline;
  instances: number;
  codes: number[];
  metrics: MetricValues;
  checks: Check[];
  /** Exact CPU seconds of all generator processes (the engine's workers included). */
  genCpuS: number;
  /** Generator CPU seconds from the first send to the end of the settle time (agents), sampled. */
  genCpuWindowS: number;
  /** Summed VmRSS of the generator processes: highest tick, median during the hold, just before the ramp. */
  genPeakKb: number;
  genSteadyKb: number;
  genBaselineKb: number;
  /** Sum of each generator process's own VmHWM. */
  genHwmKb: number;
  servicePeakKb: number;
  serviceSteadyKb: number;
  serviceBaselineKb: number;
  serviceCpuS: number;
  /** active_connections the service reported in the middle of the hold. */
  serviceActive: number | undefined;
  wallS: number;
  /**
   * CPU seconds the rest of the machine spent during the run (everything but the generator and the service:
   * this harness, and whatever else runs here). Figures taken while others load the 2 cores are
   * not clean, and the reports say so.
   */
  othersCpuS: number;
  /** The end of the generator's output of the first failed instance, when one failed. */
  failure: string | undefined;
}

export interface MeasureOptions {
  gen: Generator;
  service: BenchService;
  secret: string;
  outDir: string;
  /**
   * Processes to split the test over (execution segments). On k6, that many k6 processes; on the
   * engine, one engine with that many workers (it splits the test over them itself).
   */
  instances?: number;
  /** Source addresses, one per instance (k6 process, or engine worker). */
  localIps?: string[];
  /** Another bundle than the script's default (experiments). */
  script?: string;
  env?: Record<string, string>;
  /** ms between now and the first connection: generator start-up and VU init. */
  leadMs?: number;
  /** Sampling period. */
  periodMs?: number;
}

export async function measure(generator: Script, w: Workload, o: MeasureOptions): Promise<Measured> {
  const split = o.instances ?? 1;
  // The engine splits over its own workers: one process, one summary.
  const instances = o.gen.kind === 'wsgate' ? 1 : split;
  const t = timelineFor(w, Date.now() + (o.leadMs ?? 4000));
  const svc = o.service;
  const summaryOf = (i: number): string => join(o.outDir, `${generator}-${o.gen.kind}-summary-${i}.json`);
  const envOf = (i: number): Record<string, string> => {
    const ws = svc.wsUrls[i % svc.wsUrls.length] ?? '';
    const http = svc.httpUrls[i % svc.httpUrls.length] ?? '';
    const auth = svc.authUrls[i % svc.authUrls.length] ?? '';
    if (generator === 'minimal') {
      return {
        BENCH_WS_URL: ws,
        BENCH_JWT_SECRET: o.secret,
        BENCH_ISSUER: ISSUER,
        BENCH_AUDIENCE: AUDIENCE,
        BENCH_USERS: String(w.users),
        BENCH_CONNECTIONS_PER_VU: String(w.perVu),
        BENCH_RAMP_START: String(t.rampStart),
        BENCH_RAMP_PER_S: String(w.rampPerS),
        BENCH_HOLD_UNTIL: String(t.holdUntil),
        BENCH_START_AT: String(t.startAt),
        BENCH_RUNS: String(w.runs),
        BENCH_MS_PER_RUN: String(MS_PER_MESSAGE),
        BENCH_SETTLE_MS: String(SETTLE_MS),
        BENCH_SUMMARY_FILE: summaryOf(i),
        ...o.env,
      };
    }
    return {
      WSGATE_ENV: 'local',
      WSGATE_WS_URL: ws,
      WSGATE_HTTP_URL: http,
      WSGATE_AUTH_URL: auth,
      WSGATE_TOKEN_SOURCE: 'mint',
      WSGATE_JWT_SECRET: o.secret,
      WSGATE_ISSUER: ISSUER,
      WSGATE_AUDIENCE: AUDIENCE,
      WSGATE_MULTI_SCENARIO: w.kind === 'hold' ? 'stress_concurrent_connections' : 'agent_execution',
      WSGATE_MULTI_USERS: String(w.users),
      WSGATE_MULTI_DURATION: `${w.holdS}s`,
      WSGATE_MULTI_MESSAGES: String(w.runs),
      WSGATE_MULTI_CONNECTIONS_PER_VU: String(w.perVu),
      WSGATE_MULTI_RAMP_PER_S: String(w.rampPerS),
      WSGATE_MULTI_RAMP_START: String(t.rampStart),
      WSGATE_MULTI_NONCE: `b${t.rampStart.toString(36)}`,
      WSGATE_RESULTS_DIR: o.outDir,
      WSGATE_RUN_STAMP: `bench-${i}`,
      WSGATE_OUTPUT_FILE: summaryOf(i),
      ...o.env,
    };
  };
  // The bound outlasts the run's own (maxDuration: hold + 120 s, then a 30 s graceful stop), so a run
  // that overstays still ends by the generator's hand and writes its summary.
  const script = o.script ?? (generator === 'wsgate' ? o.gen.suite('multi-user') : o.gen.benchScript(`minimal-${w.kind}`));
  const args = (i: number): string[] => {
    if (o.gen.kind === 'wsgate') {
      return [...(split > 1 ? ['--workers', String(split)] : []), ...(o.localIps?.length ? ['--local-ips', o.localIps.join(',')] : [])];
    }
    const ip = o.localIps?.[i];
    return ip ? ['--local-ips', ip] : [];
  };
  const started = Date.now();
  const busy0 = machineBusyS();
  const run = startRun({ gen: o.gen, script, env: envOf, instances, outDir: o.outDir, timeoutMs: t.holdUntil - Date.now() + 200_000, args });
  const sampler = new Sampler({ gen: run.pids, service: svc.pids }, o.periodMs ?? 200).start();
  const serviceCpu0 = sampler.cpuS('service');
  // Steady: the hold after the ramp (hold), or the run window (agents). The service's own count of
  // open connections is read in its middle.
  const steadyFrom = w.kind === 'hold' ? t.rampEnd + 3000 : t.startAt + 1000;
  const steadyTo = w.kind === 'hold' ? t.holdUntil - 1000 : t.startAt + t.windowMs + SETTLE_MS;
  const active = (async (): Promise<number | undefined> => {
    await sleep((steadyFrom + steadyTo) / 2 - Date.now());
    let sum = 0;
    for (const url of svc.httpUrls) {
      try {
        const h = (await (await fetch(`${url}/health`, { signal: AbortSignal.timeout(5000) })).json()) as { active_connections?: number };
        sum += h.active_connections ?? 0;
      } catch {
        return undefined;
      }
    }
    return sum;
  })();
  const results = await run.done;
  sampler.stop();
  const busy = machineBusyS() - busy0;
  const parts = results.map((_, i) => readJson<{ metrics: MetricValues; scenarios?: { checks: Check[] }[] }>(summaryOf(i)));
  const checks: Check[] = [];
  for (const p of parts) {
    for (const c of p?.scenarios?.flatMap((s) => s.checks) ?? []) {
      const have = checks.find((x) => x.name === c.name);
      if (have) {
        have.passes += c.passes;
        have.fails += c.fails;
      } else checks.push({ name: c.name, passes: c.passes, fails: c.fails });
    }
  }
  const failed = results.find((r) => r.code !== 0);
  return {
    generator,
    engine: o.gen.kind,
    workload: w,
    timeline: t,
    instances: split,
    codes: results.map((r) => r.code),
    metrics: mergeMetrics(parts.map((p) => p?.metrics ?? {})),
    checks,
    genCpuS: results.reduce((s, r) => s + r.cpuS, 0),
    genCpuWindowS: sampler.cpuAt('gen', t.startAt + t.windowMs + SETTLE_MS) - sampler.cpuAt('gen', t.startAt),
    genPeakKb: sampler.peakRssKb('gen'),
    genSteadyKb: sampler.steadyRssKb('gen', steadyFrom, steadyTo),
    genBaselineKb: sampler.rssAt('gen', t.rampStart),
    genHwmKb: sampler.hwmKb('gen'),
    servicePeakKb: sampler.peakRssKb('service', started),
    serviceSteadyKb: sampler.steadyRssKb('service', steadyFrom, steadyTo),
    serviceBaselineKb: sampler.rssAt('service', t.rampStart),
    serviceCpuS: sampler.cpuS('service') - serviceCpu0,
    serviceActive: await active,
    wallS: (Date.now() - started) / 1000,
    othersCpuS: busy - results.reduce((s, r) => s + r.cpuS, 0) - (sampler.cpuS('service') - serviceCpu0),
    failure: failed ? `${o.gen.name} exited ${failed.code} (output: ${failed.stdoutFile}):\n${tail(failed.stderrFile, 6)}` : undefined,
  };
}

/** How many users connected successfully, from either generator's metrics. */
export function connectedRate(m: Measured): { rate: number; passes: number; fails: number } {
  const v = m.metrics[m.generator === 'wsgate' ? 'wsgate_connection_success' : 'bench_connected'] ?? {};
  const passes = v['passes'] ?? 0;
  const fails = v['fails'] ?? 0;
  // Users that never got as far as a verdict (run cut off, VU died) count as failures too.
  const missing = Math.max(0, m.workload.users - passes - fails);
  return { rate: passes / Math.max(1, m.workload.users), passes, fails: fails + missing };
}

/** A warning line when other processes took more than a tenth of the machine during a run. */
export function noise(m: Measured): string | undefined {
  const share = m.othersCpuS / (m.wallS * 2);
  return share > 0.1 ? `  note: other processes used ${m.othersCpuS.toFixed(1)} CPU-s (${(share * 100).toFixed(0)}% of the 2 cores) during this ${m.wallS.toFixed(0)} s run; its figures are not clean` : undefined;
}
