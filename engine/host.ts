/**
 * The engine side of the runtime port: what lib/runtime/engine.ts (inside a scenario bundle) calls.
 * Many VUs share one event loop and one copy of the bundle, so "which VU is calling" comes from an
 * AsyncLocalStorage store set around each iteration: it follows the iteration through awaits, timers
 * and socket callbacks, the way k6's per-VU runtime makes exec.vu implicit.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { readFileSync } from 'node:fs';
import type { Closeable, EngineHost } from '../lib/runtime/engine.ts';
import { HOST_KEY } from '../lib/runtime/engine.ts';
import type { Identity, MetricKind, Tags } from '../lib/runtime/port.ts';
import type { EngineVu } from './contracts.ts';
import type { Registry } from './metrics/registry.ts';
import type { JsonOutput } from './output/json.ts';

/** k6's builtin metrics that the engine records, with k6's types. */
const BUILTIN_METRICS: readonly { name: string; kind: MetricKind; isTime: boolean }[] = [
  { name: 'checks', kind: 'rate', isTime: false },
  { name: 'iterations', kind: 'counter', isTime: false },
  { name: 'iteration_duration', kind: 'trend', isTime: true },
  { name: 'dropped_iterations', kind: 'counter', isTime: false },
  { name: 'vus', kind: 'gauge', isTime: false },
  { name: 'vus_max', kind: 'gauge', isTime: false },
  { name: 'ws_sessions', kind: 'counter', isTime: false },
  { name: 'ws_connecting', kind: 'trend', isTime: true },
  { name: 'ws_session_duration', kind: 'trend', isTime: true },
  { name: 'ws_msgs_sent', kind: 'counter', isTime: false },
  { name: 'ws_msgs_received', kind: 'counter', isTime: false },
  { name: 'ws_ping', kind: 'trend', isTime: true },
  { name: 'data_sent', kind: 'counter', isTime: false },
  { name: 'data_received', kind: 'counter', isTime: false },
  { name: 'http_reqs', kind: 'counter', isTime: false },
  { name: 'http_req_duration', kind: 'trend', isTime: true },
  { name: 'http_req_failed', kind: 'rate', isTime: false },
];

/** One VU in one scenario: its identity, its tags and the sockets an interruption must close. */
export interface VuContext {
  vu: EngineVu;
  scenario: string;
  scenarioStartTime: number;
  iterationInTest: number;
  /** scenario tag + test tags + scenario tags, built once. */
  tags: Tags;
  env: Readonly<Record<string, string | undefined>>;
  resources: Set<Closeable>;
  /**
   * Set when the iteration was interrupted (a stop, or gracefulStop expired): like k6, an interrupted
   * iteration records nothing more, whatever its code still does while it unwinds.
   */
  interrupted?: boolean;
}

/** Thrown by runtime.abort(): unwinds the caller; the engine ends the test with exit code 108. */
export class TestAbortedError extends Error {
  readonly code = 'ERR_TEST_ABORTED';
  constructor(readonly reason: string) {
    super(reason);
  }
}

export interface HostOptions {
  env: Readonly<Record<string, string | undefined>>;
  registry: Registry;
  /** Tags on every sample of the test (options.tags and --tag). */
  testTags: Tags;
  /** Source addresses for new sockets, taken in turn (empty: the system's choice). */
  localIps?: readonly string[];
  json: JsonOutput | undefined;
  /** Called once, with the reason, when a script calls runtime.abort(). */
  onAbort(reason: string): void;
}

export class Host implements EngineHost {
  readonly als = new AsyncLocalStorage<VuContext>();
  openSockets = 0;
  aborted: string | undefined;
  private readonly registry: Registry;
  private readonly json: JsonOutput | undefined;
  private readonly testTags: Tags;
  private readonly baseEnv: Readonly<Record<string, string | undefined>>;
  private readonly onAbort: (reason: string) => void;
  private readonly localIps: readonly string[];
  private nextIp = 0;
  private readonly mergedTags = new WeakMap<Tags, WeakMap<Tags, Tags>>();

  constructor(opts: HostOptions) {
    this.registry = opts.registry;
    this.json = opts.json;
    this.testTags = opts.testTags;
    this.baseEnv = opts.env;
    this.localIps = opts.localIps ?? [];
    this.onAbort = opts.onAbort;
    for (const m of BUILTIN_METRICS) this.registry.declare(m.name, m.kind, m.isTime);
  }

  /** Makes this host the one every bundle loaded from now on talks to. */
  install(): void {
    (globalThis as Record<symbol, unknown>)[HOST_KEY] = this;
  }

  get env(): Readonly<Record<string, string | undefined>> {
    return this.als.getStore()?.env ?? this.baseEnv;
  }

  /** The env a scenario's VUs see: the run's variables with the scenario's `env` on top. */
  scenarioEnv(extra: Record<string, string> | undefined): Readonly<Record<string, string | undefined>> {
    return extra ? { ...this.baseEnv, ...extra } : this.baseEnv;
  }

  /** Tags for a scenario's samples: the test's, then `scenario`, then the scenario's own. */
  scenarioTags(scenario: string, extra: Record<string, string> | undefined): Tags {
    return { ...this.testTags, scenario, ...extra };
  }

  declare(kind: MetricKind, name: string, isTime: boolean): void {
    this.registry.declare(name, kind, isTime);
  }

  tags(): Tags {
    return this.als.getStore()?.tags ?? this.testTags;
  }

  add(name: string, value: number, extraTags: Tags | undefined): void {
    const base = this.tags();
    this.sample(name, value, extraTags ? this.merged(base, extraTags) : base);
  }

  /**
   * The VU's tags with a caller's extra tags, made once per pair of tag objects: callers on hot paths
   * pass interned tag objects (one per event type, one per pattern), so a sample allocates nothing.
   */
  private merged(base: Tags, extra: Tags): Tags {
    let byBase = this.mergedTags.get(extra);
    if (!byBase) this.mergedTags.set(extra, (byBase = new WeakMap()));
    let tags = byBase.get(base);
    if (!tags) byBase.set(base, (tags = { ...base, ...extra }));
    return tags;
  }

  sample(name: string, value: number, fullTags: Tags): void {
    if (this.als.getStore()?.interrupted) return;
    this.registry.add(name, value, fullTags);
    this.json?.sample(name, value, fullTags);
  }

  check(name: string, ok: boolean, extraTags: Tags | undefined): void {
    if (this.als.getStore()?.interrupted) return;
    const tags = { ...this.tags(), ...extraTags, check: name };
    this.registry.check(name, ok, tags);
    this.json?.sample('checks', ok ? 1 : 0, tags);
  }

  identity(): Identity {
    const ctx = this.als.getStore();
    if (!ctx) return { vuIdInTest: 0, iterationInScenario: 0, iterationInTest: 0, scenario: '', scenarioStartTime: 0 };
    return {
      vuIdInTest: ctx.vu.idInTest,
      iterationInScenario: ctx.vu.iterationInScenario,
      iterationInTest: ctx.iterationInTest,
      scenario: ctx.scenario,
      scenarioStartTime: ctx.scenarioStartTime,
    };
  }

  abort(reason: string): never {
    if (this.aborted === undefined) {
      this.aborted = reason;
      this.onAbort(reason);
    }
    throw new TestAbortedError(reason);
  }

  track(resource: Closeable): Set<Closeable> | undefined {
    const ctx = this.als.getStore();
    ctx?.resources.add(resource);
    return ctx?.resources;
  }

  localAddress(): string | undefined {
    if (this.localIps.length === 0) return undefined;
    const ip = this.localIps[this.nextIp % this.localIps.length];
    this.nextIp++;
    return ip;
  }

  /** A sleep an interruption ends early (k6 cancels a VU's context the same way). */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const ctx = this.als.getStore();
      let timer: NodeJS.Timeout | undefined;
      const wake = { terminate: () => (clearTimeout(timer), resolve()) };
      timer = setTimeout(() => {
        ctx?.resources.delete(wake);
        resolve();
      }, ms);
      ctx?.resources.add(wake);
    });
  }

  /** Sockets from creation to close, against the process's open-files limit. */
  liveSockets = 0;
  private readonly fileLimit = openFilesLimit();

  /**
   * Whether another socket fits under the open-files limit (with room kept for the process's own
   * files). A socket that does not fit is refused with one sentence instead of failing with EMFILE.
   */
  socketAllowed(): string | undefined {
    if (this.liveSockets < this.fileLimit - FILE_RESERVE) return undefined;
    return `this worker holds ${this.liveSockets} sockets, at its open-files limit (ulimit -n ${this.fileLimit}); run more worker processes (--workers) or raise the limit`;
  }

  socketOpened(): void {
    this.openSockets++;
  }

  socketClosed(): void {
    this.openSockets--;
  }
}

/** Descriptors kept free for the process itself (bundle, logs, output files, IPC). */
const FILE_RESERVE = 64;

/** This process's soft open-files limit, from /proc (Linux); a generous default elsewhere. */
function openFilesLimit(): number {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (m?.[1] && m[1] !== 'unlimited') return Number(m[1]);
  } catch {
    // not Linux: no limit known
  }
  return 1 << 20;
}
