/**
 * Source addresses for outgoing connections (k6's --local-ips): one source address reaches one server
 * address and port from at most the ephemeral port range (~28k ports), so tens of thousands of
 * connections to one server need several. The engine gives each worker a slice and each new socket the
 * next address of its worker's slice. Pure module.
 */

/** A --local-ips value that cannot be used; the message is one sentence naming the fix. */
export class LocalIpsError extends Error {
  readonly code = 'ERR_LOCAL_IPS';
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function ipToInt(ip: string, flag: string): number {
  const m = IPV4.exec(ip.trim());
  const parts = m?.slice(1).map(Number);
  if (!parts || parts.some((p) => p > 255)) {
    throw new LocalIpsError(`${flag} has "${ip}", which is not an IPv4 address; give addresses and ranges such as 127.0.0.1-127.0.0.4,10.0.0.7`);
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
export function parseAddresses(value: string, flag = '--local-ips'): string[] {
  const out: string[] = [];
  for (const part of value.split(',')) {
    if (part.trim() === '') throw new LocalIpsError(`${flag} "${value}" has an empty entry; separate addresses and ranges with single commas`);
    if (part.includes('/')) throw new LocalIpsError(`${flag} has the CIDR block "${part}"; write it as a range of addresses, e.g. 127.0.0.1-127.0.0.4`);
    const [from, to, extra] = part.split('-');
    if (extra !== undefined) throw new LocalIpsError(`${flag} has "${part}", which is not an address or a range FIRST-LAST`);
    const first = ipToInt(from ?? '', flag);
    const last = to === undefined ? first : ipToInt(to, flag);
    if (last < first) throw new LocalIpsError(`${flag} has the range "${part}", which ends before it starts`);
    if (out.length + (last - first + 1) > MAX_ADDRESSES) throw new LocalIpsError(`${flag} lists more than ${MAX_ADDRESSES} addresses; give fewer`);
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

/** The slice of `addresses` for worker `index` of `count`: contiguous, the first ones one longer. */
export function sliceFor(addresses: readonly string[], index: number, count: number): string[] {
  if (addresses.length === 0) return [];
  if (addresses.length < count) return [addresses[index % addresses.length] ?? ''];
  const base = Math.floor(addresses.length / count);
  const extra = addresses.length % count;
  const start = index * base + Math.min(index, extra);
  return addresses.slice(start, start + base + (index < extra ? 1 : 0));
}
