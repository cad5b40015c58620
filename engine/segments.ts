/**
 * Execution segments with k6's semantics (lib/execution_segment.go, re-implemented, not copied): a
 * segment `from:to` is a share of the whole test, a sequence `r0,r1,...,rn` is the set of segments the
 * test was cut into, and the pair (a "tuple") decides exactly which VUs and iterations are this part's.
 *
 * Two ways of scaling exist, as in k6:
 *   ExecutionSegment.scale(n)  rounds n * length, ignoring the other segments (k6's Segment.Scale);
 *   SegmentTuple.scale(n)      the striped count: how many of the indexes 0..n-1 belong to the segment
 *                              (k6's ExecutionTuple.ScaleInt64). Summed over a sequence it is exactly n,
 *                              and it never decreases as n grows. The executors use this one.
 *
 * wsgate adds one level k6 lacks: several worker processes inside one instance. A worker's tuple is the
 * composition of the instance's tuple (what the user gave with --execution-segment) with an even split
 * of the instance's own indexes ({@link workerTuple}), so the instance as a whole still runs exactly
 * what k6 would run for that segment, and all workers of all instances together run the test once.
 * Pure module.
 */
import { CodedError } from '../lib/core/errors.ts';

/** Codes of {@link SegmentError}; callers switch on them. */
export type SegmentErrorCode =
  | 'ERR_SEGMENT_SYNTAX'
  | 'ERR_SEGMENT_RANGE'
  | 'ERR_SEGMENT_SEQUENCE'
  | 'ERR_SEGMENT_NOT_IN_SEQUENCE'
  | 'ERR_SEGMENT_SPLIT'
  | 'ERR_SEGMENT_PRECISION';

/** A bad execution segment, sequence or split; `message` is one sentence naming the value and the form. */
export class SegmentError extends CodedError<SegmentErrorCode> {}

const SEGMENT_FORM = 'from:to with 0 <= from < to <= 1, each a fraction, a decimal or a whole percentage, as in "0:1/2", "1/3:2/3", "0.5:1" or "50%:75%"';
const SEQUENCE_FORM = 'at least two increasing comma-separated points between 0 and 1, as in "0,1/3,2/3,1"';

// Striping walks the sequence's least common denominator once; beyond this it would cost seconds and
// megabytes for a precision no load test needs (k6 has no limit, it just gets slow).
const MAX_LCD = 1_000_000;

function gcd(a: bigint, b: bigint): bigint {
  let x = a < 0n ? -a : a;
  let y = b < 0n ? -b : b;
  while (y !== 0n) [x, y] = [y, x % y];
  return x;
}

/** An exact rational number (k6 uses big.Rat); always normalised, denominator > 0. */
export class Rational {
  readonly num: bigint;
  readonly den: bigint;

  constructor(num: bigint, den: bigint = 1n) {
    if (den === 0n) throw new RangeError('a rational number cannot have a zero denominator');
    if (den < 0n) {
      num = -num;
      den = -den;
    }
    const g = gcd(num, den);
    this.num = g > 1n ? num / g : num;
    this.den = g > 1n ? den / g : den;
  }

  static readonly ZERO = new Rational(0n);
  static readonly ONE = new Rational(1n);

  /** An integer or an integer fraction, e.g. `Rational.of(1, 3)`. */
  static of(num: number | bigint, den: number | bigint = 1n): Rational {
    return new Rational(BigInt(num), BigInt(den));
  }

  /**
   * Parses what k6's segment strings accept: `a/b`, decimals with an optional exponent (`0.5`, `5e-1`),
   * and whole percentages (`50%`). Returns undefined for anything else.
   */
  static parse(text: string): Rational | undefined {
    const percent = /^([+-]?\d+)%$/.exec(text);
    if (percent) return new Rational(BigInt(percent[1] ?? '0'), 100n);
    const fraction = /^([+-]?\d+)\/(\d+)$/.exec(text);
    if (fraction) {
      const den = BigInt(fraction[2] ?? '0');
      return den === 0n ? undefined : new Rational(BigInt(fraction[1] ?? '0'), den);
    }
    const decimal = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text);
    if (!decimal) return undefined;
    const [, sign = '', whole = '', frac = '', exp = '0'] = decimal;
    if (whole === '' && frac === '') return undefined;
    let num = BigInt((whole || '0') + frac);
    let den = 10n ** BigInt(frac.length);
    const e = Number(exp);
    if (Math.abs(e) > 1000) return undefined; // refuse absurd exponents rather than build huge numbers
    if (e >= 0) num *= 10n ** BigInt(e);
    else den *= 10n ** BigInt(-e);
    return new Rational(sign === '-' ? -num : num, den);
  }

  add(o: Rational): Rational {
    return new Rational(this.num * o.den + o.num * this.den, this.den * o.den);
  }
  sub(o: Rational): Rational {
    return new Rational(this.num * o.den - o.num * this.den, this.den * o.den);
  }
  mul(o: Rational): Rational {
    return new Rational(this.num * o.num, this.den * o.den);
  }
  div(o: Rational): Rational {
    return new Rational(this.num * o.den, this.den * o.num);
  }
  /** -1, 0 or 1 as this is less than, equal to or greater than `o`. */
  cmp(o: Rational): number {
    const d = this.num * o.den - o.num * this.den;
    return d < 0n ? -1 : d > 0n ? 1 : 0;
  }
  equals(o: Rational): boolean {
    return this.num === o.num && this.den === o.den;
  }
  /** Rounds half up to an integer, as k6's roundUp does for non-negative values. */
  roundHalfUp(): bigint {
    const q = this.num / this.den;
    const r = this.num % this.den;
    return r * 2n >= this.den ? q + 1n : q;
  }
  toNumber(): number {
    return Number(this.num) / Number(this.den);
  }
  /** k6's RatString: `a/b`, or `a` when the denominator is 1. */
  toString(): string {
    return this.den === 1n ? this.num.toString() : `${this.num}/${this.den}`;
  }
}

function parsePoint(text: string, whole: string, what: 'segment' | 'sequence'): Rational {
  const r = Rational.parse(text);
  if (r) return r;
  throw what === 'segment'
    ? new SegmentError('ERR_SEGMENT_SYNTAX', `execution segment "${whole}" is not valid: "${text}" is not a number; use ${SEGMENT_FORM}`)
    : new SegmentError('ERR_SEGMENT_SEQUENCE', `execution segment sequence "${whole}" is not valid: "${text}" is not a number; use ${SEQUENCE_FORM}`);
}

/** A share `(from, to]` of the whole test, 0 <= from < to <= 1. */
export class ExecutionSegment {
  readonly from: Rational;
  readonly to: Rational;
  readonly length: Rational;

  /** Checks the bounds (k6's NewExecutionSegment); `text` is what the user wrote, for the message. */
  constructor(from: Rational, to: Rational, text?: string) {
    if (from.cmp(Rational.ZERO) < 0 || from.cmp(to) >= 0 || to.cmp(Rational.ONE) > 0) {
      throw new SegmentError('ERR_SEGMENT_RANGE', `execution segment "${text ?? `${from}:${to}`}" is not valid: it must be ${SEGMENT_FORM}`);
    }
    this.from = from;
    this.to = to;
    this.length = to.sub(from);
  }

  /** The whole test, `0:1`. */
  static full(): ExecutionSegment {
    return new ExecutionSegment(Rational.ZERO, Rational.ONE);
  }

  /**
   * Parses `from:to`, or a single value meaning `0:value`; empty means the whole test (k6's
   * NewExecutionSegmentFromString): "0:1/2", "1/3:2/3", "0.5:1", "50%:75%", "2/4:75%", "25%".
   */
  static parse(text: string): ExecutionSegment {
    const value = text === '' ? '1' : text;
    const colon = value.indexOf(':');
    const from = colon < 0 ? Rational.ZERO : parsePoint(value.slice(0, colon), text, 'segment');
    const to = parsePoint(colon < 0 ? value : value.slice(colon + 1), text, 'segment');
    return new ExecutionSegment(from, to, text);
  }

  /** True for `0:1`. */
  isFull(): boolean {
    return this.from.equals(Rational.ZERO) && this.to.equals(Rational.ONE);
  }

  equals(o: ExecutionSegment): boolean {
    return this.from.equals(o.from) && this.to.equals(o.to);
  }

  /** `from:to` in lowest terms, e.g. "1/3:2/3" (parses back to an equal segment). */
  toString(): string {
    return `${this.from}:${this.to}`;
  }

  /**
   * k6's ExecutionSegment.Scale: round(value*to - round(value*from)), rounding half up. It looks only at
   * this segment; summed over a sequence it also gives `value`, but it can shrink as value grows. The
   * executors scale with a tuple ({@link SegmentTuple.scale}) instead, as k6 does.
   */
  scale(value: number): number {
    const v = Rational.of(value);
    const fromRounded = new Rational(v.mul(this.from).roundHalfUp());
    return Number(v.mul(this.to).sub(fromRounded).roundHalfUp());
  }

  /** Cuts this segment into `parts` equal consecutive sub-segments (k6's Split). */
  split(parts: number): ExecutionSegment[] {
    if (!Number.isInteger(parts) || parts < 1) {
      throw new SegmentError('ERR_SEGMENT_SPLIT', `cannot split execution segment "${this}" into ${parts} parts: the number of parts must be a whole number >= 1`);
    }
    const step = this.length.div(Rational.of(parts));
    const out: ExecutionSegment[] = [];
    let from = this.from;
    for (let i = 0; i < parts; i++) {
      const to = i === parts - 1 ? this.to : from.add(step);
      out.push(new ExecutionSegment(from, to));
      from = to;
    }
    return out;
  }

  /** The part `child` of this segment: "1/2:1" sub "0:1/2" is "1/2:3/4" (k6's SubSegment). */
  subSegment(child: ExecutionSegment): ExecutionSegment {
    const from = this.from.add(this.length.mul(child.from));
    return new ExecutionSegment(from, from.add(this.length.mul(child.length)));
  }
}

/** An ordered chain of segments, each starting where the previous ended; "0,1/3,2/3,1". */
export class ExecutionSegmentSequence {
  readonly segments: readonly ExecutionSegment[];

  constructor(segments: readonly ExecutionSegment[], text?: string) {
    for (let i = 1; i < segments.length; i++) {
      const prev = segments[i - 1];
      const cur = segments[i];
      if (prev && cur && !cur.from.equals(prev.to)) {
        throw new SegmentError('ERR_SEGMENT_SEQUENCE', `execution segment sequence "${text ?? segments.join(',')}" is not valid: segment ${cur} does not start where ${prev} ends; use ${SEQUENCE_FORM}`);
      }
    }
    this.segments = segments;
  }

  /** Parses "r0,r1,...,rn" (k6's NewExecutionSegmentSequenceFromString); empty gives an empty sequence. */
  static parse(text: string): ExecutionSegmentSequence {
    if (text === '') return new ExecutionSegmentSequence([]);
    const points = text.split(',').map((p) => parsePoint(p, text, 'sequence'));
    if (points.length < 2) {
      throw new SegmentError('ERR_SEGMENT_SEQUENCE', `execution segment sequence "${text}" is not valid: it has ${points.length} point; use ${SEQUENCE_FORM}`);
    }
    const segments: ExecutionSegment[] = [];
    for (let i = 1; i < points.length; i++) {
      const from = points[i - 1] ?? Rational.ZERO;
      const to = points[i] ?? Rational.ONE;
      if (from.cmp(Rational.ZERO) < 0 || from.cmp(to) >= 0 || to.cmp(Rational.ONE) > 0) {
        throw new SegmentError('ERR_SEGMENT_SEQUENCE', `execution segment sequence "${text}" is not valid: points ${from} and ${to} are out of order or outside 0..1; use ${SEQUENCE_FORM}`);
      }
      segments.push(new ExecutionSegment(from, to));
    }
    return new ExecutionSegmentSequence(segments, text);
  }

  get length(): number {
    return this.segments.length;
  }

  /** True when it starts at 0 and ends at 1. */
  isFull(): boolean {
    const first = this.segments[0];
    const last = this.segments[this.segments.length - 1];
    return !!first && !!last && first.from.equals(Rational.ZERO) && last.to.equals(Rational.ONE);
  }

  /** k6's LCD: least common multiple of the segments' length denominators. */
  lcd(): bigint {
    let acc = 1n;
    for (const s of this.segments) acc = (acc / gcd(acc, s.length.den)) * s.length.den;
    return acc;
  }

  /** "r0,r1,...,rn" in lowest terms; empty for an empty sequence. */
  toString(): string {
    const first = this.segments[0];
    return first ? [first.from, ...this.segments.map((s) => s.to)].join(',') : '';
  }

  /**
   * k6's GetFilledExecutionSegmentSequence: this sequence (or `fallback` alone when empty) with the
   * gaps before and after it filled, so it covers 0..1.
   */
  filled(fallback?: ExecutionSegment): ExecutionSegmentSequence {
    let segs: ExecutionSegment[];
    if (this.segments.length === 0) {
      if (!fallback || fallback.isFull()) return new ExecutionSegmentSequence([ExecutionSegment.full()]);
      segs = [fallback];
    } else {
      segs = [...this.segments];
    }
    const first = segs[0];
    const last = segs[segs.length - 1];
    if (first && !first.from.equals(Rational.ZERO)) segs.unshift(new ExecutionSegment(Rational.ZERO, first.from));
    if (last && !last.to.equals(Rational.ONE)) segs.push(new ExecutionSegment(last.to, Rational.ONE));
    return new ExecutionSegmentSequence(segs);
  }

  /** Position of `segment` in this sequence; throws ERR_SEGMENT_NOT_IN_SEQUENCE when it is not one of them. */
  indexOf(segment: ExecutionSegment): number {
    const i = this.segments.findIndex((s) => s.equals(segment));
    if (i < 0) {
      throw new SegmentError('ERR_SEGMENT_NOT_IN_SEQUENCE', `execution segment "${segment}" is not in the sequence "${this}": the sequence must contain its from and to as consecutive points, as "0,1/3,2/3,1" does for "1/3:2/3"`);
    }
    return i;
  }
}

/**
 * A full sequence with k6's striping precomputed (k6's ExecutionSegmentSequenceWrapper): within every
 * block of `lcd` indexes, segment s owns `length(s) * lcd` of them, spread as far apart as possible.
 */
export class StripedSequence {
  readonly sequence: ExecutionSegmentSequence;
  readonly lcd: number;
  /** Per segment, the indexes in [0, lcd) it owns, ascending. */
  readonly positions: readonly (readonly number[])[];

  constructor(sequence: ExecutionSegmentSequence) {
    if (!sequence.isFull()) {
      throw new SegmentError('ERR_SEGMENT_SEQUENCE', `execution segment sequence "${sequence}" is not valid for striping: it must cover 0 to 1, as in "0,1/3,2/3,1"`);
    }
    const lcdBig = sequence.lcd();
    if (lcdBig > BigInt(MAX_LCD)) {
      throw new SegmentError('ERR_SEGMENT_PRECISION', `execution segment sequence "${sequence}" is too fine: its common denominator ${lcdBig} is above ${MAX_LCD}; use fractions with smaller denominators, as in "0,1/3,2/3,1"`);
    }
    const lcd = Number(lcdBig);
    this.sequence = sequence;
    this.lcd = lcd;
    const segs = sequence.segments;
    const norm = segs.map((s) => Number(s.length.num) * (lcd / Number(s.length.den)));
    // Biggest segments first (stable for ties): they need the most indexes and are the hardest to keep
    // from getting consecutive ones; k6 orders them the same way, which fixes who gets which index.
    const order = segs.map((_, i) => i).sort((a, b) => (norm[b] ?? 0) - (norm[a] ?? 0));
    const positions: number[][] = segs.map(() => []);
    const chosen = order.map(() => 0);
    for (let i = 0; i < lcd; i++) {
      for (let k = 0; k < order.length; k++) {
        const idx = order[k] ?? 0;
        const denom = norm[idx] ?? 1;
        const num = (chosen[k] ?? 0) * lcd;
        const q = Math.floor(num / denom);
        // Give index i to the first segment whose share so far is at or behind its ideal spacing.
        if (i > q || (i === q && num % denom === 0)) {
          chosen[k] = (chosen[k] ?? 0) + 1;
          positions[idx]?.push(i);
          break;
        }
      }
    }
    this.positions = positions;
  }

  /** How many of the indexes 0..value-1 segment `index` owns (k6's ScaleInt64). */
  scale(index: number, value: number): number {
    const pos = this.positions[index] ?? [];
    const whole = Math.floor(value / this.lcd) * pos.length;
    const rest = value - Math.floor(value / this.lcd) * this.lcd;
    return whole + countBelow(pos, rest);
  }

  /**
   * k6's GetNewExecutionSegmentSequenceFromValue: a new sequence whose segments have length
   * scale(value)/value, dropping the empty ones, and where segment `tracked` went; undefined when it
   * got nothing (or value < 1).
   */
  forValue(value: number, tracked: number): { striped: StripedSequence; index: number } | undefined {
    if (!Number.isInteger(value) || value < 1) return undefined;
    if (value % this.lcd === 0) return { striped: this, index: tracked };
    const segs: ExecutionSegment[] = [];
    let index = -1;
    let prev = 0;
    for (let i = 0; i < this.sequence.segments.length; i++) {
      const share = this.scale(i, value);
      if (share === 0) continue;
      if (i === tracked) index = segs.length;
      segs.push(new ExecutionSegment(Rational.of(prev, value), Rational.of(prev + share, value)));
      prev += share;
    }
    if (index < 0) return undefined;
    return { striped: new StripedSequence(new ExecutionSegmentSequence(segs)), index };
  }
}

function countBelow(sorted: readonly number[], limit: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((sorted[mid] ?? Infinity) < limit) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Which part of the test this process runs: k6's ExecutionTuple, or a composition of two of them.
 * Indexes are 0-based; "global" is the index in the whole test, "local" the index among this part's.
 */
export interface SegmentTuple {
  /** This part's share of the whole test. */
  readonly fraction: Rational;
  /** How many of the global indexes 0..value-1 are this part's (striped; sums to value over all parts). */
  scale(value: number): number;
  /** The global index of this part's `local`-th index. */
  globalIndex(local: number): number;
  /** Whether global index `global` is this part's. */
  isMine(global: number): boolean;
  /** This part's global indexes among 0..n-1, ascending (length is scale(n)). */
  indexes(n: number): number[];
  /**
   * k6's GetNewExecutionTupleFromValue: the tuple re-cut so each part's share follows its share of
   * `value` (shared-iterations re-cuts by VUs, arrival-rate executors by maxVUs). Undefined when this
   * part gets none of `value`, i.e. has no work.
   */
  forValue(value: number): SegmentTuple | undefined;
  /** e.g. "1/3:2/3 in 0,1/3,2/3,1", or "worker 1/2 of (...)". */
  toString(): string;
}

function indexesOf(t: SegmentTuple, n: number): number[] {
  const count = t.scale(n);
  const out = new Array<number>(count);
  for (let i = 0; i < count; i++) out[i] = t.globalIndex(i);
  return out;
}

/** One segment of a striped sequence (k6's ExecutionTuple). */
export class ExecutionTuple implements SegmentTuple {
  readonly striped: StripedSequence;
  readonly index: number;
  readonly segment: ExecutionSegment;
  readonly fraction: Rational;
  private readonly pos: readonly number[];
  private readonly mine: ReadonlySet<number>;

  constructor(striped: StripedSequence, index: number) {
    const segment = striped.sequence.segments[index];
    if (!segment) throw new RangeError(`segment index ${index} is outside the sequence ${striped.sequence}`);
    this.striped = striped;
    this.index = index;
    this.segment = segment;
    this.fraction = segment.length;
    this.pos = striped.positions[index] ?? [];
    this.mine = new Set(this.pos);
  }

  scale(value: number): number {
    return this.striped.scale(this.index, value);
  }

  globalIndex(local: number): number {
    const n = this.pos.length;
    const cycle = Math.floor(local / n);
    return cycle * this.striped.lcd + (this.pos[local - cycle * n] ?? 0);
  }

  isMine(global: number): boolean {
    return global >= 0 && this.mine.has(global % this.striped.lcd);
  }

  indexes(n: number): number[] {
    return indexesOf(this, n);
  }

  forValue(value: number): SegmentTuple | undefined {
    const r = this.striped.forValue(value, this.index);
    return r && (r.striped === this.striped ? this : new ExecutionTuple(r.striped, r.index));
  }

  /** k6's striped offsets: first owned index, the gaps to each next one (cyclic), and the lcd. */
  stripedOffsets(): { start: number; offsets: number[]; lcd: number } {
    const pos = this.pos;
    const offsets = pos.map((p, i) => (i + 1 < pos.length ? (pos[i + 1] ?? 0) - p : (pos[0] ?? 0) + this.striped.lcd - p));
    return { start: pos[0] ?? 0, offsets, lcd: this.striped.lcd };
  }

  toString(): string {
    return `${this.segment} in ${this.striped.sequence}`;
  }
}

/**
 * A part of a part: `inner` cuts the local indexes of `outer`. Global index of local i is
 * outer.globalIndex(inner.globalIndex(i)), and scaling applies outer then inner, so the parts of
 * `inner`'s sequence together run exactly what `outer` runs.
 */
export class ComposedTuple implements SegmentTuple {
  readonly outer: SegmentTuple;
  readonly inner: SegmentTuple;
  readonly fraction: Rational;

  constructor(outer: SegmentTuple, inner: SegmentTuple) {
    this.outer = outer;
    this.inner = inner;
    this.fraction = outer.fraction.mul(inner.fraction);
  }

  scale(value: number): number {
    return this.inner.scale(this.outer.scale(value));
  }

  globalIndex(local: number): number {
    return this.outer.globalIndex(this.inner.globalIndex(local));
  }

  isMine(global: number): boolean {
    // outer.scale(g) is how many of outer's indexes lie below g: g's local index when g is outer's.
    return this.outer.isMine(global) && this.inner.isMine(this.outer.scale(global));
  }

  indexes(n: number): number[] {
    return indexesOf(this, n);
  }

  forValue(value: number): SegmentTuple | undefined {
    const outer = this.outer.forValue(value);
    const inner = this.inner.forValue(this.outer.scale(value));
    return outer && inner ? new ComposedTuple(outer, inner) : undefined;
  }

  toString(): string {
    return `(${this.inner}) within (${this.outer})`;
  }
}

/**
 * k6's NewExecutionTuple: `segment` (default the whole test) within `sequence` (default: the segment
 * alone, with the gaps around it filled). Strings are parsed; errors are {@link SegmentError}.
 */
export function executionTuple(segment?: string | ExecutionSegment, sequence?: string | ExecutionSegmentSequence): ExecutionTuple {
  const seg = segment === undefined ? undefined : typeof segment === 'string' ? ExecutionSegment.parse(segment) : segment;
  const seq = sequence === undefined ? new ExecutionSegmentSequence([]) : typeof sequence === 'string' ? ExecutionSegmentSequence.parse(sequence) : sequence;
  const filled = seq.filled(seg);
  return new ExecutionTuple(new StripedSequence(filled), filled.indexOf(seg ?? ExecutionSegment.full()));
}

/** The whole test as one part. */
export function wholeTest(): ExecutionTuple {
  return executionTuple();
}

/** `k` equal segments: the sequence "0,1/k,2/k,...,1" and its segments, for k workers. */
export function splitEvenly(k: number): { sequence: ExecutionSegmentSequence; segments: ExecutionSegment[] } {
  const segments = ExecutionSegment.full().split(k);
  return { sequence: new ExecutionSegmentSequence(segments), segments };
}

/**
 * The tuple of worker `workerIndex` (0-based) of `workerCount` inside an instance that runs `instance`
 * (the tuple of the user's --execution-segment/--execution-segment-sequence, or the whole test).
 * Workers split the instance's own indexes evenly, so their union is exactly the instance's share.
 */
export function workerTuple(instance: SegmentTuple, workerIndex: number, workerCount: number): SegmentTuple {
  const { sequence, segments } = splitEvenly(workerCount);
  const seg = segments[workerIndex];
  if (!Number.isInteger(workerIndex) || !seg) {
    throw new SegmentError('ERR_SEGMENT_SPLIT', `worker index ${workerIndex} is not valid for ${workerCount} workers: it must be a whole number from 0 to ${workerCount - 1}`);
  }
  if (workerCount === 1) return instance;
  return new ComposedTuple(instance, new ExecutionTuple(new StripedSequence(sequence), workerIndex));
}

/** Where an executor runs: a ready tuple, or a segment and sequence as strings or parsed values. */
export type ExecutionPosition =
  | SegmentTuple
  | { segment?: string | ExecutionSegment | undefined; sequence?: string | ExecutionSegmentSequence | undefined };

/** Resolves an {@link ExecutionPosition} to a tuple (strings are parsed; empty means whole test). */
export function resolveTuple(position: ExecutionPosition): SegmentTuple {
  if ('scale' in position && typeof position.scale === 'function') return position;
  const p = position as { segment?: string | ExecutionSegment | undefined; sequence?: string | ExecutionSegmentSequence | undefined };
  return executionTuple(p.segment === '' ? undefined : p.segment, p.sequence);
}
