/**
 * Benchmark 5, accuracy: the reference service sends a run's five agent events one step delay apart
 * (stepDelayMs, the first one delay after the user_message), so agent_started is due at 1x the delay
 * and agent_completed at 5x. wsgate reports wsgate_event_latency per event type; its median must be
 * within 1 ms of the known value, with 1,000 connections running agents, on wsgate's engine (the
 * verdict); on k6 too when WSGATE_K6 names one, for comparison (skipped with one line otherwise).
 *
 * A reference clock runs beside the generator: 20 connections from this Node process, timed with
 * performance.now() (bench/lib/observer.ts). Its medians are what the service really delivered
 * under the same load (Node's timer drift and loopback included), which separates the service's
 * share of any gap from the generator's.
 *
 *   npm run bench:accuracy [-- --users 1000 --step-delay-ms 10 --runs 3]
 */
import { parseArgs } from 'node:util';
import { newSecret, prepare, scratch, startService } from './lib/harness.ts';
import { AGENT_EVENTS, median, observeAgents } from './lib/observer.ts';
import { fixed, header, machine, rows, standalone, verdict } from './lib/report.ts';
import type { Outcome } from './lib/report.ts';
import { MS_PER_MESSAGE, connectedRate, measure, noise, timelineFor } from './lib/workloads.ts';
import type { Workload } from './lib/workloads.ts';

const TOLERANCE_MS = 1;

export async function main(argv: string[]): Promise<Outcome> {
  const { values } = parseArgs({ args: argv, options: { users: { type: 'string' }, 'step-delay-ms': { type: 'string' }, runs: { type: 'string' }, context: { type: 'string' } } });
  const delay = Number(values['step-delay-ms'] ?? 10);
  const runs = Number(values.runs ?? 3);
  const goalUsers = Number(values.users ?? 1000);
  // A lighter second run shows how much of any gap is load.
  const contextUsers = Number(values.context ?? 100);
  const gens = await prepare();
  const m = machine(gens);
  header(
    'accuracy: wsgate_event_latency medians against the service\'s known step delay',
    `service step delay ${delay} ms; wsgate multi-user agent_execution on ${gens.all.map((g) => g.name).join(' and ')}, ${runs} runs per user (one per ${MS_PER_MESSAGE} ms), 100 users per VU; reference clock: 20 Node connections`,
    m,
  );
  const figures: Record<string, unknown> = { machine: m, stepDelayMs: delay };
  const gaps: Record<string, number> = {};
  for (const gen of gens.all) for (const users of [goalUsers, contextUsers]) {
    const secret = newSecret();
    const service = await startService({ secret, stepDelayMs: delay });
    try {
      const w: Workload = { kind: 'agents', users, perVu: 100, rampPerS: 1000, runs, holdS: 3 };
      const lead = 4000;
      const t = timelineFor(w, Date.now() + lead);
      const [r, obs] = await Promise.all([
        measure('wsgate', w, { gen, service, secret, outDir: scratch(`accuracy-${gen.kind}-${users}`), script: gen.benchScript('multi-user-by-event'), leadMs: lead }),
        observeAgents({ wsUrl: service.wsUrls[0] ?? '', secret, connections: 20, startAt: t.startAt, runs, stepMs: MS_PER_MESSAGE }),
      ]);
      console.log(`${gen.name}, ${users} connections (${connectedRate(r).passes} connected, ${r.metrics['wsgate_event_latency']?.['count'] ?? 0} events):`);
      const table: [string, ...string[]][] = [['event', 'known', 'wsgate median', 'wsgate - known', 'reference clock median', 'wsgate - reference', 'wsgate p95']];
      const perEvent: Record<string, unknown> = {};
      let maxGap = 0;
      AGENT_EVENTS.forEach((e, i) => {
        const known = (i + 1) * delay;
        const v = r.metrics[`wsgate_event_latency{event:${e}}`] ?? {};
        const med = v['med'] ?? NaN;
        const ref = median(obs[e] ?? []);
        maxGap = Math.max(maxGap, Math.abs(med - known));
        perEvent[e] = { known, wsgateMedian: med, referenceMedian: ref, wsgateP95: v['p(95)'], samples: v['count'] };
        table.push([e, String(known), fixed(med, 1), fixed(med - known, 1), fixed(ref, 2), fixed(med - ref, 2), fixed(v['p(95)'], 0)]);
      });
      rows(table);
      const n = noise(r);
      if (n) console.log(n);
      figures[`${gen.name}_users_${users}`] = { events: perEvent, maxGapMs: maxGap, othersCpuS: r.othersCpuS, codes: r.codes };
      if (users === goalUsers) gaps[gen.name] = maxGap;
    } finally {
      await service.stop();
    }
  }
  console.log('  known = n x step delay; reference clock = the service as a lightly loaded Node client saw it (sub-ms timer)');
  const said = (name: string): string => {
    const gap = gaps[name] ?? NaN;
    return `${name}: largest median gap ${gap.toFixed(1)} ms${gap <= TOLERANCE_MS ? '' : ` (${(gap - TOLERANCE_MS).toFixed(1)} ms over)`}`;
  };
  return verdict({
    bench: 'accuracy',
    status: (gaps[gens.engine.name] ?? NaN) <= TOLERANCE_MS ? 'met' : 'not met',
    verdict: `goal: every event type's median within ${TOLERANCE_MS} ms of the known delay at ${goalUsers} connections; ${gens.all.map((g) => said(g.name)).join('; ')}${gens.k6 ? '' : '; k6 not run (WSGATE_K6 is not set)'}`,
    figures,
  });
}

await standalone(import.meta.url, main);
