/**
 * A worker process: one event loop holding many VUs. It loads the bundle once (its module state is
 * shared by every VU here, see lib/runtime/port.ts), runs its execution segment of every scenario,
 * and reports its metrics to the coordinator every second and at the end.
 *
 * SIGINT and SIGTERM are ignored here: a Ctrl-C in a terminal reaches the whole process group, and
 * the coordinator decides what a signal means (first: graceful stop, second: stop now). If the
 * coordinator goes away the IPC channel closes and the worker exits at once.
 */
import type { EngineVu, ExecutorHost, ExecutorRun, ScenarioPlan } from './contracts.ts';
import { Host, TestAbortedError } from './host.ts';
import type { VuContext } from './host.ts';
import type { FromWorker, InitMessage, StartMessage, ToWorker } from './ipc.ts';
import { Registry } from './metrics/registry.ts';
import { JsonOutput } from './output/json.ts';
import { loadScript, whereThrown } from './script.ts';
import type { ExecFn, Script } from './script.ts';
import { planScenarios } from './scenarios.ts';
import { startScenario } from './schedule.ts';
import { redactorFor } from '../lib/core/redact.ts';

const FLUSH_MS = 1000;
/** Script errors printed per worker before they are only counted. */
const MAX_ERROR_LINES = 20;

function send(m: FromWorker): void {
  process.send?.(m);
}

export async function workerMain(): Promise<void> {
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => undefined);
  process.on('disconnect', () => process.exit(0));
  const init = await nextMessage<InitMessage>('init');
  // An exception's message can quote a server: redacted like every line scripts print.
  const redact = redactorFor(init.env);
  const registry = new Registry({ submetrics: init.submetrics, series: init.series });
  let json: JsonOutput | undefined;
  const host = new Host({
    env: init.env,
    registry,
    testTags: init.testTags,
    localIps: init.localIps,
    json: undefined,
    onAbort: (reason) => send({ type: 'abort', reason }),
  });
  host.install();
  let script: Script;
  try {
    script = await loadScript(init.script);
  } catch (err) {
    send({ type: 'fatal', message: err instanceof Error ? err.message : String(err), exitCode: 107 });
    return;
  }
  if (init.jsonOut) {
    json = new JsonOutput(init.jsonOut, (name) => registry.sink(name));
    (host as unknown as { json: JsonOutput }).json = json;
  }
  send({ type: 'ready' });
  const start = await nextMessage<StartMessage>('start');

  const tally = new Tally();
  const runs: ExecutorRun[] = [];
  for (const plan of planScenarios(script.options)) {
    const execName = plan.config.exec ?? 'default';
    const fn = script.fn(execName);
    if (!fn) {
      process.stderr.write(`wsgate engine: scenario ${plan.name} runs "${execName}", which the script does not export as a function; it runs no iterations\n`);
    }
    runs.push(startScenario(plan, init, executorHostFor(plan, fn, { host, tally, start, redact })));
  }

  const status = () => ({ openSockets: host.openSockets, activeVus: tally.activeVus, iterations: tally.iterations });
  const flush = setInterval(() => {
    send({ type: 'flush', snapshot: registry.snapshot(), interval: registry.drainInterval(), status: status() });
  }, FLUSH_MS);
  process.on('message', (m: ToWorker) => {
    if (m.type !== 'stop') return;
    // k6's semantics for a stop (Ctrl-C, test.abort, abortOnFail): no new iteration, and running ones
    // are interrupted now, not after gracefulStop (that grace is for a scenario's natural end).
    for (const r of runs) r.stop();
    for (const ctx of tally.contexts.values()) interruptContext(ctx);
  });

  await Promise.all(runs.map((r) => r.done));
  clearInterval(flush);
  json?.close();
  if (tally.errors > MAX_ERROR_LINES) process.stderr.write(`wsgate engine: ${tally.errors - MAX_ERROR_LINES} more iteration errors were not printed\n`);
  send({ type: 'done', snapshot: registry.snapshot(), interval: registry.drainInterval(), status: status() });
  // Sockets abandoned by interrupted iterations must not keep the process alive.
  process.disconnect?.();
  setTimeout(() => process.exit(0), 200).unref();
}

/** What this worker counts across its scenarios, and each VU's context (kept across its iterations). */
class Tally {
  iterations = 0;
  activeVus = 0;
  /** Iterations that threw; the first MAX_ERROR_LINES are printed. */
  errors = 0;
  readonly contexts = new Map<EngineVu, VuContext>();
}

interface WorkerScope {
  readonly host: Host;
  readonly tally: Tally;
  readonly start: StartMessage;
  readonly redact: (text: string) => string;
}

/**
 * The executors' view of this worker for one scenario: an iteration runs `fn` (none when the script
 * lacks it) in the VU's context and records k6's iteration samples.
 */
function executorHostFor(plan: ScenarioPlan, fn: ExecFn | undefined, { host, tally, start, redact }: WorkerScope): ExecutorHost {
  const env = host.scenarioEnv(plan.config.env);
  const tags = host.scenarioTags(plan.name, plan.config.tags);
  let startedAt = 0;
  return {
    testStartEpochMs: start.testStartEpochMs,
    async runIteration(vu, iterationInTest) {
      if (!fn) return;
      startedAt ||= Date.now();
      let ctx = tally.contexts.get(vu);
      if (!ctx) {
        ctx = { vu, scenario: plan.name, scenarioStartTime: startedAt, iterationInTest, tags, env, resources: new Set() };
        tally.contexts.set(vu, ctx);
      }
      ctx.iterationInTest = iterationInTest;
      ctx.interrupted = false;
      const began = performance.now();
      try {
        await host.als.run(ctx, () => fn(start.setupData));
      } catch (err) {
        if (!(err instanceof TestAbortedError)) {
          tally.errors++;
          if (tally.errors <= MAX_ERROR_LINES) {
            const why = redact(`${err instanceof Error ? err.message : String(err)}${whereThrown(err)}`);
            process.stderr.write(`wsgate engine: ${plan.name}: the iteration threw: ${why}\n`);
          }
        }
      }
      tally.iterations++;
      host.sample('iterations', 1, tags);
      host.sample('iteration_duration', performance.now() - began, tags);
    },
    dropped(count) {
      host.sample('dropped_iterations', count, tags);
    },
    activeVus(delta) {
      tally.activeVus += delta;
    },
    allocatedVus() {
      // vus_max is reported by the coordinator from the plans (k6 allocates VUs up front).
    },
    interrupt(vus) {
      for (const vu of vus) {
        const ctx = tally.contexts.get(vu);
        if (ctx) interruptContext(ctx);
      }
    },
  };
}

/** Interrupts what a VU is doing: its sockets are closed and its sleeps end at once. */
function interruptContext(ctx: VuContext): void {
  ctx.interrupted = true;
  for (const r of ctx.resources) r.terminate();
  ctx.resources.clear();
}

function nextMessage<T extends ToWorker>(type: T['type']): Promise<T> {
  return new Promise((resolve) => {
    const on = (m: ToWorker) => {
      if (m.type !== type) return;
      process.off('message', on);
      resolve(m as T);
    };
    process.on('message', on);
  });
}
