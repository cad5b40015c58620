/**
 * Execution segments against k6's own expectations (lib/execution_segment_test.go in k6 v2.2.0), and the
 * property wsgate adds: instances x workers together run every index exactly once.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ComposedTuple,
  ExecutionSegment,
  ExecutionSegmentSequence,
  ExecutionTuple,
  Rational,
  SegmentError,
  executionTuple,
  resolveTuple,
  splitEvenly,
  wholeTest,
  workerTuple,
  type SegmentTuple,
} from '../../engine/segments.ts';

function segmentError(fn: () => unknown): SegmentError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof SegmentError, `expected SegmentError, got ${String(e)}`);
    return e;
  }
  assert.fail('no error was thrown');
}

// A small deterministic PRNG so the "random" property tests are reproducible.
function prng(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s % n;
  };
}

function randomSequence(rand: (n: number) => number, parts: number, maxNumerator: number): ExecutionSegmentSequence {
  const nums = Array.from({ length: parts }, () => 1 + rand(maxNumerator));
  const total = nums.reduce((a, b) => a + b, 0);
  let acc = 0;
  const points = [Rational.ZERO, ...nums.map((n) => Rational.of((acc += n), total))];
  return ExecutionSegmentSequence.parse(points.join(','));
}

describe('segment parsing (k6 TestExecutionSegmentUnmarshalText)', () => {
  const ok: [string, string][] = [
    ['0:1', '0:1'],
    ['0.5:0.75', '1/2:3/4'],
    ['1/2:3/4', '1/2:3/4'],
    ['50%:75%', '1/2:3/4'],
    ['2/4:75%', '1/2:3/4'],
    ['75%', '0:3/4'],
    ['0:1/2', '0:1/2'],
    ['1/3:2/3', '1/3:2/3'],
    ['0.5:1', '1/2:1'],
    ['', '0:1'],
  ];
  for (const [input, expected] of ok) {
    test(`"${input}" is ${expected} and round-trips`, () => {
      const s = ExecutionSegment.parse(input);
      assert.equal(s.toString(), expected);
      assert.ok(ExecutionSegment.parse(s.toString()).equals(s));
    });
  }

  const bad: [string, string][] = [
    ['125%', 'ERR_SEGMENT_RANGE'],
    ['1a5%', 'ERR_SEGMENT_SYNTAX'],
    ['1a5', 'ERR_SEGMENT_SYNTAX'],
    ['1a5%:2/3', 'ERR_SEGMENT_SYNTAX'],
    ['125%:250%', 'ERR_SEGMENT_RANGE'],
    ['55%:50%', 'ERR_SEGMENT_RANGE'],
    ['1/2:1/2', 'ERR_SEGMENT_RANGE'],
    ['-1:1', 'ERR_SEGMENT_RANGE'],
    ['0:2', 'ERR_SEGMENT_RANGE'],
    ['1/0:1', 'ERR_SEGMENT_SYNTAX'],
  ];
  for (const [input, code] of bad) {
    test(`"${input}" fails with ${code}, naming the value and the form`, () => {
      const e = segmentError(() => ExecutionSegment.parse(input));
      assert.equal(e.code, code);
      assert.ok(e.message.includes(`"${input}"`), e.message);
      assert.match(e.message, /"0:1\/2"/);
      assert.equal(e.message.split('. ').length, 1, 'one sentence');
    });
  }
});

describe('sequence parsing (k6 TestExecutionSegmentStringSequences)', () => {
  const cases: { seq: string; segs?: string[]; reverse?: boolean }[] = [
    { seq: '', segs: [] },
    { seq: '0.5' },
    { seq: '1,1' },
    { seq: '-0.5,1' },
    { seq: '1/2,1/2' },
    { seq: '1/2,1/3' },
    { seq: '0,1,1/2' },
    { seq: '0.5,1', segs: ['1/2:1'] },
    { seq: '1/2,1', segs: ['1/2:1'], reverse: true },
    { seq: '1/3,2/3', segs: ['1/3:2/3'], reverse: true },
    { seq: '0,1/3,2/3', segs: ['0:1/3', '1/3:2/3'], reverse: true },
    { seq: '0,1/3,2/3,1', segs: ['0:1/3', '1/3:2/3', '2/3:1'], reverse: true },
    { seq: '0.5,0.7', segs: ['1/2:7/10'] },
    { seq: '0.5,0.7,1', segs: ['1/2:7/10', '7/10:1'] },
    { seq: '0,1/13,2/13,1/3,1/2,3/4,1', segs: ['0:1/13', '1/13:2/13', '2/13:1/3', '1/3:1/2', '1/2:3/4', '3/4:1'], reverse: true },
  ];
  for (const c of cases) {
    test(`"${c.seq}"`, () => {
      if (!c.segs) {
        const e = segmentError(() => ExecutionSegmentSequence.parse(c.seq));
        assert.equal(e.code, 'ERR_SEGMENT_SEQUENCE');
        assert.ok(e.message.includes(`"${c.seq}"`) && e.message.includes('"0,1/3,2/3,1"'), e.message);
        return;
      }
      const s = ExecutionSegmentSequence.parse(c.seq);
      assert.deepEqual(
        s.segments.map((x) => x.toString()),
        c.segs,
      );
      if (c.reverse) assert.equal(s.toString(), c.seq);
    });
  }

  test('LCD (k6 TestSequenceLCD)', () => {
    for (const [seq, lcd] of [
      ['0,0.3,0.5,0.6,0.7,0.8,0.9,1', 10n],
      ['0,0.1,0.5,0.6,0.7,0.8,0.9,1', 10n],
      ['0,0.2,0.5,0.6,0.7,0.8,0.9,1', 10n],
      ['0,1/3,5/6', 6n],
      ['0,1/3,4/7', 21n],
    ] as const) {
      assert.equal(ExecutionSegmentSequence.parse(seq).lcd(), lcd, seq);
    }
  });

  test('a segment missing from its sequence is refused with its own code', () => {
    const e = segmentError(() => executionTuple('0:1/3', '0,1/2,1'));
    assert.equal(e.code, 'ERR_SEGMENT_NOT_IN_SEQUENCE');
    assert.match(e.message, /"0:1\/3" is not in the sequence "0,1\/2,1"/);
  });
});

describe('segment arithmetic (k6 Split, SubSegment, Scale)', () => {
  test('Split (k6 TestExecutionSegmentSplit)', () => {
    const full = ExecutionSegment.full();
    assert.deepEqual(full.split(1).map(String), ['0:1']);
    assert.deepEqual(full.split(2).map(String), ['0:1/2', '1/2:1']);
    assert.deepEqual(full.split(3).map(String), ['0:1/3', '1/3:2/3', '2/3:1']);
    const q = ExecutionSegment.parse('1/4:2/4');
    assert.deepEqual(q.split(1).map(String), ['1/4:1/2']);
    assert.deepEqual(q.split(2).map(String), ['1/4:3/8', '3/8:1/2']);
    assert.deepEqual(q.split(3).map(String), ['1/4:1/3', '1/3:5/12', '5/12:1/2']);
    assert.deepEqual(q.split(4).map(String), ['1/4:5/16', '5/16:3/8', '3/8:7/16', '7/16:1/2']);
    for (const bad of [0, -1, 1.5]) assert.equal(segmentError(() => full.split(bad)).code, 'ERR_SEGMENT_SPLIT');
  });

  test('SubSegment: 1/2:1 sub 0:1/2 is 1/2:3/4', () => {
    assert.equal(ExecutionSegment.parse('1/2:1').subSegment(ExecutionSegment.parse('0:1/2')).toString(), '1/2:3/4');
    assert.equal(ExecutionSegment.full().subSegment(ExecutionSegment.parse('0.2:0.3')).toString(), '1/5:3/10');
  });

  test('Segment.Scale (k6 TestExecutionSegmentFailures)', () => {
    const table: [string, number, number][] = [
      ['0:0.25', 2, 1],
      ['0:0.25', 3, 1],
      ['0.25:0.5', 2, 0],
      ['0.25:0.5', 3, 1],
      ['0.5:0.75', 2, 1],
      ['0.5:0.75', 3, 0],
      ['0.75:1', 2, 0],
      ['0.75:1', 3, 1],
    ];
    for (const [seg, value, expected] of table) assert.equal(ExecutionSegment.parse(seg).scale(value), expected, `${seg} scale(${value})`);
  });

  test('Segment.Scale sums to the value over random sequences (k6 TestExecutionSegmentScaleConsistency)', () => {
    const rand = prng(7);
    for (let i = 0; i < 30; i++) {
      const value = 2 + rand(99);
      const seq = randomSequence(rand, 2 + rand(9), 100);
      const total = seq.segments.reduce((sum, s) => sum + s.scale(value), 0);
      assert.equal(total, value, `${value} over ${seq}`);
    }
  });
});

describe('striping (k6 ExecutionTuple)', () => {
  test('tuple scale (k6 TestExecutionTupleScale, TestBigScale)', () => {
    assert.deepEqual([executionTuple('0.5').scale(2), executionTuple('0.5').scale(3)], [1, 2]);
    assert.deepEqual([executionTuple('0.5:1.0').scale(2), executionTuple('0.5:1.0').scale(3)], [1, 1]);
    assert.deepEqual([executionTuple('0.5', '0,0.5,1').scale(2), executionTuple('0.5', '0,0.5,1').scale(3)], [1, 2]);
    assert.deepEqual([executionTuple('0.5:1.0', '0,0.5,1').scale(2), executionTuple('0.5:1.0', '0,0.5,1').scale(3)], [1, 1]);
    assert.equal(executionTuple('0:7/20', '0,7/20,7/10,1').scale(50), 18);
  });

  test('striped offsets (k6 TestGetStripedOffsets)', () => {
    const table: [string, string, number, number[], number][] = [
      ['0,0.3,0.5,0.6,0.7,0.8,0.9,1', '0:0.3', 0, [4, 3, 3], 10],
      ['0,0.3,0.5,0.6,0.7,0.8,0.9,1', '0.3:0.5', 1, [4, 6], 10],
      ['0,0.3,0.5,0.6,0.7,0.8,0.9,1', '0.5:0.6', 2, [10], 10],
      ['0,0.3,0.5,0.6,0.7,0.8,0.9,1', '0.6:0.7', 3, [10], 10],
      ['0,0.3,0.5,0.6,0.7,0.8,0.9,1', '0.8:0.9', 8, [10], 10],
      ['0,0.3,0.5,0.6,0.7,0.8,0.9,1', '0.9:1', 9, [10], 10],
      ['0,0.2,0.5,0.6,0.7,0.8,0.9,1', '0.9:1', 9, [10], 10],
      ['0,0.2,0.5,0.6,0.7,0.8,0.9,1', '0:0.2', 1, [4, 6], 10],
      ['0,0.2,0.5,0.6,0.7,0.8,0.9,1', '0.6:0.7', 3, [10], 10],
      ['0,0.2,0.5', '0:0.2', 3, [6, 4], 10],
      ['0,0.2,0.5', '0.2:0.5', 1, [4, 2, 4], 10],
      ['0,2/5,4/5', '0:2/5', 0, [3, 2], 5],
      ['0,2/5,4/5', '2/5:4/5', 1, [3, 2], 5],
      ['', '0:0.2', 1, [5], 5],
      ['', '0:1/5', 1, [5], 5],
      ['', '0:2/10', 1, [5], 5],
      ['', '0:0.4', 1, [2, 3], 5],
      ['', '0:2/5', 1, [2, 3], 5],
      ['', '2/5:4/5', 1, [3, 2], 5],
      ['', '0:4/10', 1, [2, 3], 5],
      ['', '1/10:5/10', 1, [2, 2, 4, 2], 10],
    ];
    for (const [seq, seg, start, offsets, lcd] of table) {
      assert.deepEqual(executionTuple(seg, seq).stripedOffsets(), { start, offsets, lcd }, `${seg} in ${seq}`);
    }
  });

  test('scale and re-cut by value (k6 TestNewExecutionTuple)', () => {
    const cases: { seg?: string; seq?: string; scale: Record<number, number>; recut: Record<number, Record<number, number> | null> }[] = [
      { scale: { 50: 50, 1: 1, 0: 0 }, recut: { 50: { 50: 50, 1: 1, 0: 0 }, 1: { 50: 50, 1: 1, 0: 0 }, 0: null } },
      { seg: '0:1', seq: '0,1', scale: { 50: 50, 1: 1, 0: 0 }, recut: { 50: { 50: 50, 1: 1, 0: 0 }, 1: { 50: 50, 1: 1, 0: 0 }, 0: null } },
      {
        seg: '0:1/3',
        seq: '0,1/3,2/3,1',
        scale: { 50: 17, 3: 1, 2: 1, 1: 1, 0: 0 },
        recut: { 50: { 50: 17, 1: 1, 0: 0 }, 20: { 50: 18, 1: 1, 0: 0 }, 3: { 50: 17, 1: 1, 0: 0 }, 2: { 50: 25, 1: 1, 0: 0 }, 1: { 50: 50, 1: 1, 0: 0 }, 0: null },
      },
      {
        seg: '1/3:2/3',
        seq: '0,1/3,2/3,1',
        scale: { 50: 17, 3: 1, 2: 1, 1: 0, 0: 0 },
        recut: { 50: { 50: 17, 1: 0, 0: 0 }, 20: { 50: 17, 1: 0, 0: 0 }, 3: { 50: 17, 1: 0, 0: 0 }, 2: { 50: 25, 1: 0, 0: 0 }, 1: null, 0: null },
      },
      {
        seg: '2/3:1',
        seq: '0,1/3,2/3,1',
        scale: { 50: 16, 3: 1, 2: 0, 1: 0, 0: 0 },
        recut: { 50: { 50: 16, 1: 0, 0: 0 }, 20: { 50: 15, 1: 0, 0: 0 }, 3: { 50: 16, 1: 0, 0: 0 }, 2: null, 1: null, 0: null },
      },
    ];
    for (const c of cases) {
      const t = executionTuple(c.seg, c.seq);
      for (const [v, r] of Object.entries(c.scale)) assert.equal(t.scale(Number(v)), r, `${t} scale(${v})`);
      for (const [v, table] of Object.entries(c.recut)) {
        const n = t.forValue(Number(v));
        if (table === null) {
          assert.equal(n, undefined, `${t} forValue(${v})`);
          continue;
        }
        assert.ok(n, `${t} forValue(${v})`);
        for (const [x, r] of Object.entries(table)) assert.equal(n.scale(Number(x)), r, `${t} forValue(${v}).scale(${x})`);
      }
    }
    const recut = executionTuple('0:1/3', '0,1/3,2/3,1').forValue(20);
    assert.ok(recut instanceof ExecutionTuple);
    assert.equal(recut.striped.sequence.toString(), '0,7/20,7/10,1');
  });

  test('striped scale sums to the value and never wobbles (k6 TestExecutionTupleScaleConsistency, NoWobble)', () => {
    const rand = prng(11);
    for (let i = 0; i < 20; i++) {
      const seq = randomSequence(rand, 2 + rand(9), 200);
      const tuples = seq.segments.map((s) => executionTuple(s, seq));
      for (let value = 0; value < 300; value++) {
        assert.equal(
          tuples.reduce((sum, t) => sum + t.scale(value), 0),
          value,
        );
      }
      const t = tuples[rand(tuples.length)] ?? wholeTest();
      for (let v = 1, last = 0; v < 1000; v++) {
        const r = t.scale(v);
        assert.ok(r >= last, `${t}: scale(${v})=${r} < ${last}`);
        last = r;
      }
    }
  });

  test('striped iterator: indexes, globalIndex and isMine agree (k6 TestSegmentedIndex layout)', () => {
    // k6's documentation example: 0:1/2, 1/2:3/4, 3/4:1.
    const seq = '0,1/2,3/4,1';
    assert.deepEqual(executionTuple('0:1/2', seq).indexes(12), [0, 2, 4, 6, 8, 10]);
    assert.deepEqual(executionTuple('1/2:3/4', seq).indexes(12), [1, 5, 9]);
    assert.deepEqual(executionTuple('3/4:1', seq).indexes(12), [3, 7, 11]);
    const t = executionTuple('1/10:5/10');
    for (let g = 0; g < 100; g++) assert.equal(t.isMine(g), t.indexes(100).includes(g));
    for (let l = 0; l < 40; l++) assert.equal(t.scale(t.globalIndex(l)), l, 'local index of globalIndex(l) is l');
  });
});

/** Every index 0..n-1 is owned by exactly one tuple; returns each tuple's indexes. */
function assertPartition(tuples: readonly SegmentTuple[], n: number): number[][] {
  const owner = new Array<number>(n).fill(-1);
  const all = tuples.map((t, ti) => {
    const idx = t.indexes(n);
    assert.equal(idx.length, t.scale(n));
    for (const g of idx) {
      assert.ok(g >= 0 && g < n, `${t} owns ${g} outside 0..${n - 1}`);
      assert.equal(owner[g], -1, `index ${g} owned by ${tuples[owner[g] ?? 0]} and ${t}`);
      owner[g] = ti;
      assert.ok(t.isMine(g));
    }
    return idx;
  });
  const orphan = owner.indexOf(-1);
  assert.equal(orphan, -1, `index ${orphan} of ${n} is owned by nobody`);
  return all;
}

describe('splitting an instance between workers', () => {
  test('splitEvenly(k) is "0,1/k,...,1" and its k segments', () => {
    assert.equal(splitEvenly(1).sequence.toString(), '0,1');
    assert.equal(splitEvenly(4).sequence.toString(), '0,1/4,1/2,3/4,1');
    assert.deepEqual(splitEvenly(3).segments.map(String), ['0:1/3', '1/3:2/3', '2/3:1']);
    assert.equal(segmentError(() => splitEvenly(0)).code, 'ERR_SEGMENT_SPLIT');
    assert.equal(segmentError(() => workerTuple(wholeTest(), 3, 3)).code, 'ERR_SEGMENT_SPLIT');
  });

  test('k workers of the whole test behave exactly like k6 with the sequence "0,1/k,...,1"', () => {
    for (const k of [2, 3, 5]) {
      const { sequence, segments } = splitEvenly(k);
      segments.forEach((seg, w) => {
        const mine = workerTuple(wholeTest(), w, k);
        const k6 = executionTuple(seg, sequence);
        for (const v of [1, 7, 50, 101]) assert.deepEqual(mine.indexes(v), k6.indexes(v));
      });
    }
  });

  // The property the engine relies on: instances (--execution-segment) x workers per instance together
  // run every VU and every iteration of the test exactly once, and each instance still runs exactly what
  // a single k6 process would run for its segment.
  const layouts: { name: string; sequence: string; workers: number[] }[] = [
    { name: 'one instance, 1 worker', sequence: '', workers: [1] },
    { name: 'one instance, 3 workers', sequence: '', workers: [3] },
    { name: 'halves with 2 and 3 workers', sequence: '0,1/2,1', workers: [2, 3] },
    { name: 'k6 doc layout 1/4,1/2,1/4 with 1, 2 and 3 workers', sequence: '0,1/4,3/4,1', workers: [1, 2, 3] },
    { name: 'uneven 0,1/3,0.45,1 with 4, 1 and 2 workers', sequence: '0,1/3,0.45,1', workers: [4, 1, 2] },
  ];
  for (const layout of layouts) {
    test(`composition covers every index exactly once: ${layout.name}`, () => {
      const seq = ExecutionSegmentSequence.parse(layout.sequence);
      const instances = seq.length === 0 ? [wholeTest()] : seq.segments.map((s) => executionTuple(s, seq));
      const workers = instances.flatMap((inst, i) => Array.from({ length: layout.workers[i] ?? 1 }, (_, w) => workerTuple(inst, w, layout.workers[i] ?? 1)));
      for (const n of [0, 1, 2, 3, 7, 12, 60, 97, 240]) {
        assertPartition(workers, n);
        // each instance's workers own exactly the instance's own (k6) indexes
        let w = 0;
        instances.forEach((inst, i) => {
          const count = layout.workers[i] ?? 1;
          const union = workers
            .slice(w, w + count)
            .flatMap((t) => t.indexes(n))
            .sort((a, b) => a - b);
          w += count;
          assert.deepEqual(union, inst.indexes(n), `instance ${inst} at n=${n}`);
        });
      }
      // Re-cut by a VU count first (shared-iterations, arrival-rate), then scale iterations: still once.
      for (const vus of [1, 2, 5, 9, 31]) {
        for (const iterations of [vus, 40, 333]) {
          const recut = workers.map((t) => t.forValue(vus)).filter((t): t is SegmentTuple => t !== undefined);
          assertPartition(recut, iterations);
          const vuTotal = workers.reduce((s, t) => s + t.scale(vus), 0);
          assert.equal(vuTotal, vus);
          for (const t of workers) {
            if (t.scale(vus) === 0) assert.equal(t.forValue(vus), undefined, `${t} has no VUs so no iterations`);
          }
        }
      }
    });
  }

  test('a composed tuple is ComposedTuple and 1 worker is the instance itself', () => {
    const inst = executionTuple('1/4:3/4', '0,1/4,3/4,1');
    assert.equal(workerTuple(inst, 0, 1), inst);
    const w = workerTuple(inst, 1, 2);
    assert.ok(w instanceof ComposedTuple);
    assert.equal(w.fraction.toString(), '1/4');
    // the middle half owns 0, 2, 4, ... (k6's layout); worker 1 of 2 takes every other one of those
    assert.deepEqual(inst.indexes(12), [0, 2, 4, 6, 8, 10]);
    assert.deepEqual(w.indexes(12), [2, 6, 10]);
  });

  test('resolveTuple takes a tuple or strings as the contracts give them', () => {
    const t = resolveTuple({ segment: '1/3:2/3', sequence: '0,1/3,2/3,1' });
    assert.deepEqual(t.indexes(9), [1, 4, 7]);
    assert.deepEqual(resolveTuple({ segment: '', sequence: '' }).indexes(3), [0, 1, 2]);
    const w = workerTuple(wholeTest(), 0, 2);
    assert.equal(resolveTuple(w), w);
  });
});
