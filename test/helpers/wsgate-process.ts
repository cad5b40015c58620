/**
 * Programs the end-to-end tests run in processes of their own: the real CLI (`node bin/wsgate.mjs`),
 * the engine, k6. One way to start them and read their output as it grows, one environment scrubber
 * (the caller's environment without wsgate configuration), and one clean-up: whatever a test file left
 * running when its tests are done (a test timed out or was cancelled while its run hung) is killed
 * with everything it started, or its open pipes would keep the test process alive.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcessByStdio } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { after } from 'node:test';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = join(REPO, 'bin', 'wsgate.mjs');

/** A stack frame in printed output: wsgate prints one sentence, never a trace. */
export const STACK_FRAME = /\n\s+at /;

/**
 * The caller's environment without wsgate configuration, except which engine runs the suites
 * (WSGATE_ENGINE: unset means wsgate's own) and which k6 --engine k6 uses (WSGATE_K6), plus `keep`;
 * then `extra` on top.
 */
export function cleanEnv(keep: readonly string[] = [], extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('WSGATE_') || k === 'WSGATE_K6' || k === 'WSGATE_ENGINE' || keep.includes(k)) env[k] = v;
  }
  return { ...env, ...extra };
}

/** The engine the e2e tests' default runs use: WSGATE_ENGINE's, else wsgate's own. */
export const DEFAULT_ENGINE: 'wsgate' | 'k6' = process.env['WSGATE_ENGINE'] === 'k6' ? 'k6' : 'wsgate';

export interface CliRun {
  code: number | null;
  out: string;
  err: string;
}

export interface ProcessOptions {
  /** Default: {@link cleanEnv}(). */
  env?: NodeJS.ProcessEnv;
  /** Default: the checkout. */
  cwd?: string;
  /** Sees stderr as it grows, with a way to signal the process (a Ctrl-C mid-run). */
  onStderr?: (text: string, kill: (signal: NodeJS.Signals) => void) => void;
}

/** Processes still running; killed with their descendants when the test file's tests are done. */
const running = new Set<LiveProcess>();
after(() => {
  for (const p of running) if (p.child.pid) killTree(p.child.pid);
});

/** A running program whose output can be awaited as it grows. */
export class LiveProcess {
  readonly child: ChildProcessByStdio<null, Readable, Readable>;
  out = '';
  err = '';
  /** The exit code once the process has ended and its output is complete (null when a signal ended it). */
  readonly exited: Promise<number | null>;
  private waiters: (() => void)[] = [];

  constructor(
    /** Names the process in failure messages ("wsgate monitor"). */
    readonly label: string,
    command: string,
    args: readonly string[],
    options: ProcessOptions = {},
  ) {
    this.child = spawn(command, args, { cwd: options.cwd ?? REPO, env: options.env ?? cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(this);
    this.child.once('exit', () => running.delete(this));
    this.child.stdout.on('data', (c: Buffer) => {
      this.out += c.toString();
      this.poke();
    });
    this.child.stderr.on('data', (c: Buffer) => {
      this.err += c.toString();
      options.onStderr?.(this.err, (s) => this.child.kill(s));
      this.poke();
    });
    this.exited = new Promise((resolve, reject) => {
      this.child.once('error', reject);
      this.child.once('close', (code) => resolve(code));
    });
    this.exited.then(
      () => this.poke(),
      () => this.poke(),
    );
  }

  private poke(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Sends `signal` to the process (a Ctrl-C is SIGINT). */
  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** stdout and stderr so far, for failure messages. */
  transcript(): string {
    return `--- stdout\n${this.out}\n--- stderr\n${this.err}`;
  }

  /** Resolves with `find()`'s answer once it has one; fails after `ms`, or when the process ends first. */
  async until<T>(what: string, ms: number, find: () => T | undefined): Promise<T> {
    const deadline = Date.now() + ms;
    let ended = false;
    void this.exited.then(
      () => (ended = true),
      () => (ended = true),
    );
    for (;;) {
      const found = find();
      if (found !== undefined) return found;
      if (ended) assert.fail(`${this.label} ended before ${what}\n${this.transcript()}`);
      if (Date.now() > deadline) assert.fail(`no ${what} within ${ms / 1000} s\n${this.transcript()}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 250);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** The finished run: exit code and everything printed. */
  async result(): Promise<CliRun> {
    const code = await this.exited;
    return { code, out: this.out, err: this.err };
  }
}

/** Starts `node bin/wsgate.mjs ARGS` (from the checkout unless `cwd` says otherwise). */
export function startWsgate(args: readonly string[], options: ProcessOptions = {}): LiveProcess {
  return new LiveProcess(`wsgate ${args[0] ?? ''}`.trim(), process.execPath, [BIN, ...args], options);
}

/** `node bin/wsgate.mjs ARGS` to its end: exit code and output, whatever they are. */
export function runWsgate(args: readonly string[], options: ProcessOptions = {}): Promise<CliRun> {
  return startWsgate(args, options).result();
}

/** Any program to its end (the engine, k6): exit code and output. */
export function runProcess(command: string, args: readonly string[], options: ProcessOptions = {}): Promise<CliRun> {
  return new LiveProcess(command, command, args, options).result();
}

/**
 * `node bin/wsgate.mjs ARGS` from the checkout, to its end; `onStderr` sees stderr as it grows, with a
 * way to signal the process. Rejects when a stack trace was printed.
 */
export async function runCli(args: string[], env: NodeJS.ProcessEnv = cleanEnv(), onStderr?: ProcessOptions['onStderr']): Promise<CliRun> {
  const r = await runWsgate(args, { env, ...(onStderr ? { onStderr } : {}) });
  if (STACK_FRAME.test(r.out + r.err)) throw new Error(`a stack trace was printed:\n${r.out}\n${r.err}`);
  return r;
}

/**
 * Builds dist/ when a source changed since the last build: once, up front, in a file's before(), rather
 * than in every CLI process at once (each would rebuild the same bundles, racing).
 */
export async function buildIfStale(): Promise<void> {
  // Imported here, not at the top: most files that use these helpers never build.
  const { build, isStale } = await import('../../build.mjs');
  if (isStale()) await build();
}

export const lastLine = (text: string): string => text.trimEnd().split('\n').at(-1) ?? '';

/** True while a process with this id exists (signal 0 asks without sending anything). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGKILL to `root` and every process under it (the engine and k6 run in process groups of their own). */
function killTree(root: number): void {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
    } catch {
      // gone meanwhile
    }
  }
  const all: number[] = [];
  const walk = (pid: number): void => {
    all.push(pid);
    for (const c of children.get(pid) ?? []) walk(c);
  };
  walk(root);
  for (const pid of all) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
