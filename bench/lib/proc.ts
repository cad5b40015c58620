/**
 * Reads what the kernel knows about a process: resident memory from /proc/<pid>/status (VmRSS now,
 * VmHWM the peak) and CPU time from /proc/<pid>/stat (utime + stime, every thread). A Sampler polls
 * groups of processes (every generator process, every service process) during a run, so a benchmark
 * can report the peak and the steady level during a hold instead of only the maximum at exit.
 */
import { readFileSync, readdirSync } from 'node:fs';

/** Clock ticks per second of utime/stime; 100 on every Linux this runs on (getconf CLK_TCK). */
const CLK_TCK = 100;

export interface MemInfo {
  rssKb: number;
  hwmKb: number;
}

/** VmRSS and VmHWM of a live process; undefined once it is gone. */
export function readMem(pid: number): MemInfo | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
  return { rssKb: kb('VmRSS'), hwmKb: kb('VmHWM') };
}

interface Stat {
  ppid: number;
  comm: string;
  cpuS: number;
}

function readStat(pid: number): Stat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm may hold spaces and parentheses: the fields after it start at the last ')'.
  const close = text.lastIndexOf(')');
  const comm = text.slice(text.indexOf('(') + 1, close);
  const f = text.slice(close + 2).split(' ');
  // After comm: state(0) ppid(1) ... utime(11) stime(12)
  return { ppid: Number(f[1]), comm, cpuS: (Number(f[11]) + Number(f[12])) / CLK_TCK };
}

/** utime + stime of a live process in seconds (all its threads). */
export function readCpuS(pid: number): number | undefined {
  return readStat(pid)?.cpuS;
}

/** The live direct children of `root`. */
export function childrenOf(root: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    if (readStat(Number(name))?.ppid === root) out.push(Number(name));
  }
  return out;
}

/** Every live descendant of `root` (children, grandchildren, ...), with its command name. */
export function descendants(root: number): { pid: number; comm: string }[] {
  const parents = new Map<number, { pid: number; ppid: number; comm: string }[]>();
  const all: { pid: number; ppid: number; comm: string }[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = readStat(Number(name));
    if (st) all.push({ pid: Number(name), ppid: st.ppid, comm: st.comm });
  }
  for (const p of all) {
    const list = parents.get(p.ppid) ?? [];
    list.push(p);
    parents.set(p.ppid, list);
  }
  const out: { pid: number; comm: string }[] = [];
  const walk = (pid: number): void => {
    for (const c of parents.get(pid) ?? []) {
      out.push({ pid: c.pid, comm: c.comm });
      walk(c.pid);
    }
  };
  walk(root);
  return out;
}

export interface GroupSample {
  /** ms since the sampler started. */
  t: number;
  /** Epoch ms. */
  at: number;
  /** Sum of VmRSS over the group's live processes. */
  rssKb: number;
  /** CPU seconds used so far by every process of the group ever seen (exited ones keep their last reading). */
  cpuS: number;
  processes: number;
}

/**
 * Polls groups of processes. A group is a function returning its pids at each tick, so processes
 * that start later (generator instances and workers, cluster workers) are picked up as they appear.
 */
export class Sampler {
  private readonly series = new Map<string, GroupSample[]>();
  private readonly lastCpu = new Map<string, Map<number, number>>();
  private readonly hwm = new Map<string, Map<number, number>>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly started = Date.now();
  /** Pids per group, looked up again only every refreshMs: scanning /proc costs more than sampling. */
  private readonly pids = new Map<string, number[]>();
  private refreshedAt = 0;

  constructor(
    private readonly groups: Record<string, () => number[]>,
    private readonly periodMs = 200,
    private readonly refreshMs = 1000,
  ) {
    for (const g of Object.keys(groups)) {
      this.series.set(g, []);
      this.lastCpu.set(g, new Map());
      this.hwm.set(g, new Map());
    }
  }

  start(): this {
    this.tick();
    this.timer = setInterval(() => this.tick(), this.periodMs);
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.refreshedAt = 0;
    this.tick();
  }

  tick(): void {
    const now = Date.now();
    const refresh = now - this.refreshedAt >= this.refreshMs;
    if (refresh) this.refreshedAt = now;
    for (const [name, pidsOf] of Object.entries(this.groups)) {
      if (refresh || !this.pids.has(name)) this.pids.set(name, pidsOf());
      const cpu = this.lastCpu.get(name) as Map<number, number>;
      const hwm = this.hwm.get(name) as Map<number, number>;
      let rssKb = 0;
      let live = 0;
      for (const pid of this.pids.get(name) ?? []) {
        const mem = readMem(pid);
        const c = readCpuS(pid);
        if (!mem || c === undefined) continue;
        live++;
        rssKb += mem.rssKb;
        cpu.set(pid, c);
        hwm.set(pid, Math.max(hwm.get(pid) ?? 0, mem.hwmKb));
      }
      let cpuS = 0;
      for (const v of cpu.values()) cpuS += v;
      this.series.get(name)?.push({ t: now - this.started, at: now, rssKb, cpuS, processes: live });
    }
  }

  samples(group: string): GroupSample[] {
    return this.series.get(group) ?? [];
  }

  /** Highest summed VmRSS seen in one tick. */
  peakRssKb(group: string, from = 0, to = Infinity): number {
    return Math.max(0, ...this.samples(group).filter((s) => s.at >= from && s.at <= to).map((s) => s.rssKb));
  }

  /** Median summed VmRSS over the ticks in [from, to] (epoch ms): the steady level during a hold. */
  steadyRssKb(group: string, from: number, to: number): number {
    const v = this.samples(group)
      .filter((s) => s.at >= from && s.at <= to)
      .map((s) => s.rssKb)
      .sort((a, b) => a - b);
    return v.length === 0 ? 0 : (v[Math.floor(v.length / 2)] ?? 0);
  }

  /** Summed VmRSS at the last tick at or before `at`. */
  rssAt(group: string, at: number): number {
    const before = this.samples(group).filter((s) => s.at <= at);
    return before[before.length - 1]?.rssKb ?? 0;
  }

  /** Sum over the group's processes of their own VmHWM (each process's kernel-tracked peak). */
  hwmKb(group: string): number {
    let sum = 0;
    for (const v of this.hwm.get(group)?.values() ?? []) sum += v;
    return sum;
  }

  /** CPU seconds of the group at the last tick at or before `at` (epoch ms). */
  cpuAt(group: string, at: number): number {
    const before = this.samples(group).filter((s) => s.at <= at);
    return before[before.length - 1]?.cpuS ?? 0;
  }

  /** CPU seconds of the group at the last tick. */
  cpuS(group: string): number {
    const s = this.samples(group);
    return s[s.length - 1]?.cpuS ?? 0;
  }
}

/** CPU seconds the whole machine has spent busy (all cores, everything but idle and iowait). */
export function machineBusyS(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
  return (user + nice + system + irq + softirq + steal) / CLK_TCK;
}
