/**
 * The reference service as a process of its own, so the benchmarks can measure its memory and CPU
 * apart from the generator's and from the harness's. Prints one JSON line when ready
 * ({"ws_url", "http_url", "auth_url", "pid"}), stops on SIGTERM or SIGINT.
 *
 *   BENCH_JWT_SECRET=... node --import tsx bench/lib/service-main.ts [--step-delay-ms N] [--workers N]
 *
 * --workers N > 1 uses helper-7's multi-process service (reference-service/cluster.ts, startTargetCluster) when
 * it exists; without it the harness starts N of these processes instead.
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startTarget } from '../../reference-service/service.ts';

const { values } = parseArgs({ options: { 'step-delay-ms': { type: 'string' }, workers: { type: 'string' } } });
const secret = process.env['BENCH_JWT_SECRET'];
if (!secret) {
  process.stderr.write('bench service: BENCH_JWT_SECRET is not set; the harness sets it\n');
  process.exit(2);
}
const stepDelayMs = values['step-delay-ms'] === undefined ? undefined : Number(values['step-delay-ms']);
const workers = Number(values.workers ?? 1);

interface Running {
  wsUrl: string;
  httpUrl: string;
  authUrl: string;
  close(): Promise<void>;
}

async function start(): Promise<Running> {
  const options = { authSecret: secret, backendSecret: secret, ...(stepDelayMs === undefined ? {} : { stepDelayMs }) };
  const clusterFile = new URL('../../reference-service/cluster.ts', import.meta.url);
  if (workers > 1 && existsSync(clusterFile)) {
    const mod = (await import(clusterFile.href)) as { startTargetCluster(o: Record<string, unknown>): Promise<Running> };
    return mod.startTargetCluster({ ...options, workers });
  }
  return startTarget(options);
}

const target = await start();
process.stdout.write(`${JSON.stringify({ ws_url: target.wsUrl, http_url: target.httpUrl, auth_url: target.authUrl, pid: process.pid })}\n`);
const stop = async (): Promise<void> => {
  // Bounded: the generator has closed its sockets by now, and a benchmark must end by itself.
  await Promise.race([target.close(), new Promise((r) => setTimeout(r, 5000))]);
  process.exit(0);
};
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
