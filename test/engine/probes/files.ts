// More sockets than the open-files limit allows: the engine refuses the ones that do not fit, with
// one sentence, instead of failing with EMFILE; the run ends normally.
import { runtime } from '#runtime';

export const options = { scenarios: { many: { executor: 'per-vu-iterations', vus: 1, iterations: 1 } } };

const opened = runtime.metric('counter', 'probe_opened');
const refusedAtLimit = runtime.metric('counter', 'probe_refused_at_limit');

export default async function (): Promise<void> {
  const n = Number(runtime.env['PROBE_SOCKETS'] ?? 400);
  const sockets = [];
  const settled: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    settled.push(
      new Promise<void>((resolve) => {
        sockets.push(
          runtime.openSocket(runtime.env['PROBE_WS_URL'] ?? '', {}, {
            onMessage: () => undefined,
            // The reference service refuses a missing token with 401: the socket existed.
            onRefused: (status, why) => {
              if (status === 401) opened.add(1);
              else if (why.includes('open-files limit')) refusedAtLimit.add(1);
              resolve();
            },
            onClose: () => resolve(),
          }),
        );
      }),
    );
  }
  await Promise.all(settled);
}
