// Exit codes and the summary contract, driven by PROBE_MODE: pass, cross (a threshold fails), abort
// (runtime.abort in setup), throw (the script throws while loading), badopt (an invalid threshold),
// long (runs until interrupted).
import { runtime } from '#runtime';

const mode = runtime.env['PROBE_MODE'] ?? 'pass';
if (mode === 'throw') throw new Error('probe: thrown while loading');

const latency = runtime.metric('trend', 'probe_latency', true);

export const options = {
  scenarios:
    mode === 'long'
      ? { loop: { executor: 'constant-vus', vus: 4, duration: '60s', gracefulStop: '5s' } }
      : { each: { executor: 'shared-iterations', vus: 5, iterations: 200 } },
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)', 'count'],
  thresholds: {
    probe_latency: [mode === 'cross' ? 'p(99)<10' : 'p(99)<1000000'],
    ...(mode === 'badopt' ? { probe_latency: ['rate>0.5'] } : {}),
    'checks{check:setup data reached the VU}': ['rate==1'],
  },
};

export function setup(): { token: string } {
  if (mode === 'abort') runtime.abort('probe: the target is not ready');
  return { token: 'from-setup' };
}

export default async function (data: { token: string }): Promise<void> {
  runtime.check('setup data reached the VU', data.token === 'from-setup');
  // A deterministic value per iteration: every split of the run over workers sees the same set.
  const i = runtime.vu().iterationInTest;
  latency.add(((i * 7919) % 1000) + 0.5);
  if (mode === 'long') await runtime.sleep(1500);
}

export async function teardown(data: { token: string }): Promise<void> {
  runtime.check('teardown got the data', data.token === 'from-setup');
  // A slow teardown: the first Ctrl-C interrupts the iterations at once, so the second one lands here.
  if (mode === 'long') await runtime.sleep(3000);
}

export function handleSummary(data: { metrics: Record<string, { values: Record<string, number> }> }): Record<string, string> {
  const out = runtime.env['PROBE_SUMMARY'];
  return out ? { [out]: JSON.stringify(data) } : {};
}
