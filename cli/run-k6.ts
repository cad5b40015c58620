/**
 * Runs one k6 process with its output passed through and signals forwarded.
 *
 * k6 gets its own process group (`detached`), so a Ctrl-C in the terminal reaches only wsgate, which
 * forwards it: k6 sees each signal exactly once. That matters because k6 treats a second SIGINT as
 * "stop now, write nothing" (docs/k6.md); without the separate group k6 would get the
 * terminal's signal and ours, and lose its summary. A second Ctrl-C from the user is forwarded too,
 * deliberately: it is the user asking for that hard stop.
 */
import { spawn } from 'node:child_process';
import type { Io } from './io.ts';
import { say } from './io.ts';

export interface K6Exit {
  /** k6's exit code, or null when a signal killed it. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when wsgate forwarded SIGINT/SIGTERM to k6. */
  interrupted: boolean;
}

export function runK6(bin: string, args: string[], env: Record<string, string | undefined>, io: Io): Promise<K6Exit> {
  return new Promise((resolve, reject) => {
    // Pass the real terminal through when io is the process's own (k6 shows its progress bar and
    // colours); otherwise pipe, so a test's captured streams see everything k6 printed.
    const out = io.stdout === process.stdout ? 'inherit' : 'pipe';
    const err = io.stderr === process.stderr ? 'inherit' : 'pipe';
    const child = spawn(bin, args, { env: env as NodeJS.ProcessEnv, stdio: ['ignore', out, err], detached: true });
    child.stdout?.pipe(io.stdout, { end: false });
    child.stderr?.pipe(io.stderr, { end: false });

    let interrupted = false;
    const forward = (signal: NodeJS.Signals) => {
      if (!interrupted) say(io.stderr, `${signal}: asking the run to stop gracefully (it still writes its summary); send it again to stop at once`);
      interrupted = true;
      child.kill(signal);
    };
    const onInt = () => forward('SIGINT');
    const onTerm = () => forward('SIGTERM');
    // If wsgate itself dies, k6 (in its own group) must not outlive it.
    const onExit = () => child.kill('SIGKILL');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    process.on('exit', onExit);
    const cleanup = () => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      process.off('exit', onExit);
    };

    child.once('error', (e) => {
      cleanup();
      reject(e);
    });
    // 'close' (not 'exit') waits until k6's piped output has been read to the end.
    child.once('close', (code, signal) => {
      cleanup();
      resolve({ code, signal, interrupted });
    });
  });
}
