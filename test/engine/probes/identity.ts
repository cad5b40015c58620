// Two VUs on one event loop: each must keep its own identity across awaits, timers and socket
// callbacks, and lib/ must hand each its own user ids (nothing per VU lives in module state).
import { runtime } from '#runtime';
import { uniqueUser } from '../../../lib/observe.ts';

export const options = {
  scenarios: { pair: { executor: 'per-vu-iterations', vus: 2, iterations: 3, exec: 'pair' } },
  // Two VUs x three iterations: six refusals, each answered in the VU that opened the socket.
  thresholds: { checks: ['rate==1'], probe_socket_callbacks: ['count==6'] },
};

const socketCallbacks = runtime.metric('counter', 'probe_socket_callbacks');

/** The test's own instrument: every user id handed out, to prove no two VUs or iterations share one. */
const seen = new Set<string>();

export async function pair(): Promise<void> {
  const me = runtime.vu();
  const user = uniqueUser('probe');
  runtime.check('uniqueUser differs between VUs and iterations', !seen.has(user));
  seen.add(user);
  // Interleave the two VUs: the other one runs while this one waits.
  await runtime.sleep(me.vuIdInTest * 7);
  runtime.check('a VU keeps its identity across an await', runtime.vu().vuIdInTest === me.vuIdInTest);
  await new Promise<void>((resolve) => setTimeout(resolve, 3));
  runtime.check('a VU keeps its identity in a timer', runtime.vu().vuIdInTest === me.vuIdInTest && runtime.vu().iterationInScenario === me.iterationInScenario);
  await new Promise<void>((resolve) => {
    runtime.openSocket(runtime.env['PROBE_WS_URL'] ?? 'ws://127.0.0.1:9/ws', {}, {
      onMessage: () => undefined,
      onRefused: () => {
        const same = runtime.vu().vuIdInTest === me.vuIdInTest;
        runtime.check('a VU keeps its identity in a socket callback', same);
        if (same) socketCallbacks.add(1);
      },
      onClose: () => resolve(),
    });
  });
}
