/**
 * Splitting one k6 run over several k6 processes on this machine: execution segments, a slice of the
 * source addresses for each, per-instance file names, and the exit code of the whole. Pure module.
 *
 * Why several processes: one process may hold at most `ulimit -n` sockets, and one source address
 * reaches one server address and port from at most the ephemeral port range (~28k ports), so tens of
 * thousands of connections need several k6 processes and several source addresses.
 */
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

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function ipToInt(ip: string, flag: string): number {
  const m = IPV4.exec(ip.trim());
  const parts = m?.slice(1).map(Number);
  if (!parts || parts.some((p) => p > 255)) {
    throw new UsageError(`${flag} has "${ip}", which is not an IPv4 address; give addresses and ranges such as 127.0.0.1-127.0.0.4,10.0.0.7`);
  }
  return parts.reduce((n, p) => n * 256 + p, 0);
}

function intToIp(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

/** Largest number of addresses --local-ips may list (k6 itself takes CIDRs; we split explicit lists). */
const MAX_ADDRESSES = 65_536;

/**
 * Parses a k6-style --local-ips value of IPv4 addresses and ranges (`127.0.0.1-127.0.0.4,10.0.0.7`)
 * into the addresses, in order. CIDR blocks are refused: write them as a range.
 */
export function parseLocalIps(value: string, flag = '--local-ips'): string[] {
  const out: string[] = [];
  for (const part of value.split(',')) {
    if (part.trim() === '') throw new UsageError(`${flag} "${value}" has an empty entry; separate addresses and ranges with single commas`);
    if (part.includes('/')) throw new UsageError(`${flag} has the CIDR block "${part}"; write it as a range of addresses, e.g. 127.0.0.1-127.0.0.4`);
    const [from, to, extra] = part.split('-');
    if (extra !== undefined) throw new UsageError(`${flag} has "${part}", which is not an address or a range FIRST-LAST`);
    const first = ipToInt(from ?? '', flag);
    const last = to === undefined ? first : ipToInt(to, flag);
    if (last < first) throw new UsageError(`${flag} has the range "${part}", which ends before it starts`);
    if (out.length + (last - first + 1) > MAX_ADDRESSES) throw new UsageError(`${flag} lists more than ${MAX_ADDRESSES} addresses; give fewer`);
    for (let n = first; n <= last; n++) out.push(intToIp(n));
  }
  return out;
}

/** Addresses back into k6's syntax, consecutive ones as ranges. */
export function formatLocalIps(addresses: readonly string[]): string {
  const parts: string[] = [];
  let i = 0;
  while (i < addresses.length) {
    const start = ipToInt(addresses[i] ?? '', '--local-ips');
    let j = i;
    while (j + 1 < addresses.length && ipToInt(addresses[j + 1] ?? '', '--local-ips') === start + (j - i) + 1) j++;
    parts.push(j === i ? (addresses[i] ?? '') : `${addresses[i]}-${addresses[j]}`);
    i = j + 1;
  }
  return parts.join(',');
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
