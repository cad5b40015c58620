/**
 * Benchmark 1, connections: the most concurrent authenticated connections wsgate's multi-user
 * scenario (stress_concurrent_connections) holds for 60 s with at least 99.9% success, and what each
 * costs the generator (k6) and the reference service in resident memory, sampled from
 * /proc/<pid>/status of every k6 and service process during the hold.
 * Goal: 50,000 connections at <= 40 KB of generator memory each.
 *
 * Two runs:
 *   single  one k6 process, one service process: bounded by the open-files limit (20,000 per
 *           process, one descriptor per socket on each side), so 19,000 users;
 *   multi   50,000 users over N k6 processes on execution segments (what `wsgate multi-user
 *           --instances N` does), each from its own loopback source address, against helper-7's
 *           cluster (target/cluster.ts) when it exists, otherwise N service processes.
 *
 *   npm run bench:connections [-- --single-only] [-- --users 50000 --instances 3 --hold 60]
 */
import { parseArgs } from 'node:util';
import { clusterAvailable, newSecret, prepare, scratch, startService } from './lib/harness.ts';
import { header, kbPer, machine, mb, rows, standalone, verdict } from './lib/report.ts';
import type { Outcome } from './lib/report.ts';
import { connectedRate, measure, noise } from './lib/workloads.ts';
import type { Measured, Workload } from './lib/workloads.ts';

const GOAL_CONNECTIONS = 50_000;
const GOAL_KB = 40;
const GOAL_SUCCESS = 0.999;
const SINGLE_USERS = 19_000;

interface Run {
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
  const k6 = await prepare();
  const m = machine(k6);
  const holdS = Number(values.hold ?? 60);
  // 1,000 connections/s keep two cores busy (k6 spends ~1.5-2 ms of CPU per connection on minting,
  // dialing and the handshake; the service verifies each token): the 50,000 ramp goes at half that,
  // or handshakes queue past wsgate's 30 s connect timeout.
  const rampPerS = Number(values['ramp-per-s'] ?? 1000);
  const multiRampPerS = Number(values['ramp-per-s'] ?? 500);
  const multiUsers = Number(values.users ?? GOAL_CONNECTIONS);
  const instances = Number(values.instances ?? Math.ceil(multiUsers / 18_000));
  header(
    'connections: authenticated connections held for 60 s, memory per connection',
    `wsgate multi-user stress_concurrent_connections, ramp ${rampPerS}/s (single) and ${multiRampPerS}/s (multi), held ${holdS} s; RSS summed over every k6 / service process, sampled every 200 ms`,
    m,
  );

  const runs: Run[] = [];
  const one = async (label: string, users: number, n: number, ramp: number): Promise<void> => {
    const secret = newSecret();
    const service = await startService({ secret, processes: clusterAvailable() ? 1 : n, workers: n });
    try {
      const w: Workload = { kind: 'hold', users, perVu: 1000, rampPerS: ramp, runs: 1, holdS };
      const r = await measure('wsgate', w, {
        k6,
        service,
        secret,
        outDir: scratch(`connections-${label}`),
        instances: n,
        leadMs: 6000,
        // Each instance its own source address: one address pair has only 28,232 ephemeral ports.
        ...(n > 1 ? { args: (i: number) => ['--local-ips', `127.0.0.${10 + i}`] } : {}),
      });
      const held = r.checks.find((c) => c.name === 'connection stays open for the whole hold')?.passes ?? 0;
      runs.push({ label, m: r, serviceShape: service.shape, held });
      const note = noise(r);
      if (note) console.log(`${note} (${label})`);
    } finally {
      await service.stop();
    }
  };
  await one('single', Number(values.users && values['single-only'] ? values.users : SINGLE_USERS), 1, rampPerS);
  if (!values['single-only']) await one('multi', multiUsers, instances, multiRampPerS);

  const table: [string, ...string[]][] = [
    ['run', 'users', 'ramp/s', 'held 60 s', 'success', 'k6 procs', 'k6 steady', 'k6 peak', 'k6 KB/conn', 'k6 marginal', 'service', 'svc steady', 'svc KB/conn', 'svc active', 'k6 CPU-s'],
  ];
  for (const r of runs) {
    const x = r.m;
    const n = x.workload.users;
    table.push([
      r.label,
      String(n),
      String(x.workload.rampPerS),
      String(r.held),
      `${((100 * r.held) / n).toFixed(2)}%`,
      String(x.instances),
      mb(x.k6SteadyKb),
      mb(x.k6PeakKb),
      kbPer(x.k6SteadyKb, n),
      kbPer(x.k6SteadyKb - x.k6BaselineKb, n),
      r.serviceShape,
      mb(x.serviceSteadyKb),
      kbPer(x.serviceSteadyKb - x.serviceBaselineKb, n),
      String(x.serviceActive ?? '-'),
      x.k6CpuS.toFixed(1),
    ]);
  }
  rows(table);
  console.log('  k6 KB/conn = steady RSS of all k6 processes / users; marginal = (steady - RSS just before the ramp) / users; svc KB/conn is marginal');
  for (const r of runs) if (r.m.failure) console.log(`  ${r.label}: ${r.m.failure}`);

  // The count goal is met by the largest run whose users were held at >= 99.9% success.
  const ok = runs.filter((r) => r.held / r.m.workload.users >= GOAL_SUCCESS);
  const best = ok.sort((a, b) => b.m.workload.users - a.m.workload.users)[0];
  const kb = best ? best.m.k6SteadyKb / best.m.workload.users : NaN;
  const countMet = best !== undefined && best.m.workload.users >= GOAL_CONNECTIONS;
  const met = countMet && kb <= GOAL_KB;
  const single = runs.find((r) => r.label === 'single');
  const gaps: string[] = [];
  const success = (r: Run): string => `${((100 * r.held) / r.m.workload.users).toFixed(2)}%`;
  if (!countMet) gaps.push(`largest run held at >= 99.9%: ${best ? `${best.m.workload.users} users` : 'none'}`);
  else gaps.push(`${best.m.workload.users} users held at ${success(best)} (count goal met)`);
  if (!(kb <= GOAL_KB)) gaps.push(`${kb.toFixed(1)} KB of generator memory per connection (${(kb - GOAL_KB).toFixed(1)} KB over)`);
  return verdict({
    bench: 'connections',
    status: met ? 'met' : 'not met',
    verdict: met
      ? `${best?.m.workload.users} connections held 60 s at ${best ? success(best) : ''} and ${kb.toFixed(1)} KB of generator memory each (goal ${GOAL_CONNECTIONS} at <= ${GOAL_KB} KB)`
      : `goal ${GOAL_CONNECTIONS} connections (>= 99.9% held 60 s) at <= ${GOAL_KB} KB each: ${gaps.join('; ')}${single ? `; one k6 process: ${single.held}/${single.m.workload.users} (bounded by the open-files limit of 20,000 per process)` : ''}`,
    figures: {
      machine: m,
      runs: runs.map((r) => ({
        run: r.label,
        users: r.m.workload.users,
        held: r.held,
        connected: connectedRate(r.m).passes,
        k6Processes: r.m.instances,
        k6SteadyMb: r.m.k6SteadyKb / 1024,
        k6PeakMb: r.m.k6PeakKb / 1024,
        k6KbPerConn: r.m.k6SteadyKb / r.m.workload.users,
        k6MarginalKbPerConn: (r.m.k6SteadyKb - r.m.k6BaselineKb) / r.m.workload.users,
        k6CpuS: r.m.k6CpuS,
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
