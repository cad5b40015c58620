/**
 * The six executors against k6's semantics (lib/executor/*_test.go in k6 v2.2.0): counts, VU ids and
 * iteration numbers under 1, 2 and 3 segments, graceful stops and interrupts, validation messages, and
 * pacing over 30 s ("iterations and arrival rates within 2% of what was asked"). Everything runs against
 * a fake ExecutorHost that records every call. Every test is in one concurrent suite, so the file takes
 * about as long as its longest test (~32 s).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { EngineVu, ExecutorHost, ExecutorRun } from '../../engine/contracts.ts';
import {
  ScenarioConfigError,
  constantArrivalRateTotal,
  rampingArrivalRateSlots,
  rampingVusGracefulSteps,
  rampingVusRawSteps,
  startExecutor,
  validateScenario,
  type ExecutionStep,
} from '../../engine/executors/index.ts';
import { executionTuple, wholeTest, workerTuple, type SegmentTuple } from '../../engine/segments.ts';
import type { Scenario } from '../../lib/runtime/options.ts';

interface Start {
  vu: number;
  iterationInTest: number;
  iterationInScenario: number;
  /** ms since the host was made (monotonic) */
  atMs: number;
}
/** ms an iteration takes; 'hang' = until the executor interrupts it. */
type IterationTime = number | 'hang';

/** Records every call; iterations end after a chosen time, or when interrupted. */
class FakeHost implements ExecutorHost {
  readonly testStartEpochMs: number;
  readonly starts: Start[] = [];
  readonly interrupts: { atMs: number; vus: number[] }[] = [];
  droppedTotal = 0;
  active = 0;
  maxActive = 0;
  allocated = 0;
  readonly origin = performance.now();
  private readonly pending = new Map<EngineVu, () => void>();

  constructor(
    private readonly time: (vu: EngineVu, iterationInTest: number) => IterationTime,
    testStartEpochMs = Date.now(),
  ) {
    this.testStartEpochMs = testStartEpochMs;
  }

  now(): number {
    return performance.now() - this.origin;
  }

  runIteration(vu: EngineVu, iterationInTest: number): Promise<void> {
    this.starts.push({ vu: vu.idInTest, iterationInTest, iterationInScenario: vu.iterationInScenario, atMs: this.now() });
    const d = this.time(vu, iterationInTest);
    return new Promise<void>((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const end = (): void => {
        if (timer) clearTimeout(timer);
        this.pending.delete(vu);
        resolve();
      };
      this.pending.set(vu, end);
      if (d === 'hang') return;
      if (d <= 0) setImmediate(end);
      else timer = setTimeout(end, d);
    });
  }
  dropped(count: number): void {
    this.droppedTotal += count;
  }
  activeVus(delta: number): void {
    this.active += delta;
    assert.ok(this.active >= 0, 'active VUs went below 0');
    this.maxActive = Math.max(this.maxActive, this.active);
  }
  allocatedVus(delta: number): void {
    this.allocated += delta;
  }
  interrupt(vus: readonly EngineVu[]): void {
    this.interrupts.push({ atMs: this.now(), vus: vus.map((v) => v.idInTest).sort((a, b) => a - b) });
    // The worker closes their sockets and the iterations end soon after; the executor must ignore that.
    for (const vu of vus) setImmediate(() => this.pending.get(vu)?.());
  }
}

const OFFSET = 100; // vuIdOffset: VU ids of the scenario are 101, 102, ...

interface Parts {
  hosts: FakeHost[];
  runs: ExecutorRun[];
  /** ms from start to done, per part */
  tookMs: number[];
}

/** Runs one scenario on every part at once, each with its own host, and waits for all of them. */
async function runParts(config: Scenario, parts: readonly SegmentTuple[], time: (vu: EngineVu, it: number) => IterationTime): Promise<Parts> {
  const start = Date.now();
  const hosts = parts.map(() => new FakeHost(time, start));
  const runs = parts.map((p, i) => startExecutor({ name: 'test', config, vuIdOffset: OFFSET }, p, hosts[i] as FakeHost));
  const tookMs = await Promise.all(runs.map((r, i) => r.done.then(() => (hosts[i] as FakeHost).now())));
  for (const h of hosts) assert.equal(h.active, 0, 'every activeVus(+1) was matched by a -1');
  return { hosts, runs, tookMs };
}

const PARTITIONS: Record<string, () => SegmentTuple[]> = {
  '1 segment': () => [wholeTest()],
  '2 workers': () => [0, 1].map((w) => workerTuple(wholeTest(), w, 2)),
  '3 k6 segments': () => ['0:1/3', '1/3:2/3', '2/3:1'].map((s) => executionTuple(s, '0,1/3,2/3,1')),
  '2 instances x (2, 3) workers': () => [
    ...[0, 1].map((w) => workerTuple(executionTuple('0:1/2', '0,1/2,1'), w, 2)),
    ...[0, 1, 2].map((w) => workerTuple(executionTuple('1/2:1', '0,1/2,1'), w, 3)),
  ],
};

const range = (n: number, from = 0): number[] => Array.from({ length: n }, (_, i) => from + i);
const sorted = (xs: number[]): number[] => [...xs].sort((a, b) => a - b);
const allStarts = (p: Parts): Start[] => p.hosts.flatMap((h) => h.starts);
const idsOf = (h: FakeHost): number[] => sorted([...new Set(h.starts.map((s) => s.vu))]);

/** No VU id appears in two parts. */
function assertDisjointVus(p: Parts): void {
  const seen = new Map<number, number>();
  p.hosts.forEach((h, i) => {
    for (const id of idsOf(h)) {
      assert.equal(seen.get(id), undefined, `VU ${id} ran in parts ${seen.get(id)} and ${i}`);
      seen.set(id, i);
    }
  });
}

/** ms from the scenario's start (run.startedAt) to this iteration's start. */
function sinceStart(host: FakeHost, run: ExecutorRun, s: Start): number {
  return s.atMs - ((run.startedAt ?? 0) - performance.timeOrigin - host.origin);
}

/** Each start happened at its slot's time: never early, and late only by event-loop noise. */
function assertOnTime(p: Parts, slotMs: (iteration: number) => number): void {
  p.hosts.forEach((h, i) => {
    const run = p.runs[i] as ExecutorRun;
    for (const s of h.starts) {
      const late = sinceStart(h, run, s) - slotMs(s.iterationInTest);
      assert.ok(late > -5 && late < 40, `slot ${s.iterationInTest} started ${late.toFixed(1)} ms after its time`);
    }
  });
}

function stepsText(steps: readonly ExecutionStep[]): string {
  return steps.map((s) => `${s.offsetMs / 1000}:${s.plannedVUs}`).join(' ');
}

function configError(name: string, config: unknown): ScenarioConfigError {
  try {
    validateScenario(name, config);
  } catch (e) {
    assert.ok(e instanceof ScenarioConfigError, `expected ScenarioConfigError, got ${String(e)}`);
    return e;
  }
  assert.fail('validateScenario accepted the scenario');
}

describe('executors', { concurrency: true }, () => {
  // ---------------------------------------------------------------- validation
  test('validateScenario applies k6 defaults', () => {
    assert.deepEqual(validateScenario('a', { executor: 'per-vu-iterations' }), {
      name: 'a',
      exec: 'default',
      startTimeMs: 0,
      gracefulStopMs: 30_000,
      executor: 'per-vu-iterations',
      vus: 1,
      iterations: 1,
      maxDurationMs: 600_000,
    });
    const r = validateScenario('b', { executor: 'ramping-vus', stages: [{ duration: '1m30s', target: 3 }], startTime: '500ms', exec: 'agents' });
    assert.equal(r.executor === 'ramping-vus' && r.gracefulRampDownMs, 30_000);
    assert.equal(r.executor === 'ramping-vus' && r.startVUs, 1);
    assert.equal(r.startTimeMs, 500);
    assert.equal(r.exec, 'agents');
    const c = validateScenario('c', { executor: 'constant-arrival-rate', rate: 5, duration: '1h', preAllocatedVUs: 3 });
    assert.equal(c.executor === 'constant-arrival-rate' && c.timeUnitMs, 1000);
    assert.equal(c.executor === 'constant-arrival-rate' && c.maxVUs, 3, 'maxVUs defaults to preAllocatedVUs');
    assert.equal(c.executor === 'constant-arrival-rate' && c.durationMs, 3_600_000);
  });

  test('validateScenario refuses what k6 refuses, in one sentence with a stable code', () => {
    const table: [string, unknown, string, string][] = [
      ['agent_events', { executor: 'per-vu-iterations', vus: 0 }, 'ERR_SCENARIO_OPTION', 'scenario agent_events: executor per-vu-iterations needs vus >= 1, got 0'],
      ['s', { executor: 'shared-iterations', vus: 10, iterations: 5 }, 'ERR_SCENARIO_OPTION', 'scenario s: executor shared-iterations needs iterations >= vus (10), since every VU must get at least one, got 5'],
      ['s', { executor: 'per-vu-iterations', maxDuration: '500ms' }, 'ERR_SCENARIO_OPTION', 'scenario s: executor per-vu-iterations needs maxDuration of at least 1s, got "500ms"'],
      ['s', { executor: 'constant-vus', vus: 2 }, 'ERR_SCENARIO_OPTION', 'scenario s: executor constant-vus needs duration (a duration of at least 1s, such as "30s"), got nothing'],
      ['s', { executor: 'constant-vus', duration: '10 s' }, 'ERR_SCENARIO_OPTION', 'scenario s: executor constant-vus needs duration as a duration such as "30s", "1m30s" or "500ms", got "10 s"'],
      ['s', { executor: 'constant-vus', vus: 1.5, duration: '1s' }, 'ERR_SCENARIO_OPTION', 'scenario s: executor constant-vus needs vus as a whole number >= 1, got 1.5'],
      ['s', { executor: 'constant-arrival-rate', duration: '1s', preAllocatedVUs: 1 }, 'ERR_SCENARIO_OPTION', 'scenario s: executor constant-arrival-rate needs rate (a whole number >= 1), got nothing'],
      ['s', { executor: 'constant-arrival-rate', rate: 1, duration: '1s' }, 'ERR_SCENARIO_OPTION', 'scenario s: executor constant-arrival-rate needs preAllocatedVUs (a whole number >= 0), got nothing'],
      ['s', { executor: 'ramping-arrival-rate', stages: [{ duration: '1s', target: 1 }], preAllocatedVUs: 5, maxVUs: 2 }, 'ERR_SCENARIO_OPTION', 'scenario s: executor ramping-arrival-rate needs maxVUs >= preAllocatedVUs (5), got 2'],
      ['s', { executor: 'ramping-arrival-rate', stages: [], preAllocatedVUs: 1 }, 'ERR_SCENARIO_OPTION', 'scenario s: executor ramping-arrival-rate needs stages as a non-empty list of { duration, target }, got []'],
      ['s', { executor: 'ramping-vus', startVUs: 0, stages: [{ duration: '1s', target: 0 }] }, 'ERR_SCENARIO_OPTION', 'scenario s: executor ramping-vus needs startVUs or one of the stage targets to be above 0, got [0]'],
      ['s', { executor: 'ramping-vus', stages: [{ duration: '1s', target: -1 }] }, 'ERR_SCENARIO_OPTION', 'scenario s: executor ramping-vus needs stage 1 to have a target that is a whole number >= 0, got -1'],
      ['s', { executor: 'constant-vus', duration: '1s', gracefulStop: '-1s' }, 'ERR_SCENARIO_OPTION', 'scenario s: executor constant-vus needs gracefulStop of at least 0s, got "-1s"'],
      ['s', { executor: 'constant-vus', duration: '1s', vu: 3 }, 'ERR_SCENARIO_UNKNOWN_OPTION', 'scenario s: executor constant-vus has no option vu; its options are executor, exec, startTime, gracefulStop, env, tags, vus, duration'],
      ['s', { executor: 'constant-users' }, 'ERR_SCENARIO_EXECUTOR', 'scenario s: executor must be one of per-vu-iterations, shared-iterations, constant-vus, ramping-vus, constant-arrival-rate, ramping-arrival-rate, got "constant-users"'],
      ['bad name', { executor: 'constant-vus', duration: '1s' }, 'ERR_SCENARIO_NAME', 'scenario "bad name": the name may contain only latin letters, digits, underscores and dashes'],
    ];
    for (const [name, config, code, message] of table) {
      const e = configError(name, config);
      assert.equal(e.code, code, message);
      assert.equal(e.message, message);
    }
  });

  test('startExecutor validates before it starts anything', () => {
    const host = new FakeHost(() => 0);
    assert.throws(() => startExecutor({ name: 'x', config: { executor: 'per-vu-iterations', vus: 0 }, vuIdOffset: 0 }, wholeTest(), host), ScenarioConfigError);
    assert.equal(host.allocated, 0);
  });

  // ---------------------------------------------------------------- per-vu-iterations
  for (const [name, parts] of Object.entries(PARTITIONS)) {
    test(`per-vu-iterations under ${name}: every VU runs its iterations, numbered g*iterations+i`, async () => {
      const p = await runParts({ executor: 'per-vu-iterations', vus: 5, iterations: 4 }, parts(), () => 0);
      const starts = allStarts(p);
      assert.deepEqual(sorted(starts.map((s) => s.iterationInTest)), range(20));
      assert.deepEqual(sorted(starts.map((s) => s.vu)), range(5, OFFSET + 1).flatMap((v) => [v, v, v, v]));
      for (const s of starts) assert.equal(Math.floor(s.iterationInTest / 4), s.vu - OFFSET - 1, 'iterationInTest = g*iterations + i');
      for (const h of p.hosts) {
        assert.equal(h.allocated, idsOf(h).length);
        assert.equal(h.maxActive, idsOf(h).length, 'all VUs active from the start');
        assert.equal(h.droppedTotal, 0);
        for (const id of idsOf(h)) assert.deepEqual(h.starts.filter((s) => s.vu === id).map((s) => s.iterationInScenario), [0, 1, 2, 3]);
      }
      assertDisjointVus(p);
      if (name === '3 k6 segments') assert.deepEqual(p.hosts.map(idsOf), [[101, 104], [102, 105], [103]]);
      if (name === '2 workers') assert.deepEqual(p.hosts.map(idsOf), [[101, 103, 105], [102, 104]]);
    });
  }

  test('per-vu-iterations: what a VU has not started by maxDuration is dropped (k6 TestPerVuIterationsEmitDroppedIterations)', async () => {
    const p = await runParts({ executor: 'per-vu-iterations', vus: 5, iterations: 20, maxDuration: '1s', gracefulStop: '0s' }, [wholeTest()], () => 'hang');
    const h = p.hosts[0] as FakeHost;
    assert.equal(h.starts.length, 5);
    assert.equal(h.droppedTotal, 95);
    assert.deepEqual(h.interrupts.map((i) => i.vus), [[101, 102, 103, 104, 105]]);
    assert.ok(Math.abs((h.interrupts[0]?.atMs ?? 0) - 1000) < 100, `interrupted at ${h.interrupts[0]?.atMs} ms`);
  });

  // ---------------------------------------------------------------- shared-iterations
  for (const [name, parts] of Object.entries(PARTITIONS)) {
    test(`shared-iterations under ${name}: the pool is run exactly once`, async () => {
      const p = await runParts({ executor: 'shared-iterations', vus: 5, iterations: 50 }, parts(), () => 0);
      assert.deepEqual(sorted(allStarts(p).map((s) => s.iterationInTest)), range(50));
      assert.deepEqual(sorted(p.hosts.flatMap(idsOf)), range(5, OFFSET + 1));
      assert.equal(p.hosts.reduce((s, h) => s + h.allocated, 0), 5);
      for (const h of p.hosts) assert.equal(h.droppedTotal, 0);
    });
  }

  test('shared-iterations global iterations per segment (k6 TestSharedIterationsGlobalIters)', async () => {
    const segs = ['0:1/4', '1/4:3/4', '3/4:1'];
    const p = await runParts({ executor: 'shared-iterations', vus: 5, iterations: 50, maxDuration: '1s' }, segs.map((s) => executionTuple(s, '0,1/4,3/4,1')), () => 0);
    const got = p.hosts.map((h) => sorted(h.starts.map((s) => s.iterationInTest)));
    assert.deepEqual(got[0], [1, 6, 11, 16, 21, 26, 31, 36, 41, 46]);
    assert.deepEqual(got[1], [0, 2, 4, 5, 7, 9, 10, 12, 14, 15, 17, 19, 20, 22, 24, 25, 27, 29, 30, 32, 34, 35, 37, 39, 40, 42, 44, 45, 47, 49]);
    assert.deepEqual(got[2], [3, 8, 13, 18, 23, 28, 33, 38, 43, 48]);
  });

  test('shared-iterations: a slow VU takes fewer iterations, the others take the rest', async () => {
    const p = await runParts({ executor: 'shared-iterations', vus: 3, iterations: 30 }, [wholeTest()], (vu) => (vu.idInTest === 101 ? 60 : 5));
    const h = p.hosts[0] as FakeHost;
    assert.equal(h.starts.length, 30);
    const slow = h.starts.filter((s) => s.vu === 101).length;
    assert.ok(slow >= 1 && slow <= 3, `the slow VU ran ${slow}`);
  });

  test('shared-iterations: what is left of the pool at maxDuration is dropped (k6 TestSharedIterationsEmitDroppedIterations)', async () => {
    const p = await runParts({ executor: 'shared-iterations', vus: 5, iterations: 100, maxDuration: '1s', gracefulStop: '0s' }, [wholeTest()], () => 'hang');
    const h = p.hosts[0] as FakeHost;
    assert.equal(h.starts.length, 5);
    assert.equal(h.droppedTotal, 95);
    assert.equal(h.interrupts.length, 1);
  });

  // ---------------------------------------------------------------- constant-vus
  for (const [name, parts] of Object.entries(PARTITIONS)) {
    test(`constant-vus under ${name}: VUs loop for the duration, iteration numbers unique`, async () => {
      // 95 ms iterations in 1 s: starts at 0, 95, ..., 950 (11 per VU); the 12th would be at 1045.
      const p = await runParts({ executor: 'constant-vus', vus: 7, duration: '1s' }, parts(), () => 95);
      const starts = allStarts(p);
      assert.equal(starts.length, 77);
      const numbers = starts.map((s) => s.iterationInTest);
      assert.equal(new Set(numbers).size, 77, 'iterationInTest is unique across parts');
      assert.deepEqual(sorted(p.hosts.flatMap(idsOf)), range(7, OFFSET + 1));
      for (const h of p.hosts) {
        for (const id of idsOf(h)) assert.equal(h.starts.filter((s) => s.vu === id).length, 11, `VU ${id}`);
        assert.equal(h.interrupts.length, 0, 'iterations running at the end finish within gracefulStop');
      }
      if (name === '3 k6 segments') assert.deepEqual(p.hosts.map((h) => h.allocated), [3, 2, 2]);
      if (name === '2 workers') assert.deepEqual(p.hosts.map((h) => h.allocated), [4, 3]);
      for (const t of p.tookMs) assert.ok(t >= 1040 && t < 1300, `done after ${t} ms (last iterations end at ~1045)`);
    });
  }

  test('constant-vus: iterations still running after gracefulStop are interrupted', async () => {
    const p = await runParts({ executor: 'constant-vus', vus: 2, duration: '1s', gracefulStop: '200ms' }, [wholeTest()], () => 700);
    const h = p.hosts[0] as FakeHost;
    assert.equal(h.starts.length, 4);
    assert.deepEqual(h.interrupts.map((i) => i.vus), [[101, 102]]);
    assert.ok(Math.abs((h.interrupts[0]?.atMs ?? 0) - 1200) < 60, `interrupted at ${h.interrupts[0]?.atMs} ms`);
    assert.ok((p.tookMs[0] ?? 0) < 1300);
  });

  test('stop(): no new iteration, running ones finish, done; no dropped iterations reported', async () => {
    const host = new FakeHost(() => 100);
    const run = startExecutor({ name: 's', config: { executor: 'per-vu-iterations', vus: 3, iterations: 100 }, vuIdOffset: 0 }, wholeTest(), host);
    // stop() in the middle of every VU's second iteration (100..200 ms)
    await new Promise((r) => setTimeout(r, 150));
    run.stop();
    const stoppedAt = host.now();
    await run.done;
    assert.ok(host.now() - stoppedAt < 150, 'done as soon as the running iterations ended, not after gracefulStop (30 s)');
    assert.ok(host.starts.every((s) => s.atMs < stoppedAt), 'nothing started after stop()');
    assert.equal(host.starts.length, 6);
    assert.equal(host.droppedTotal, 0);
    assert.equal(host.active, 0);
    assert.equal(host.interrupts.length, 0);
  });

  test('stop() with a short gracefulStop interrupts what is still running', async () => {
    const host = new FakeHost(() => 'hang');
    const run = startExecutor({ name: 's', config: { executor: 'constant-vus', vus: 2, duration: '1m', gracefulStop: '100ms' }, vuIdOffset: 0 }, wholeTest(), host);
    await new Promise((r) => setTimeout(r, 50));
    run.stop();
    await run.done;
    assert.deepEqual(host.interrupts.map((i) => i.vus), [[1, 2]]);
    assert.ok((host.interrupts[0]?.atMs ?? 0) < 250);
  });

  test('startTime delays the start from testStartEpochMs; stop() before it runs nothing', async () => {
    const t0 = Date.now();
    const host = new FakeHost(() => 0, t0);
    const run = startExecutor({ name: 's', config: { executor: 'per-vu-iterations', startTime: '300ms' }, vuIdOffset: 0 }, wholeTest(), host);
    assert.equal(run.startedAt, undefined);
    await run.done;
    assert.ok((run.startedAt ?? 0) >= t0 + 300, `started at +${(run.startedAt ?? 0) - t0} ms`);
    assert.ok((host.starts[0]?.atMs ?? 0) >= 290);

    const late = new FakeHost(() => 0);
    const never = startExecutor({ name: 's', config: { executor: 'per-vu-iterations', startTime: '10s' }, vuIdOffset: 0 }, wholeTest(), late);
    never.stop();
    await never.done;
    assert.equal(late.starts.length, 0);
    assert.equal(never.startedAt, undefined);
  });

  // ---------------------------------------------------------------- ramping-vus
  test('ramping-vus steps (k6 TestRampingVUsConfigExecutionPlanExample)', () => {
    const s = (d: number, t: number) => ({ durationMs: d * 1000, target: t });
    const stages = [s(2, 6), s(5, 1), s(4, 5), s(4, 1), s(3, 4), s(2, 4), s(0, 1), s(3, 1)];
    const curve = { startVUs: 4, stages, gracefulRampDownMs: 30_000, gracefulStopMs: 30_000 };
    const full = wholeTest();
    const raw = '0:4 1:5 2:6 3:5 4:4 5:3 6:2 7:1 8:2 9:3 10:4 11:5 12:4 13:3 14:2 15:1 16:2 17:3 18:4 20:1';
    assert.equal(stepsText(rampingVusRawSteps(curve, full, false)), raw);
    assert.equal(stepsText(rampingVusRawSteps(curve, full, true)), `${raw} 23:0`);
    assert.equal(stepsText(rampingVusGracefulSteps(curve, full)), '0:4 1:5 2:6 33:5 42:4 50:1 53:0');
    assert.equal(stepsText(rampingVusGracefulSteps({ ...curve, gracefulStopMs: 80_000 }, full)), '0:4 1:5 2:6 33:5 42:4 50:1 103:0');
    assert.equal(stepsText(rampingVusGracefulSteps({ ...curve, gracefulStopMs: 3_000 }, full)), '0:4 1:5 2:6 26:0');
    assert.equal(stepsText(rampingVusGracefulSteps({ ...curve, gracefulStopMs: 0 }, full)), '0:4 1:5 2:6 23:0');
    assert.equal(stepsText(rampingVusGracefulSteps({ ...curve, gracefulStopMs: 0, gracefulRampDownMs: 0 }, full)), `${raw} 23:0`);
    const third = executionTuple('0:1/3');
    assert.equal(stepsText(rampingVusRawSteps(curve, third, false)), '0:1 1:2 4:1 7:0 8:1 11:2 12:1 15:0 16:1 20:0');
    assert.equal(stepsText(rampingVusGracefulSteps(curve, third)), '0:1 1:2 42:1 50:0');
  });

  test('ramping-vus steps per segment (k6 TestRampingVUsExecutionTupleTests, corner cases)', () => {
    const s = (d: number, t: number) => ({ durationMs: d * 1000, target: t });
    const stages = [s(2, 6), s(5, 1), s(4, 5), s(4, 1), s(3, 4), s(2, 4), s(0, 1), s(3, 1), s(0, 5), s(3, 5), s(0, 0), s(2, 2), s(2, 0), s(4, 4)];
    const curve = { startVUs: 4, stages };
    const seq = '0,1/3,2/3,1';
    assert.equal(
      stepsText(rampingVusRawSteps(curve, wholeTest(), false)),
      '0:4 1:5 2:6 3:5 4:4 5:3 6:2 7:1 8:2 9:3 10:4 11:5 12:4 13:3 14:2 15:1 16:2 17:3 18:4 20:1 23:5 26:0 27:1 28:2 29:1 30:0 31:1 32:2 33:3 34:4',
    );
    assert.equal(stepsText(rampingVusRawSteps(curve, executionTuple('0:1/3', seq), false)), '0:2 5:1 10:2 13:1 18:2 20:1 23:2 26:0 27:1 30:0 31:1 34:2');
    assert.equal(stepsText(rampingVusRawSteps(curve, executionTuple('1/3:2/3', seq), false)), '0:1 1:2 4:1 7:0 8:1 11:2 12:1 15:0 16:1 20:0 23:2 26:0 28:1 29:0 32:1');
    assert.equal(stepsText(rampingVusRawSteps(curve, executionTuple('2/3:1', seq), false)), '0:1 2:2 3:1 6:0 9:1 14:0 17:1 20:0 23:1 26:0 33:1');
    const updown = [s(2, 2), s(2, 0), s(2, 2), s(2, 0)];
    assert.equal(stepsText(rampingVusRawSteps({ startVUs: 0, stages: updown }, executionTuple('0:1/2'), false)), '0:0 1:1 4:0 5:1 8:0');
    assert.equal(stepsText(rampingVusRawSteps({ startVUs: 0, stages: updown }, executionTuple('1/2:1'), false)), '0:0 2:1 3:0 6:1 7:0');
    assert.equal(stepsText(rampingVusRawSteps({ startVUs: 0, stages: updown }, executionTuple('2/3:1', seq), false)), '0:0');
    assert.equal(stepsText(rampingVusRawSteps({ startVUs: 0, stages: updown }, executionTuple('0:1/3', '0,1/3,1/2,2/3,1'), false)), '0:0 1:1 4:0 5:1 8:0');
    assert.equal(stepsText(rampingVusRawSteps({ startVUs: 2, stages: [s(0, 5), s(2, 3)] }, wholeTest(), false)), '0:2 0:5 1:4 2:3');
    assert.equal(stepsText(rampingVusRawSteps({ startVUs: 0, stages: [s(20, 20), s(30, 30)] }, executionTuple('0:0.3', '0,0.3,0.6,0.9,1'), false)), '0:0 1:1 5:2 8:3 11:4 15:5 18:6 23:7 35:8 44:9');
  });

  test('ramping-vus steps of random segments add up to the whole (k6 TestSumRandomSegmentSequenceMatchesNoSegment)', () => {
    let seed = 5;
    const rand = (n: number): number => {
      seed = (seed * 1664525 + 1013904223) >>> 0;
      return seed % n;
    };
    for (let round = 0; round < 5; round++) {
      const stages = range(1 + rand(8)).map(() => ({ durationMs: (1 + rand(60)) * 1000, target: rand(60) }));
      const curve = { startVUs: rand(60), stages };
      const nums = range(2 + rand(6)).map(() => 1 + rand(50));
      const total = nums.reduce((a, b) => a + b, 0);
      let acc = 0;
      const seq = ['0', ...nums.map((n) => `${(acc += n)}/${total}`)].join(',');
      const points = seq.split(',');
      const parts = range(points.length - 1).map((i) => rampingVusRawSteps(curve, executionTuple(`${points[i]}:${points[i + 1]}`, seq), false));
      const planned = (steps: ExecutionStep[], t: number): number => steps.filter((x) => x.offsetMs <= t).at(-1)?.plannedVUs ?? 0;
      const whole = rampingVusRawSteps(curve, wholeTest(), false);
      for (const t of new Set([...whole, ...parts.flat()].map((x) => x.offsetMs))) {
        assert.equal(
          parts.reduce((sum, p) => sum + planned(p, t), 0),
          planned(whole, t),
          `at ${t} ms in ${seq}`,
        );
      }
    }
  });

  test('ramping-vus run: VUs follow the stages (k6 TestRampingVUsRun)', async () => {
    const host = new FakeHost(() => 300);
    const run = startExecutor(
      { name: 'r', config: { executor: 'ramping-vus', startVUs: 5, gracefulStop: '0s', gracefulRampDown: '0s', stages: [{ duration: '1s', target: 5 }, { duration: '0s', target: 3 }, { duration: '1s', target: 3 }] }, vuIdOffset: 0 },
      wholeTest(),
      host,
    );
    const samples: number[] = [];
    for (const at of [500, 1500, 2400]) {
      await new Promise((r) => setTimeout(r, at - host.now()));
      samples.push(host.active);
    }
    await run.done;
    assert.deepEqual(samples, [5, 3, 0]);
    assert.equal(host.starts.length, 29, 'VUs 1-3 start 7 iterations, VUs 4-5 start 4');
    assert.deepEqual(host.interrupts.map((i) => i.vus), [[4, 5], [1, 2, 3]]);
    assert.equal(host.allocated, 5);
  });

  test('ramping-vus: a ramped-down VU may finish within gracefulRampDown, then is interrupted', async () => {
    // VU 2 is ramped down at 1.5 s, VU 1 at 2 s; gracefulRampDown 500 ms makes the hard end 2.5 s even
    // though gracefulStop is 10 s (k6: the last stage went to 0, so gracefulStop has no effect).
    const host = new FakeHost(() => 1800);
    const run = startExecutor(
      { name: 'r', config: { executor: 'ramping-vus', startVUs: 2, gracefulStop: '10s', gracefulRampDown: '500ms', stages: [{ duration: '1s', target: 2 }, { duration: '1s', target: 0 }] }, vuIdOffset: 0 },
      wholeTest(),
      host,
    );
    await run.done;
    const took = host.now();
    assert.deepEqual(
      host.starts.map((s) => s.vu),
      [1, 2, 1],
    );
    assert.deepEqual(host.interrupts.map((i) => i.vus), [[1]]);
    assert.ok(Math.abs((host.interrupts[0]?.atMs ?? 0) - 2500) < 80, `interrupted at ${host.interrupts[0]?.atMs}`);
    assert.ok(took < 2700, `done after ${took} ms`);
  });

  for (const [name, parts] of Object.entries(PARTITIONS)) {
    test(`ramping-vus under ${name}: all parts together hold the whole test's VUs`, async () => {
      const config: Scenario = { executor: 'ramping-vus', startVUs: 0, gracefulRampDown: '0s', stages: [{ duration: '600ms', target: 6 }, { duration: '400ms', target: 6 }, { duration: '300ms', target: 0 }] };
      const p = await runParts(config, parts(), () => 40);
      assert.deepEqual(sorted(p.hosts.flatMap(idsOf)), range(6, OFFSET + 1));
      assert.equal(p.hosts.reduce((s, h) => s + h.allocated, 0), 6);
      assert.equal(p.hosts.reduce((s, h) => s + h.maxActive, 0), 6);
      const numbers = allStarts(p).map((s) => s.iterationInTest);
      assert.equal(new Set(numbers).size, numbers.length, 'iterationInTest unique');
    });
  }

  // ---------------------------------------------------------------- constant-arrival-rate
  test('constant-arrival-rate global iterations per segment (k6 TestConstantArrivalRateGlobalIters)', async () => {
    const config: Scenario = { executor: 'constant-arrival-rate', rate: 20, timeUnit: '950ms', duration: '1s', preAllocatedVUs: 5, maxVUs: 5, gracefulStop: '100ms' };
    const p = await runParts(config, ['0:1/4', '1/4:3/4', '3/4:1'].map((s) => executionTuple(s, '0,1/4,3/4,1')), () => 0);
    assert.deepEqual(
      p.hosts.map((h) => h.starts.map((s) => s.iterationInTest)),
      [[1, 6, 11, 16, 21], [0, 2, 4, 5, 7, 9, 10, 12, 14, 15, 17, 19, 20], [3, 8, 13, 18]],
    );
    // slot i starts at i * 950/20 ms of the whole test, whichever part owns it
    assertOnTime(p, (i) => i * 47.5);
  });

  for (const [name, parts] of Object.entries(PARTITIONS)) {
    test(`constant-arrival-rate under ${name}: every slot starts once, at its time`, async () => {
      const config: Scenario = { executor: 'constant-arrival-rate', rate: 40, duration: '1s', preAllocatedVUs: 6, maxVUs: 6 };
      assert.equal(constantArrivalRateTotal(validateScenario('x', config) as Parameters<typeof constantArrivalRateTotal>[0]), 40);
      const p = await runParts(config, parts(), () => 10);
      assert.deepEqual(sorted(allStarts(p).map((s) => s.iterationInTest)), range(40));
      assertOnTime(p, (i) => i * 25);
      assert.equal(p.hosts.reduce((s, h) => s + h.droppedTotal, 0), 0);
      assert.equal(p.hosts.reduce((s, h) => s + h.allocated, 0), 6);
      assertDisjointVus(p);
    });
  }

  test('constant-arrival-rate: more VUs up to maxVUs, then dropped iterations', async () => {
    const p = await runParts({ executor: 'constant-arrival-rate', rate: 20, duration: '1s', preAllocatedVUs: 1, maxVUs: 2, gracefulStop: '0s' }, [wholeTest()], () => 'hang');
    const h = p.hosts[0] as FakeHost;
    assert.deepEqual(
      h.starts.map((s) => [s.vu, s.iterationInTest]),
      [
        [101, 0],
        [102, 1],
      ],
    );
    assert.equal(h.allocated, 2);
    assert.equal(h.droppedTotal, 18);
    assert.equal(h.maxActive, 2);
    assert.deepEqual(h.interrupts.map((i) => i.vus), [[101, 102]]);
  });

  test('an arrival-rate segment with no VUs has no work (k6 TestRampingArrivalRateCornerCase)', async () => {
    const host = new FakeHost(() => 0);
    const config: Scenario = { executor: 'ramping-arrival-rate', startRate: 1, stages: [{ duration: '1s', target: 1 }], preAllocatedVUs: 0, maxVUs: 2 };
    const run = startExecutor({ name: 'x', config, vuIdOffset: 0 }, executionTuple('1/5:2/5', '0,1/5,2/5,1'), host);
    await run.done;
    assert.equal(host.starts.length, 0);
    assert.equal(host.allocated, 0);
    assert.equal(run.startedAt, undefined);
  });

  // ---------------------------------------------------------------- ramping-arrival-rate
  test('ramping-arrival-rate start times (k6 TestRampingArrivalRateCal)', () => {
    const s = (d: number, t: number) => ({ durationMs: d * 1000, target: t });
    const stages = [s(5, 1), s(1, 1), s(5, 0)];
    const times = (tuple: SegmentTuple, timeUnitMs = 1000): number[] => [...rampingArrivalRateSlots({ startRate: 0, timeUnitMs, stages }, tuple)].map((x) => x.atMs);
    const near = (got: number[], expected: number[]): void => {
      assert.equal(got.length, expected.length, `${got} vs ${expected}`);
      got.forEach((g, i) => assert.ok(Math.abs(g - (expected[i] ?? 0)) <= (expected[i] ?? 0) * 0.001, `${g} vs ${expected[i]}`));
    };
    near(times(wholeTest()), [3162, 4472, 5500, 6527, 7837, 11000]);
    near(times(executionTuple('0:1/3')), [4472, 7837]);
    near(times(executionTuple('2/3:1')), [4472, 7837]);
    near(times(executionTuple('0:1/3', '0,1/3,2/3,1')), [3162, 6527]);
    near(times(executionTuple('1/3:2/3', '0,1/3,2/3,1')), [4472, 7837]);
    near(times(executionTuple('2/3:1', '0,1/3,2/3,1')), [5500, 11000]);
    near(times(wholeTest(), 1000 / 3), [1825, 2581, 3162, 3651, 4082, 4472, 4830, 5166, 5499, 5833, 6169, 6527, 6917, 7348, 7837, 8418, 9174, 10999]);
  });

  test('ramping-arrival-rate global iterations per segment (k6 TestRampingArrivalRateGlobalIters)', async () => {
    const config: Scenario = { executor: 'ramping-arrival-rate', startRate: 0, timeUnit: '950ms', preAllocatedVUs: 4, maxVUs: 5, gracefulStop: '100ms', stages: [{ duration: '1s', target: 20 }, { duration: '1s', target: 0 }] };
    const p = await runParts(config, ['0:1/4', '1/4:3/4', '3/4:1'].map((s) => executionTuple(s, '0,1/4,3/4,1')), () => 0);
    assert.deepEqual(
      p.hosts.map((h) => h.starts.map((s) => s.iterationInTest)),
      [[1, 6, 11, 16], [0, 2, 4, 5, 7, 9, 10, 12, 14, 15, 17, 19, 20], [3, 8, 13, 18]],
    );
  });

  for (const [name, parts] of Object.entries(PARTITIONS)) {
    test(`ramping-arrival-rate under ${name}: every slot starts once`, async () => {
      const config: Scenario = { executor: 'ramping-arrival-rate', startRate: 10, preAllocatedVUs: 5, stages: [{ duration: '500ms', target: 50 }, { duration: '500ms', target: 50 }] };
      // area: 0.5 s * (10+50)/2 + 0.5 s * 50 = 15 + 25 = 40; the 40th falls exactly at the end and does not run
      const p = await runParts(config, parts(), () => 5);
      assert.deepEqual(sorted(allStarts(p).map((s) => s.iterationInTest)), range(39));
      assertDisjointVus(p);
    });
  }

  // ---------------------------------------------------------------- pacing over 30 s
  describe('pacing over 30 s: within 2% of what was asked', { concurrency: true }, () => {
    const WINDOW = 5000;
    /** Counts starts per 5 s window of the scenario (t0 from startedAt). */
    function windows(host: FakeHost, run: ExecutorRun): number[] {
      const counts = range(6).map(() => 0);
      for (const s of host.starts) {
        const w = Math.min(5, Math.max(0, Math.floor(sinceStart(host, run, s) / WINDOW)));
        counts[w] = (counts[w] ?? 0) + 1;
      }
      return counts;
    }
    function within2(got: number, expected: number, what: string): void {
      assert.ok(Math.abs(got - expected) <= Math.max(expected * 0.02, 2), `${what}: ${got}, expected ${expected} ± 2%`);
    }

    test('constant-arrival-rate 200/s for 30 s with 1-50 ms iterations', async () => {
      let n = 0;
      const host = new FakeHost(() => 1 + ((n++ * 37) % 50));
      const run = startExecutor({ name: 'pace', config: { executor: 'constant-arrival-rate', rate: 200, duration: '30s', preAllocatedVUs: 20, maxVUs: 60 }, vuIdOffset: 0 }, wholeTest(), host);
      await run.done;
      assert.equal(host.starts.length, 6000, 'exactly rate x duration iterations');
      assert.equal(host.droppedTotal, 0);
      assert.deepEqual(sorted(host.starts.map((s) => s.iterationInTest)), range(6000));
      windows(host, run).forEach((c, i) => within2(c, 1000, `window ${i}`));
      const late = host.starts.map((s) => sinceStart(host, run, s) - s.iterationInTest * 5).sort((a, b) => a - b);
      const p50 = late[Math.floor(late.length * 0.5)] ?? 0;
      const p99 = late[Math.floor(late.length * 0.99)] ?? 0;
      assert.ok(p50 < 5 && p99 < 50, `start lateness p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`);
      assert.ok(host.maxActive <= 60 && host.allocated <= 60);
    });

    test('ramping-arrival-rate 50 -> 300/s, hold, -> 0 over 30 s', async () => {
      const config: Scenario = { executor: 'ramping-arrival-rate', startRate: 50, preAllocatedVUs: 30, maxVUs: 100, stages: [{ duration: '10s', target: 300 }, { duration: '10s', target: 300 }, { duration: '10s', target: 0 }] };
      // area per 5 s window: rate 50->175->300, 300, 300, 300->150->0
      const expected = [562.5, 1187.5, 1500, 1500, 1125, 375];
      let n = 0;
      const host = new FakeHost(() => 1 + ((n++ * 13) % 30));
      const run = startExecutor({ name: 'ramp', config, vuIdOffset: 0 }, wholeTest(), host);
      await run.done;
      assert.equal(host.starts.length, 6249, 'the area is 6250; the last one falls at the very end');
      assert.equal(host.droppedTotal, 0);
      windows(host, run).forEach((c, i) => within2(c, expected[i] ?? 0, `window ${i}`));
    });

    test('constant-vus 10 VUs for 30 s with 100 ms iterations', async () => {
      const host = new FakeHost(() => 100);
      const run = startExecutor({ name: 'vus', config: { executor: 'constant-vus', vus: 10, duration: '30s' }, vuIdOffset: 0 }, wholeTest(), host);
      await run.done;
      within2(host.starts.length, 3000, 'iterations');
      for (let v = 1; v <= 10; v++) within2(host.starts.filter((s) => s.vu === v).length, 300, `VU ${v}`);
      // back to back: a VU's next iteration starts as its previous one ends
      const gaps = range(10, 1).flatMap((v) => {
        const st = host.starts.filter((s) => s.vu === v).map((s) => s.atMs);
        return st.slice(1).map((t, i) => t - (st[i] ?? 0) - 100);
      });
      const meanGap = gaps.reduce((a, b) => a + b, 0) / gaps.length;
      assert.ok(meanGap < 2, `mean gap between iterations ${meanGap.toFixed(2)} ms beyond the 100 ms they take`);
      assert.equal(host.interrupts.length, 0);
    });
  });
});
