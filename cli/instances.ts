/**
 * Splitting one run over several processes on this machine (k6 processes with --engine k6; the
 * engine splits between its own workers): execution segments, a slice of the
 * source addresses for each, per-instance file names, and the exit code of the whole. Pure module.
 *
 * Why several processes: one process may hold at most `ulimit -n` sockets, and one source address
 * reaches one server address and port from at most the ephemeral port range (~28k ports), so tens of
 * thousands of connections need several k6 processes and several source addresses.
 */
import { LocalIpsError, formatLocalIps, parseAddresses } from '../engine/local-ips.ts';

export { formatLocalIps };
import { UsageError } from './errors.ts';
import { EXIT } from './io.ts';

export const MAX_INSTANCES = 64;

/** One instance's share: its k6 arguments and names. */
export interface InstanceShare {
  /** 1-based. */
  index: number;
  count: number;
  /** k6 --execution-segment, e.g. `1/3:2/3`. */
  segment: string;
  /** k6 --execution-segment-sequence, the same for every instance, e.g. `0,1/3,2/3,1`. */
  sequence: string;
  /** k6 --local-ips value for this instance, when addresses were given. */
  localIps: string | undefined;
}

function fraction(i: number, n: number): string {
  return i === 0 ? '0' : i === n ? '1' : `${i}/${n}`;
}

/** The execution segments of `count` equal instances: 0:1/3, 1/3:2/3, 2/3:1 and their sequence. */
export function segments(count: number): { segment: string; sequence: string }[] {
  const sequence = Array.from({ length: count + 1 }, (_, i) => fraction(i, count)).join(',');
  return Array.from({ length: count }, (_, i) => ({ segment: `${fraction(i, count)}:${fraction(i + 1, count)}`, sequence }));
}

/** --local-ips value -> addresses; a bad value is a usage error (the sentence names the flag and the fix). */
export function parseLocalIps(value: string, flag = '--local-ips'): string[] {
  try {
    return parseAddresses(value, flag);
  } catch (err) {
    if (err instanceof LocalIpsError) throw new UsageError(err.message);
    throw err;
  }
}

/**
 * The shares of `count` instances. With addresses, each instance gets a contiguous slice of them
 * (the first ones one more when they do not divide evenly); fewer addresses than instances is refused.
 */
export function shares(count: number, localIps: readonly string[] | undefined): InstanceShare[] {
  if (localIps !== undefined && localIps.length < count) {
    throw new UsageError(`--local-ips gives ${localIps.length} address(es) for ${count} instances; give at least one per instance, e.g. 127.0.0.1-127.0.0.${Math.min(255, count)}`);
  }
  let next = 0;
  return segments(count).map(({ segment, sequence }, i) => {
    let ips: string | undefined;
    if (localIps !== undefined) {
      const size = Math.floor(localIps.length / count) + (i < localIps.length % count ? 1 : 0);
      ips = formatLocalIps(localIps.slice(next, next + size));
      next += size;
    }
    return { index: i + 1, count, segment, sequence, localIps: ips };
  });
}

/** `out.json` -> `out.2of3.json`: each instance's copy of --output-file. */
export function instanceFile(file: string, share: { index: number; count: number }): string {
  const tag = `${share.index}of${share.count}`;
  const slash = file.lastIndexOf('/');
  const dot = file.lastIndexOf('.');
  return dot > slash + 1 ? `${file.slice(0, dot)}.${tag}${file.slice(dot)}` : `${file}.${tag}`;
}

/**
 * The exit code of several instances: the worst of theirs. Interrupted beats everything (the run is
 * incomplete), then no verdict, then usage, unreachable, fail, pass.
 */
export function worstExit(codes: readonly number[]): number {
  const rank: number[] = [EXIT.PASS, EXIT.FAIL, EXIT.UNREACHABLE, EXIT.USAGE, EXIT.ERROR, EXIT.INTERRUPTED];
  let worst: number = EXIT.PASS;
  for (const code of codes) {
    const r = rank.indexOf(code);
    if (r === -1) return EXIT.ERROR;
    if (r > rank.indexOf(worst)) worst = code;
  }
  return worst;
}
