/**
 * nginx as the load balancer in front of the reference service, for the regressions that need real
 * infrastructure: reference-service/nginx/healthy.conf proxies WebSockets with a 24 h idle timeout (the fix for
 * the staging outage), reference-service/nginx/broken.conf cuts idle WebSockets after 3 s (the outage itself).
 *
 * nginx runs unprivileged-style inside a temp prefix dir (config, pid, logs, temp paths), listens on
 * 127.0.0.1 only, on two free ports: one for the chat backend (/ws, /health, /metrics) and one for the
 * auth service (its own paths unchanged). It is never left running: {@link RunningNginx.close} stops
 * it, and a process 'exit' hook kills whatever is still up.
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { constants, accessSync, chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NginxError, TargetConfigError } from './errors.ts';

export { NginxError } from './errors.ts';
export type { NginxErrorCode } from './errors.ts';

export const NGINX_CONFIGS = ['healthy', 'broken'] as const;
export type NginxConfigName = (typeof NGINX_CONFIGS)[number];

/** The one sentence for a missing nginx (code WSGATE_NGINX_NOT_INSTALLED). */
export const NGINX_NOT_INSTALLED =
  'nginx is not installed; install it with apt-get install -y nginx-light (Debian) or set WSGATE_NGINX to its path';

/** Where nginx listens; never anything but loopback. */
const LISTEN_HOST = '127.0.0.1';
/** How long nginx gets to answer on both ports. */
const READY_TIMEOUT_MS = 5000;
/** Attempts when a picked port was taken between picking it and nginx binding it. */
const PORT_ATTEMPTS = 4;
/** SIGTERM (nginx's fast shutdown) first; SIGKILL to the whole process group after this. */
const STOP_GRACE_MS = 3000;
/** Where a binary is looked for when neither the option nor WSGATE_NGINX names one and PATH has none. */
const WELL_KNOWN_PATHS = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx', '/opt/homebrew/bin/nginx'];

export interface NginxOptions {
  /** Base URL of the chat backend's HTTP side, e.g. `http://127.0.0.1:41235` (a ws/wss URL works too). */
  readonly upstreamHttp: string;
  /** Base URL of the auth service, e.g. `http://127.0.0.1:41234`. */
  readonly upstreamAuth: string;
  readonly config: NginxConfigName;
  /** The nginx binary; default `WSGATE_NGINX`, then `nginx` on PATH, then /usr/sbin/nginx and friends. */
  readonly nginxPath?: string;
  /** Environment to read `WSGATE_NGINX` and `PATH` from; default `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
}

export interface RunningNginx {
  /** The chat WebSocket through nginx, e.g. `ws://127.0.0.1:40001/ws`. */
  readonly wsUrl: string;
  /** The backend's plain HTTP through nginx (`/health`, `/metrics`). */
  readonly httpUrl: string;
  /** The auth service through nginx, on its own port with its own paths (`/auth/token`, ...). */
  readonly authUrl: string;
  readonly config: NginxConfigName;
  /** Process id of nginx's master (also its process group). */
  readonly pid: number;
  /** The temp prefix dir holding nginx.conf, error.log and the temp paths; removed by close(). */
  readonly prefix: string;
  /** Stops nginx (SIGTERM, then SIGKILL to its process group), waits for it to exit, removes the prefix dir. */
  close(): Promise<void>;
}

// ---- Templates -------------------------------------------------------------------------------

/** The placeholders every template uses; rendering fails if one is left over or a value is missing. */
export const NGINX_PLACEHOLDERS = [
  'LISTEN_HOST',
  'BACKEND_LISTEN_PORT',
  'AUTH_LISTEN_PORT',
  'BACKEND_UPSTREAM',
  'BACKEND_SCHEME',
  'AUTH_UPSTREAM',
  'AUTH_SCHEME',
  'PID_PATH',
  'LOCK_PATH',
  'ERROR_LOG',
  'TEMP_DIR',
  'LB_CONFIG',
] as const;
export type NginxPlaceholder = (typeof NGINX_PLACEHOLDERS)[number];

/**
 * The template of `config`. Found next to this module (running from source) or, from the CLI bundle
 * in dist/node/, in the checkout's reference-service/nginx/.
 */
export function nginxTemplatePath(config: NginxConfigName): string {
  const candidates = [new URL(`./nginx/${config}.conf`, import.meta.url), new URL(`../../reference-service/nginx/${config}.conf`, import.meta.url)];
  for (const url of candidates) {
    const path = fileURLToPath(url);
    if (existsSync(path)) return path;
  }
  throw new NginxError('WSGATE_NGINX_START', `the nginx template ${config}.conf was not found next to ${fileURLToPath(candidates[0] as URL)}; reinstall wsgate from a full checkout.`);
}

const REQUIRES = /[ \t]*#[ \t]*wsgate:requires=([\w-]+)[ \t]*$/;

/**
 * Replaces every `{{NAME}}` in `template` and leaves out comment lines. Lines tagged `# wsgate:requires=MODULE` are dropped when
 * `without` (from `nginx -V`'s `--without-MODULE` flags) holds MODULE. Values go into nginx syntax, so
 * quotes, backslashes, `$`, `{`, `}`, `;` and line breaks are refused.
 */
export function renderNginxConfig(template: string, values: Readonly<Record<NginxPlaceholder, string>>, without: ReadonlySet<string> = new Set()): string {
  for (const name of NGINX_PLACEHOLDERS) {
    const value = values[name];
    if (typeof value !== 'string' || value === '' || /["'\\${};\r\n]/.test(value)) {
      throw new NginxError('WSGATE_NGINX_START', `the nginx placeholder ${name} got an unusable value ${JSON.stringify(value)}; use a path or address without quotes, $, braces, ; or line breaks.`);
    }
  }
  const lines: string[] = [];
  for (const line of template.split('\n')) {
    if (/^\s*#/.test(line)) continue; // comments (the placeholder list among them) stay in the template
    const tag = REQUIRES.exec(line);
    if (tag !== null) {
      if (without.has(tag[1] as string)) continue;
      lines.push(line.slice(0, tag.index));
    } else lines.push(line);
  }
  const rendered = lines.join('\n').replace(/\{\{(\w+)\}\}/g, (whole, name: string) => {
    return (NGINX_PLACEHOLDERS as readonly string[]).includes(name) ? values[name as NginxPlaceholder] : whole;
  });
  const left = /\{\{(\w+)\}\}/.exec(rendered);
  if (left !== null) throw new NginxError('WSGATE_NGINX_START', `the nginx template uses an unknown placeholder {{${left[1]}}}; use only ${NGINX_PLACEHOLDERS.join(', ')}.`);
  return rendered;
}

// ---- Binary ----------------------------------------------------------------------------------

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The nginx binary to run. Throws NginxError `WSGATE_NGINX_NOT_INSTALLED`. */
export function findNginx(nginxPath?: string, env: NodeJS.ProcessEnv = process.env): string {
  const explicit: [string, string | undefined][] = [
    ['the nginxPath option', nginxPath],
    ['WSGATE_NGINX', env['WSGATE_NGINX']],
  ];
  for (const [what, value] of explicit) {
    if (value === undefined || value === '') continue;
    if (isExecutable(value)) return value;
    throw new NginxError(
      'WSGATE_NGINX_NOT_INSTALLED',
      `${what} is "${value}", which is not an executable file; ${NGINX_NOT_INSTALLED.slice(NGINX_NOT_INSTALLED.indexOf(';') + 2)}.`,
    );
  }
  const onPath = (env['PATH'] ?? '').split(delimiter).filter((dir) => dir !== '').map((dir) => join(dir, 'nginx'));
  for (const candidate of [...onPath, ...WELL_KNOWN_PATHS]) if (isExecutable(candidate)) return candidate;
  throw new NginxError('WSGATE_NGINX_NOT_INSTALLED', `${NGINX_NOT_INSTALLED}.`);
}

interface NginxBuild {
  /** e.g. [1, 22, 1] */
  readonly version: readonly number[];
  /** Modules built `--without-...`. */
  readonly without: ReadonlySet<string>;
}

/** Runs `nginx -V` once per binary: proves it runs, and tells which directives it understands. */
const builds = new Map<string, Promise<NginxBuild>>();

function inspectNginx(bin: string): Promise<NginxBuild> {
  let build = builds.get(bin);
  if (build === undefined) {
    build = new Promise<NginxBuild>((resolve, reject) => {
      execFile(bin, ['-V'], { timeout: 5000, encoding: 'utf8' }, (error, stdout, stderr) => {
        const text = `${stdout}\n${stderr}`;
        const version = /nginx\/(\d+)\.(\d+)\.(\d+)/.exec(text);
        if (error !== null || version === null) {
          const why = error === null ? 'it printed no nginx version' : ((error as NodeJS.ErrnoException).code ?? error.message);
          reject(
            new NginxError('WSGATE_NGINX_NOT_INSTALLED', `"${bin} -V" failed (${String(why)}); ${NGINX_NOT_INSTALLED.slice(NGINX_NOT_INSTALLED.indexOf(';') + 2)}.`, {
              cause: error ?? undefined,
            }),
          );
          return;
        }
        const without = new Set([...text.matchAll(/--without-([\w-]+)/g)].map((m) => m[1] as string));
        resolve({ version: version.slice(1, 4).map(Number), without });
      });
    });
    builds.set(bin, build);
    build.catch(() => builds.delete(bin));
  }
  return build;
}

function atLeast(version: readonly number[], wanted: readonly number[]): boolean {
  for (let i = 0; i < wanted.length; i++) {
    const a = version[i] ?? 0;
    const b = wanted[i] ?? 0;
    if (a !== b) return a > b;
  }
  return true;
}

// ---- Upstreams and ports ---------------------------------------------------------------------

interface Upstream {
  readonly scheme: 'http' | 'https';
  /** host:port as nginx's `server` directive takes it (IPv6 in brackets). */
  readonly address: string;
}

const UPSTREAM_SCHEMES: Readonly<Record<string, 'http' | 'https'>> = { 'http:': 'http', 'ws:': 'http', 'https:': 'https', 'wss:': 'https' };

function upstreamOf(option: string, value: string): Upstream {
  const url = URL.canParse(value) ? new URL(value) : undefined;
  const scheme = url === undefined ? undefined : UPSTREAM_SCHEMES[url.protocol];
  if (url === undefined || scheme === undefined || url.hostname === '' || !/^[\w.\-[\]:]+$/.test(url.hostname)) {
    throw new TargetConfigError(`${option} is "${value}"; give the service's base URL, e.g. http://127.0.0.1:8080.`);
  }
  const port = url.port === '' ? (scheme === 'https' ? '443' : '80') : url.port;
  return { scheme, address: `${url.hostname}:${port}` };
}

/** `count` distinct free loopback ports: bound on port 0 together, then released for nginx. */
async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, LISTEN_HOST, () => resolve());
      });
    }
    return servers.map((server) => {
      const address = server.address();
      return typeof address === 'object' && address !== null ? address.port : 0;
    });
  } finally {
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()))));
  }
}

// ---- Process bookkeeping ---------------------------------------------------------------------

/** Every nginx started here and not yet closed: master pid (= process group) and prefix dir. */
const live = new Map<number, string>();
let exitHookInstalled = false;

/** Signals nginx's whole process group (master and workers); false when it is already gone. */
function signalGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

function removeDir(path: string): void {
  try {
    rmSync(path, { recursive: true, force: true });
  } catch {
    // best effort: a temp dir left behind is harmless
  }
}

function killAllOnExit(): void {
  for (const [pid, prefix] of live) {
    signalGroup(pid, 'SIGKILL');
    removeDir(prefix);
  }
  live.clear();
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', killAllOnExit);
}

function tailOf(text: string, lines = 8): string {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .slice(-lines)
    .join(' | ');
}

function readLog(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** Asks nginx itself (not the upstream) which configuration runs on `port`. */
function probe(port: number, config: NginxConfigName): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpGet({ host: LISTEN_HOST, port, path: '/__wsgate/lb', agent: false, timeout: 500 }, (res) => {
      res.resume();
      resolve(res.statusCode === 204 && res.headers['x-wsgate-lb'] === config);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

/** True when `promise` settles within `ms`; the timer never outlives the wait. */
async function settlesWithin(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

interface Attempt {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  exitCode: number | null;
  exitSignal: NodeJS.Signals | null;
  stderr: string;
}

function launch(bin: string, prefix: string, confPath: string, errorLog: string, useE: boolean): Attempt {
  const args = ['-p', `${prefix}/`, '-c', confPath, ...(useE ? ['-e', errorLog] : []), '-g', 'daemon off;'];
  // detached: nginx leads its own process group, so master and workers can be signalled together.
  const child = spawn(bin, args, { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  let markExited: () => void = () => {};
  const attempt: Attempt = {
    child,
    exited: new Promise<void>((resolve) => (markExited = resolve)),
    exitCode: null,
    exitSignal: null,
    stderr: '',
  };
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    attempt.stderr = (attempt.stderr + chunk).slice(-4096);
  });
  child.on('error', (error) => {
    attempt.stderr += `\n${error.message}`;
    attempt.exitCode ??= -1;
    markExited();
  });
  child.on('exit', (code, signal) => {
    attempt.exitCode = code ?? -1;
    attempt.exitSignal = signal;
    markExited();
  });
  // Neither nginx nor its stderr pipe keeps the caller's process alive; the exit hook kills nginx then.
  child.unref();
  (child.stderr as Socket | null)?.unref();
  return attempt;
}

async function stop(attempt: Attempt): Promise<void> {
  const pid = attempt.child.pid;
  if (pid === undefined) return;
  attempt.child.ref();
  (attempt.child.stderr as Socket | null)?.ref();
  if (attempt.exitCode === null) {
    signalGroup(pid, 'SIGTERM');
    if (!(await settlesWithin(attempt.exited, STOP_GRACE_MS))) {
      signalGroup(pid, 'SIGKILL');
      await settlesWithin(attempt.exited, STOP_GRACE_MS);
    }
  }
  // A master that died on its own may have left workers behind.
  signalGroup(pid, 'SIGKILL');
  attempt.child.stderr?.destroy();
}

/** nginx's prefix dir for one start: its config, error log and temp paths live here. */
interface Prefix {
  readonly dir: string;
  readonly tempDir: string;
  readonly confPath: string;
  readonly errorLog: string;
}

function makePrefix(): Prefix {
  const dir = mkdtempSync(join(tmpdir(), 'wsgate-nginx-'));
  // As root, nginx's workers run as nobody and must traverse the prefix to reach their temp dirs.
  const tempDir = join(dir, 'temp');
  mkdirSync(tempDir, { mode: 0o700 });
  if (process.getuid?.() === 0) {
    chmodSync(dir, 0o711);
    chmodSync(tempDir, 0o711);
  }
  return { dir, tempDir, confPath: join(dir, 'nginx.conf'), errorLog: join(dir, 'error.log') };
}

/** Stops nginx (when it was started) and removes its prefix dir: nothing of that start is left. */
async function release(attempt: Attempt | undefined, prefix: string): Promise<void> {
  if (attempt !== undefined) {
    await stop(attempt);
    if (attempt.child.pid !== undefined) live.delete(attempt.child.pid);
  }
  removeDir(prefix);
}

/** Whether nginx itself answers on every port before it exits or READY_TIMEOUT_MS passes. */
async function answers(running: Attempt, ports: readonly number[], config: NginxConfigName): Promise<boolean> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (running.exitCode === null && Date.now() < deadline) {
    let all = true;
    for (const port of ports) if (!(all = await probe(port, config))) break;
    if (all) return true;
    await settlesWithin(running.exited, 25);
  }
  return false;
}

/** What one start needs besides its ports: the binary, its build, the template and the upstreams. */
interface Plan {
  readonly bin: string;
  readonly build: NginxBuild;
  readonly template: string;
  readonly config: NginxConfigName;
  readonly backend: Upstream;
  readonly auth: Upstream;
}

/**
 * One start on freshly picked ports: the running nginx, or `{ portTaken }` with its error log when
 * someone took a picked port in between. Throws NginxError when nginx fails otherwise.
 */
async function startOnce(plan: Plan): Promise<RunningNginx | { readonly portTaken: string }> {
  const [backendPort, authPort] = (await freePorts(2)) as [number, number];
  const prefix = makePrefix();
  let started: Attempt | undefined;
  try {
    const values = {
      LISTEN_HOST,
      BACKEND_LISTEN_PORT: String(backendPort),
      AUTH_LISTEN_PORT: String(authPort),
      BACKEND_UPSTREAM: plan.backend.address,
      BACKEND_SCHEME: plan.backend.scheme,
      AUTH_UPSTREAM: plan.auth.address,
      AUTH_SCHEME: plan.auth.scheme,
      PID_PATH: join(prefix.dir, 'nginx.pid'),
      LOCK_PATH: join(prefix.dir, 'nginx.lock'),
      ERROR_LOG: prefix.errorLog,
      TEMP_DIR: prefix.tempDir,
      LB_CONFIG: plan.config,
    };
    writeFileSync(prefix.confPath, renderNginxConfig(plan.template, values, plan.build.without));
    const running = (started = launch(plan.bin, prefix.dir, prefix.confPath, prefix.errorLog, atLeast(plan.build.version, [1, 19, 5])));
    const pid = running.child.pid;
    if (pid !== undefined) live.set(pid, prefix.dir);

    if ((await answers(running, [backendPort, authPort], plan.config)) && running.exitCode === null && pid !== undefined) {
      let closing: Promise<void> | undefined;
      return {
        wsUrl: `ws://${LISTEN_HOST}:${backendPort}/ws`,
        httpUrl: `http://${LISTEN_HOST}:${backendPort}`,
        authUrl: `http://${LISTEN_HOST}:${authPort}`,
        config: plan.config,
        pid,
        prefix: prefix.dir,
        close(): Promise<void> {
          closing ??= release(running, prefix.dir);
          return closing;
        },
      };
    }

    const log = tailOf(`${readLog(prefix.errorLog)}\n${running.stderr}`);
    const exited = running.exitCode !== null;
    started = undefined;
    await release(running, prefix.dir);
    if (exited && /Address already in use/i.test(log)) return { portTaken: log };
    const what = exited
      ? `nginx (${plan.bin}, config ${plan.config}) exited with ${running.exitSignal ?? `code ${String(running.exitCode)}`} before it answered`
      : `nginx (${plan.bin}, config ${plan.config}) did not answer on ${LISTEN_HOST}:${backendPort} and :${authPort} within ${READY_TIMEOUT_MS / 1000} s`;
    throw new NginxError('WSGATE_NGINX_START', `${what}; last lines of its error log: ${log === '' ? '(empty)' : log}`);
  } catch (error) {
    await release(started, prefix.dir);
    throw error;
  }
}

/**
 * Starts nginx with the `healthy` or `broken` configuration in front of the given backend and auth
 * service and resolves once nginx itself answers on both ports. Throws NginxError
 * (`WSGATE_NGINX_NOT_INSTALLED`, `WSGATE_NGINX_START` with the tail of nginx's error log) or
 * TargetConfigError (bad option).
 */
export async function startNginx(options: NginxOptions): Promise<RunningNginx> {
  if (!(NGINX_CONFIGS as readonly string[]).includes(options.config)) {
    throw new TargetConfigError(`the nginx config is "${String(options.config)}"; choose ${NGINX_CONFIGS.join(' or ')}.`);
  }
  const backend = upstreamOf('upstreamHttp', options.upstreamHttp);
  const auth = upstreamOf('upstreamAuth', options.upstreamAuth);
  const bin = findNginx(options.nginxPath, options.env ?? process.env);
  const build = await inspectNginx(bin);
  const plan: Plan = { bin, build, template: readFileSync(nginxTemplatePath(options.config), 'utf8'), config: options.config, backend, auth };
  installExitHook();

  let lastFailure = '';
  for (let attempt = 1; attempt <= PORT_ATTEMPTS; attempt++) {
    const result = await startOnce(plan);
    if (!('portTaken' in result)) return result;
    lastFailure = result.portTaken; // someone took a picked port in between: pick new ones
  }
  throw new NginxError('WSGATE_NGINX_START', `nginx could not bind a free port in ${PORT_ATTEMPTS} attempts; last lines of its error log: ${lastFailure}`);
}
