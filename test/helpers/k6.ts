/** Runs the real k6 on a bundle and captures what it printed. */
import { spawn } from 'node:child_process';
import { ensureK6 } from '../../cli/k6-runtime.ts';

let cached: Promise<string> | undefined;

/** The pinned k6 binary, built on first use like the CLI does. */
export function k6Binary(): Promise<string> {
  cached ??= ensureK6({ env: process.env, log: () => undefined }).then((r) => r.path);
  return cached;
}

export interface K6Run {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runK6(script: string, env: Record<string, string>, args: string[] = []): Promise<K6Run> {
  const bin = await k6Binary();
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ['run', '--quiet', ...args, script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
