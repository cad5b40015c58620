/**
 * k6 duration values ("1h2m3.5s", "500ms", "30s", "2d12h", 1500) as milliseconds, read the way k6 v2.2
 * reads them (lib/types ParseExtendedDuration over Go's time.ParseDuration):
 *
 * - a bare number, as a string ("1500") or a JSON number (1500), is milliseconds;
 * - otherwise a sequence of `<decimal><unit>` with units ns, us, µs, μs, ms, s, m, h and an optional
 *   leading sign; "0" alone is zero; a unit is required everywhere else ("1h30" is an error);
 * - k6's extension: `<integer>d` optionally followed by a non-negative Go duration ("2d", "1d12h").
 *
 * Go keeps nanoseconds in an int64 and truncates fractions of a nanosecond; so does this module (then
 * divides by 1e6), so "1.0000001ms" is 1.0000001 and "0.1ns" is 0.
 *
 * Pure module.
 */

/** A duration value k6 would reject; the message names the field (when given), the value and the syntax. */
export class DurationError extends Error {
  readonly code = 'ERR_DURATION';
  /** The rejected value, as given. */
  readonly value: unknown;
  constructor(value: unknown, field: string | undefined, reason: string) {
    super(
      `${field ? `${field}: ` : ''}${JSON.stringify(value) ?? String(value)} is not a valid k6 duration (${reason}); ` +
        'use a number of milliseconds or a string like "500ms", "30s", "1m30s", "1h" or "2d"',
    );
    this.name = 'DurationError';
    this.value = value;
  }
}

const NS_PER_MS = 1e6;
/** Go's time.Duration is an int64 of nanoseconds. */
const MAX_NS = 2 ** 63;

const UNITS_NS: Readonly<Record<string, number>> = {
  ns: 1,
  us: 1e3,
  'µs': 1e3, // U+00B5 MICRO SIGN
  'μs': 1e3, // U+03BC GREEK SMALL LETTER MU
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/** Go's strconv.ParseFloat for the decimal forms a duration can take (no hex, no inf/nan: k6 would overflow). */
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * Parses a k6 duration into milliseconds. `field` names the option in the error ("delayAbortEval").
 * Negative durations parse (as in k6); callers that cannot use them say so themselves.
 */
export function parseDuration(value: string | number, field?: string): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new DurationError(value, field, 'not a finite number');
    return Math.trunc(value * NS_PER_MS) / NS_PER_MS;
  }
  if (typeof value !== 'string') throw new DurationError(value, field, 'neither a string nor a number');
  if (DECIMAL.test(value)) {
    const ms = Number(value);
    if (!Number.isFinite(ms) || Math.abs(ms * NS_PER_MS) >= MAX_NS) throw new DurationError(value, field, 'out of range');
    return Math.trunc(ms * NS_PER_MS) / NS_PER_MS;
  }
  const d = value.indexOf('d');
  if (d < 0) return goDurationNs(value, field) / NS_PER_MS;
  // k6's days extension: an integer day count, then an optional non-negative Go duration.
  const daysText = value.slice(0, d);
  if (!/^[+-]?\d+$/.test(daysText)) throw new DurationError(value, field, 'the number of days must be an integer');
  const days = Number(daysText);
  let restNs = 0;
  if (d + 1 < value.length) {
    restNs = goDurationNs(value.slice(d + 1), field, value);
    if (restNs < 0) throw new DurationError(value, field, 'the part after the days cannot be negative');
  }
  // "-1d2h" is minus 26 hours in k6 (a negative day count negates the rest too; "-0d" does not).
  const ns = days * 86_400e9 + (days < 0 ? -restNs : restNs);
  if (Math.abs(ns) >= MAX_NS) throw new DurationError(value, field, 'out of range');
  return ns / NS_PER_MS;
}

/** Go's time.ParseDuration, in nanoseconds. */
function goDurationNs(s: string, field: string | undefined, whole: string = s): number {
  let i = 0;
  let negative = false;
  if (s[0] === '-' || s[0] === '+') {
    negative = s[0] === '-';
    i = 1;
  }
  if (s.slice(i) === '0') return 0;
  if (i === s.length) throw new DurationError(whole, field, 'empty');
  let total = 0;
  while (i < s.length) {
    const numberStart = i;
    while (i < s.length && isDigit(s.charCodeAt(i))) i++;
    const intText = s.slice(numberStart, i);
    let fracText = '';
    if (s[i] === '.') {
      i++;
      const fracStart = i;
      while (i < s.length && isDigit(s.charCodeAt(i))) i++;
      fracText = s.slice(fracStart, i);
    }
    if (intText === '' && fracText === '') throw new DurationError(whole, field, `expected a number at "${s.slice(numberStart)}"`);
    const unitStart = i;
    while (i < s.length && s[i] !== '.' && !isDigit(s.charCodeAt(i))) i++;
    const unitText = s.slice(unitStart, i);
    if (unitText === '') throw new DurationError(whole, field, `missing unit after "${s.slice(numberStart, i)}"`);
    const unit = UNITS_NS[unitText];
    if (unit === undefined) throw new DurationError(whole, field, `unknown unit "${unitText}"`);
    // As Go: integer part times the unit, plus fraction digits f over scale 10^n, as f * (unit / scale)
    // truncated to whole nanoseconds (Go stops reading digits that would overflow; 15 keep us exact).
    let component = (intText === '' ? 0 : Number(intText)) * unit;
    if (fracText !== '') {
      const digits = fracText.slice(0, 15);
      component += Math.trunc(Number(digits) * (unit / 10 ** digits.length));
    }
    total += component;
    if (total >= MAX_NS) throw new DurationError(whole, field, 'out of range');
  }
  return negative ? -total : total;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}
