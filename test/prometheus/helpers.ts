/**
 * Helpers for the Prometheus tests: the Debian tools (prometheus, promtool, amtool,
 * prometheus-alertmanager) found on PATH, loopback ports, servers started and stopped by the test,
 * and the list of series k6 verifiably produces (monitoring/k6-series.json).
 *
 * A missing tool skips the test with a reason, except under CI=true, where it fails: CI installs
 * the packages (.ci/run), so a missing one there is a broken image, not an optional feature.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const MONITORING = join(REPO, 'monitoring');

/** Debian package that provides each command (Debian 12). */
const PACKAGE_OF: Record<string, string> = {
  prometheus: 'prometheus',
  promtool: 'prometheus',
  amtool: 'prometheus-alertmanager',
  'prometheus-alertmanager': 'prometheus-alertmanager',
};

function onPath(cmd: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, cmd);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

export interface Tools {
  paths: Record<string, string>;
  /** Why the test cannot run, or false when every tool is there (node:test's `skip` option). */
  skip: string | false;
}

/**
 * Resolves commands once, at load time (node:test needs `skip` before the test runs). Under CI=true a
 * missing command throws, which fails the test file.
 */
export function tools(...cmds: string[]): Tools {
  const paths: Record<string, string> = {};
  const missing: string[] = [];
  for (const c of cmds) {
    const p = onPath(c);
    if (p) paths[c] = p;
    else missing.push(c);
  }
  if (missing.length === 0) return { paths, skip: false };
  const pkgs = [...new Set(missing.map((c) => PACKAGE_OF[c] ?? c))].join(' ');
  const reason = `${missing.join(', ')} not on PATH (Debian: apt-get install --no-install-recommends ${pkgs})`;
  if (process.env['CI'] === 'true') throw new Error(`CI=true and ${reason}; .ci/run installs it`);
  return { paths, skip: reason };
}

export interface Run {
  code: number | null;
  out: string;
  err: string;
}

/** Runs a command to completion (short tools: promtool, amtool). */
export function run(cmd: string, args: string[], cwd = REPO): Run {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw r.error;
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** A fresh directory; call the returned remove() in `finally`/`after`. */
export function tempDir(prefix: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), `wsgate-${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** A loopback port that was free a moment ago (the servers here cannot report a port 0 choice). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export interface Server {
  url: string;
  /** What the server printed so far, for failure messages. */
  log: () => string;
  /** SIGTERM, then SIGKILL after 5 s; resolves when the process is gone. Safe to call twice. */
  stop: () => Promise<void>;
}

/**
 * Starts `cmd` with `args(port)` on a free loopback port and waits until `readyPath` answers 200.
 * Retries on another port when the server exits early (the port was taken in between).
 */
export async function startServer(cmd: string, args: (port: number) => string[], readyPath: string, timeoutMs = 15_000): Promise<Server> {
  let lastLog = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const child = spawn(cmd, args(port), { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout?.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const server: Server = { url: `http://127.0.0.1:${port}`, log: () => log, stop: () => stopChild(child, exited) };
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
      try {
        const res = await fetch(server.url + readyPath, { signal: AbortSignal.timeout(1000) });
        if (res.ok) return server;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const exitedEarly = child.exitCode !== null || child.signalCode !== null;
    await server.stop();
    lastLog = log;
    if (!exitedEarly) break; // running but never ready: another port will not help
  }
  throw new Error(`${cmd} did not become ready:\n${lastLog.slice(-3000)}`);
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

export interface SeriesInfo {
  k6_metric: string;
  type: string;
  labels: string[];
  value: string;
}

/** monitoring/k6-series.json: the series names the rules and the dashboard may use. */
export function verifiedSeries(): Record<string, SeriesInfo> {
  const doc = JSON.parse(readFileSync(join(MONITORING, 'k6-series.json'), 'utf8')) as { series: Record<string, SeriesInfo> };
  return doc.series;
}

/** Every k6 series name a PromQL expression mentions. */
export function k6SeriesIn(expr: string): string[] {
  return [...new Set(expr.match(/\bk6_[a-zA-Z0-9_]+/g) ?? [])];
}

export const DASHBOARD = join(MONITORING, 'grafana', 'wsgate-dashboard.json');

/** Every query of the Grafana dashboard, with its panel's title. */
export function dashboardQueries(): { title: string; expr: string }[] {
  const d = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: { title: string; targets?: { expr: string }[] }[] };
  return d.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ title: p.title, expr: t.expr })));
}
