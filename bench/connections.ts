/**
 * Benchmark 1, connections: the most concurrent authenticated connections wsgate's multi-user
 * scenario (stress_concurrent_connections) holds for 60 s with at least 99.9% success, and what each
 * costs the generator and the reference service in resident memory, sampled from /proc/<pid>/status
 * of every generator and service process during the hold.
 * Goal: 50,000 connections at <= 40 KB of generator memory each, on wsgate's engine (the verdict); the
 * same runs on k6 when WSGATE_K6 names one, for comparison (skipped with one line otherwise).
 *
 * Two runs per generator:
 *   single  one generator run (the engine with its default workers, one per core; one k6 process),
 *           one service process: a service process is bounded by the open-files limit (20,000 per
 *           process, one descriptor per socket), so 19,000 users;
 *   multi   50,000 users split N ways on execution segments (what `wsgate multi-user --instances N`
 *           does: N engine workers, or N k6 processes), each from its own loopback source address,
 *           against helper-7's cluster (reference-service/cluster.ts) when it exists, otherwise N service processes.
 *
 *   npm run bench:connections [-- --single-only] [-- --users 50000 --instances 3 --hold 60]
 *   smoke: node --import tsx bench/connections.ts --single-only --users 200 --hold 3
 */
import { parseArgs } from 'node:util';
import { clusterAvailable, newSecret, prepare, scratch, startService } from './lib/harness.ts';
import type { Generator } from './lib/harness.ts';
import { header, kbPer, machine, mb, rows, standalone, verdict } from './lib/report.ts';
import type { Outcome } from './lib/report.ts';
import { connectedRate, measure, noise } from './lib/workloads.ts';
import type { Measured, Workload } from './lib/workloads.ts';

const GOAL_CONNECTIONS = 50_000;
const GOAL_KB = 40;
const GOAL_SUCCESS = 0.999;
const SINGLE_USERS = 19_000;

interface Run {
  gen: Generator;
  label: string;
  m: Measured;
  serviceShape: string;
  held: number;
}

export async function main(argv: string[]): Promise<Outcome> {
  const { values } = parseArgs({
    args: argv,
    options: { 'single-only': { type: 'boolean' }, users: { type: 'string' }, instances: { type: 'string' }, hold: { type: 'string' }, 'ramp-per-s': { type: 'string' } },
  });
  const gens = await prepare();
  const m = machine(gens);
  const holdS = Number(values.hold ?? 60);
  // 1,000 connections/s keep two cores busy (a generator spends ~1.5-2 ms of CPU per connection on minting,
  // dialing and the handshake; the service verifies each token): the 50,000 ramp goes at half that,
  // or handshakes queue past wsgate's 30 s connect timeout.
  const rampPerS = Number(values['ramp-per-s'] ?? 1000);
  const multiRampPerS = Number(values['ramp-per-s'] ?? 500);
  const multiUsers = Number(values.users ?? GOAL_CONNECTIONS);
  const instances = Number(values.instances ?? Math.ceil(multiUsers / 18_000));
  header(
    `connections: authenticated connections held for ${holdS} s, memory per connection`,
    `wsgate multi-user stress_concurrent_connections on ${gens.all.map((g) => g.name).join(' and ')}, ramp ${rampPerS}/s (single) and ${multiRampPerS}/s (multi), held ${holdS} s; RSS summed over every generator / service process, sampled every 200 ms`,
    m,
  );

  const runs: Run[] = [];
  const one = async (gen: Generator, label: string, users: number, n: number, ramp: number): Promise<void> => {
    const secret = newSecret();
    const service = await startService({ secret, processes: clusterAvailable() ? 1 : n, workers: n });
    try {
      const w: Workload = { kind: 'hold', users, perVu: 1000, rampPerS: ramp, runs: 1, holdS };
      const r = await measure('wsgate', w, {
        gen,
        service,
        secret,
        outDir: scratch(`connections-${gen.kind}-${label}`),
        instances: n,
        leadMs: 6000,
        // Each instance its own source address: one address pair has only 28,232 ephemeral ports.
        ...(n > 1 ? { localIps: Array.from({ length: n }, (_, i) => `127.0.0.${10 + i}`) } : {}),
      });
      const held = r.checks.find((c) => c.name === 'connection stays open for the whole hold')?.passes ?? 0;
      runs.push({ gen, label, m: r, serviceShape: service.shape, held });
      const note = noise(r);
      if (note) console.log(`${note} (${gen.name} ${label})`);
    } finally {
      await service.stop();
    }
  };
  for (const gen of gens.all) {
    await one(gen, 'single', Number(values.users && values['single-only'] ? values.users : SINGLE_USERS), 1, rampPerS);
    if (!values['single-only']) await one(gen, 'multi', multiUsers, instances, multiRampPerS);
  }

  const table: [string, ...string[]][] = [
    ['run', 'users', 'ramp/s', `held ${holdS} s`, 'success', 'split', 'gen steady', 'gen peak', 'gen KB/conn', 'gen marginal', 'service', 'svc steady', 'svc KB/conn', 'svc active', 'gen CPU-s'],
  ];
  for (const r of runs) {
    const x = r.m;
    const n = x.workload.users;
    table.push([
      `${r.gen.name} ${r.label}`,
      String(n),
      String(x.workload.rampPerS),
      String(r.held),
      `${((100 * r.held) / n).toFixed(2)}%`,
      String(x.instances),
      mb(x.genSteadyKb),
      mb(x.genPeakKb),
      kbPer(x.genSteadyKb, n),
      kbPer(x.genSteadyKb - x.genBaselineKb, n),
      r.serviceShape,
      mb(x.serviceSteadyKb),
      kbPer(x.serviceSteadyKb - x.serviceBaselineKb, n),
      String(x.serviceActive ?? '-'),
      x.genCpuS.toFixed(1),
    ]);
  }
  rows(table);
  console.log('  gen KB/conn = steady RSS of all generator processes / users; marginal = (steady - RSS just before the ramp) / users; svc KB/conn is marginal');
  for (const r of runs) if (r.m.failure) console.log(`  ${r.gen.name} ${r.label}: ${r.m.failure}`);

  /** The goal judged on one generator's runs: the largest run held at >= 99.9%, and its memory per connection. */
  const judge = (gen: Generator): { met: boolean; text: string } => {
    const mine = runs.filter((r) => r.gen === gen);
    const ok = mine.filter((r) => r.held / r.m.workload.users >= GOAL_SUCCESS);
    const best = ok.sort((a, b) => b.m.workload.users - a.m.workload.users)[0];
    const kb = best ? best.m.genSteadyKb / best.m.workload.users : NaN;
    const countMet = best !== undefined && best.m.workload.users >= GOAL_CONNECTIONS;
    const success = (r: Run): string => `${((100 * r.held) / r.m.workload.users).toFixed(2)}%`;
    if (countMet && kb <= GOAL_KB) return { met: true, text: `${best.m.workload.users} connections held ${holdS} s at ${success(best)} and ${kb.toFixed(1)} KB of generator memory each` };
    const gaps: string[] = [];
    if (!countMet) gaps.push(`largest run held at >= 99.9%: ${best ? `${best.m.workload.users} users` : 'none'}`);
    else gaps.push(`${best.m.workload.users} users held at ${success(best)} (count goal met)`);
    if (!(kb <= GOAL_KB)) gaps.push(`${kb.toFixed(1)} KB of generator memory per connection${Number.isNaN(kb) ? '' : ` (${(kb - GOAL_KB).toFixed(1)} KB over)`}`);
    const single = mine.find((r) => r.label === 'single');
    if (single) gaps.push(`single run: ${single.held}/${single.m.workload.users}`);
    return { met: false, text: gaps.join('; ') };
  };
  const engine = judge(gens.engine);
  const k6 = gens.k6 ? judge(gens.k6) : undefined;
  return verdict({
    bench: 'connections',
    status: engine.met ? 'met' : 'not met',
    verdict: `goal ${GOAL_CONNECTIONS} connections (>= 99.9% held ${holdS} s) at <= ${GOAL_KB} KB each; engine: ${engine.met ? 'met, ' : ''}${engine.text}${k6 ? `; k6 (for comparison): ${k6.met ? 'met, ' : ''}${k6.text}` : '; k6 not run (WSGATE_K6 is not set)'}`,
    figures: {
      machine: m,
      runs: runs.map((r) => ({
        generator: r.gen.name,
        run: r.label,
        users: r.m.workload.users,
        held: r.held,
        connected: connectedRate(r.m).passes,
        split: r.m.instances,
        genSteadyMb: r.m.genSteadyKb / 1024,
        genPeakMb: r.m.genPeakKb / 1024,
        genKbPerConn: r.m.genSteadyKb / r.m.workload.users,
        genMarginalKbPerConn: (r.m.genSteadyKb - r.m.genBaselineKb) / r.m.workload.users,
        genCpuS: r.m.genCpuS,
        service: r.serviceShape,
        serviceSteadyMb: r.m.serviceSteadyKb / 1024,
        serviceKbPerConn: (r.m.serviceSteadyKb - r.m.serviceBaselineKb) / r.m.workload.users,
        serviceActive: r.m.serviceActive,
        othersCpuS: r.m.othersCpuS,
        codes: r.m.codes,
      })),
    },
  });
}

await standalone(import.meta.url, main);
