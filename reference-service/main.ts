/**
 * `wsgate reference`: runs the reference chat service from the command line. Importing this module has
 * no side effect; the CLI (or a test) calls {@link runTargetCli}.
 *
 * Secrets come only from the environment, never from flags, so they stay out of `ps` and shell history.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { MIN_ADMIN_TOKEN_CHARS } from './admin.ts';
import { MIN_SECRET_BYTES } from './config.ts';
import { TargetConfigError, TargetError } from './errors.ts';
import { ALL_FAULT_NAMES, isFaultName } from './faults.ts';
import type { FaultName } from './faults.ts';
import { NGINX_CONFIGS, startNginx } from './nginx.ts';
import type { NginxConfigName, RunningNginx } from './nginx.ts';
import { MAX_WORKERS, startTargetCluster } from './cluster.ts';
import type { StartClusterOptions } from './cluster.ts';

const PREFIX = 'wsgate reference:';
/** The service could not start: wsgate's exit code 4, "could not run" (1 would read as a verdict fail). */
const START_FAILED = 4;

export const TARGET_USAGE = `Usage: wsgate reference [options]

Runs the reference chat service: an auth listener and a chat backend (docs/protocol.md).
Prints one JSON "ready" line on stdout, then serves until SIGINT or SIGTERM.
With --nginx, nginx runs in front of it as the load balancer and the ready line adds
lb_ws_url, lb_http_url and lb_auth_url (the auth service on nginx's second port).
With --admin, faults can be switched while it runs (docs/protocol.md, "Admin endpoint") and the
ready line adds admin_url.

Options:
  --host HOST              interface to bind (default 127.0.0.1)
  --auth-port N            auth listener port (default 0: any free port)
  --port N                 chat backend port (default 0: any free port)
  --fault NAME             play a regression; repeatable. One of:
                           ${ALL_FAULT_NAMES.join(', ')}
  --step-delay-ms N        delay before each agent event (default 10)
  --token-ttl S            access token lifetime in seconds (default 900)
  --idle-timeout-s S       idle limit of the idle_timeout fault (default 3)
  --heartbeat-interval-s S ping a connection whose client was silent this long (default 3.5)
  --heartbeat-timeout-s S  reap (close without a close frame) one silent this long (default 5)
  --late-run-ms N          how late rare_late_run delivers a run's agent_completed (default 6000)
  --fault-seed N           seed of the rare faults' dice (default random)
  --max-frame-bytes N      largest accepted frame; larger ones close with 1009 (default 65536)
  --allowed-origin ORIGIN  Origin allowed to connect; repeatable (default http://localhost, http://127.0.0.1)
  --tls-cert FILE          PEM certificate; with --tls-key, both listeners speak TLS
  --tls-key FILE           PEM private key
  --nginx CONFIG           put nginx in front on 127.0.0.1: healthy (idle WebSockets kept 24 h)
                           or broken (nginx cuts WebSockets idle for 3 s)
  --workers N              backend worker processes sharing the port, each holding its own sockets
                           (default 1: one process); for more connections than one process's
                           open-files limit allows (docs/protocol.md, "Several processes")
  --admin                  serve the admin endpoint on 127.0.0.1 (any free port): GET /admin/faults,
                           PUT and DELETE /admin/faults/NAME, with the token in WSGATE_ADMIN_TOKEN
  -h, --help               print this help

Environment:
  WSGATE_AUTH_SECRET       secret the auth service signs tokens with (at least ${MIN_SECRET_BYTES} bytes)
  WSGATE_BACKEND_SECRET    secret the backend verifies with (at least ${MIN_SECRET_BYTES} bytes)
                           One set alone serves both; with neither, a random shared secret is generated.
  WSGATE_AUTH_PASSWORD     when set, POST /auth/token requires this password
  WSGATE_NGINX             the nginx binary for --nginx (default: nginx on PATH, then /usr/sbin/nginx)
  WSGATE_ADMIN_TOKEN       with --admin: the bearer token of the admin endpoint (at least ${MIN_ADMIN_TOKEN_CHARS} characters)
`;

export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** Stops the service like SIGTERM does (for callers that run it in-process). */
  readonly stop?: AbortSignal;
}

const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

const OPTIONS = {
  host: { type: 'string' },
  'auth-port': { type: 'string' },
  port: { type: 'string' },
  fault: { type: 'string', multiple: true },
  'step-delay-ms': { type: 'string' },
  'token-ttl': { type: 'string' },
  'idle-timeout-s': { type: 'string' },
  'heartbeat-interval-s': { type: 'string' },
  'heartbeat-timeout-s': { type: 'string' },
  'late-run-ms': { type: 'string' },
  'fault-seed': { type: 'string' },
  'max-frame-bytes': { type: 'string' },
  'allowed-origin': { type: 'string', multiple: true },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  nginx: { type: 'string' },
  admin: { type: 'boolean' },
  workers: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function wholeNumber(flag: string, value: string | undefined, min: number, max: number, what: string): number | undefined {
  if (value === undefined) return undefined;
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new TargetConfigError(`--${flag} is "${value}"; it must be ${what} from ${min} to ${max}.`);
  }
  return n;
}

function seconds(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = /^\d+(\.\d+)?$/.test(value) ? Number(value) : Number.NaN;
  if (!(n > 0)) throw new TargetConfigError(`--${flag} is "${value}"; it must be a number of seconds greater than 0, e.g. 3 or 0.5.`);
  return n;
}

function readPem(flag: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new TargetConfigError(`cannot read the --${flag} file "${path}" (${code}); pass the path of a readable PEM file.`, { cause: error });
  }
}

function secretFromEnv(name: string, env: NodeJS.ProcessEnv): string | undefined {
  const value = env[name];
  if (value === undefined || value === '') return undefined;
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes < MIN_SECRET_BYTES) {
    throw new TargetConfigError(
      `${name} is ${bytes} bytes long; set it to at least ${MIN_SECRET_BYTES} bytes, e.g. ${name}=$(openssl rand -hex 32).`,
    );
  }
  return value;
}

/** The admin endpoint's token: required with --admin, never printed (its length may be). */
function adminTokenFromEnv(env: NodeJS.ProcessEnv): string {
  const token = env['WSGATE_ADMIN_TOKEN'] ?? '';
  if (token === '') {
    throw new TargetConfigError(
      `--admin needs its bearer token in WSGATE_ADMIN_TOKEN (at least ${MIN_ADMIN_TOKEN_CHARS} characters), e.g. WSGATE_ADMIN_TOKEN=$(openssl rand -hex 16).`,
    );
  }
  if (token.length < MIN_ADMIN_TOKEN_CHARS) {
    throw new TargetConfigError(
      `WSGATE_ADMIN_TOKEN is ${token.length} characters long; set it to at least ${MIN_ADMIN_TOKEN_CHARS}, e.g. WSGATE_ADMIN_TOKEN=$(openssl rand -hex 16).`,
    );
  }
  return token;
}

/** Turns node:util parseArgs' errors into one sentence of ours. */
function argumentError(error: unknown): TargetConfigError {
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  const quoted = /'([^']+)'/.exec(message)?.[1] ?? '';
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    return new TargetConfigError(`unknown option "${quoted}"; run wsgate reference --help to see the valid options.`);
  }
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
    return new TargetConfigError(`unexpected argument "${quoted}"; wsgate reference takes only options (see --help).`);
  }
  const flag = /'(?:-\w, )?(--[\w-]+)/.exec(message)?.[1];
  if (flag !== undefined && /argument missing|argument is ambiguous/.test(message)) {
    return new TargetConfigError(`option ${flag} needs a value; write it as ${flag} VALUE or ${flag}=VALUE (see --help).`);
  }
  const firstSentence = message.split(/\.\s/)[0]?.replace(/\.$/, '') ?? message;
  return new TargetConfigError(`${firstSentence.charAt(0).toLowerCase()}${firstSentence.slice(1)}; run wsgate reference --help for the usage.`);
}

/** startTarget's options plus what the CLI runs around the service. */
export interface TargetCliOptions extends StartClusterOptions {
  /** Put nginx in front with this configuration. */
  readonly nginx?: NginxConfigName;
}

/** Parses the command line and environment into startTarget options. Throws TargetConfigError. */
export function parseTargetArgs(argv: readonly string[], env: NodeJS.ProcessEnv): TargetCliOptions | 'help' {
  let values;
  try {
    ({ values } = parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (error) {
    throw argumentError(error);
  }
  if (values.help === true) return 'help';

  const faults: FaultName[] = [];
  for (const name of values.fault ?? []) {
    if (!isFaultName(name)) {
      throw new TargetConfigError(`unknown fault "${name}"; valid faults are ${ALL_FAULT_NAMES.join(', ')}.`);
    }
    faults.push(name);
  }
  for (const origin of values['allowed-origin'] ?? []) {
    if (!/^https?:\/\/[^/\s]+$/.test(origin)) {
      throw new TargetConfigError(`--allowed-origin is "${origin}"; give a scheme and host without a path, e.g. http://localhost:3000.`);
    }
  }
  const certPath = values['tls-cert'];
  const keyPath = values['tls-key'];
  if ((certPath === undefined) !== (keyPath === undefined)) {
    throw new TargetConfigError(`--${certPath === undefined ? 'tls-key' : 'tls-cert'} was given alone; pass both --tls-cert and --tls-key, or neither.`);
  }
  const nginx = values.nginx;
  if (nginx !== undefined && !(NGINX_CONFIGS as readonly string[]).includes(nginx)) {
    throw new TargetConfigError(`--nginx is "${nginx}"; it must be ${NGINX_CONFIGS.join(' or ')}.`);
  }
  if (values.host === '') throw new TargetConfigError('--host is empty; pass an interface such as 127.0.0.1 or 0.0.0.0.');

  const adminToken = values.admin === true ? adminTokenFromEnv(env) : undefined;
  const authSecret = secretFromEnv('WSGATE_AUTH_SECRET', env);
  const backendSecret = secretFromEnv('WSGATE_BACKEND_SECRET', env);
  // One secret set serves both sides; none at all means a throwaway shared one, never printed.
  const shared = authSecret ?? backendSecret ?? randomBytes(32).toString('base64url');

  return {
    ...(values.host === undefined ? {} : { host: values.host }),
    authPort: wholeNumber('auth-port', values['auth-port'], 0, 65535, 'a port number'),
    backendPort: wholeNumber('port', values.port, 0, 65535, 'a port number'),
    faults,
    stepDelayMs: wholeNumber('step-delay-ms', values['step-delay-ms'], 0, 60_000, 'a whole number of milliseconds'),
    tokenTtlS: wholeNumber('token-ttl', values['token-ttl'], 1, 30 * 24 * 3600, 'a whole number of seconds'),
    idleTimeoutS: seconds('idle-timeout-s', values['idle-timeout-s']),
    heartbeatIntervalS: seconds('heartbeat-interval-s', values['heartbeat-interval-s']),
    heartbeatTimeoutS: seconds('heartbeat-timeout-s', values['heartbeat-timeout-s']),
    lateRunMs: wholeNumber('late-run-ms', values['late-run-ms'], 0, 600_000, 'a whole number of milliseconds'),
    faultSeed: wholeNumber('fault-seed', values['fault-seed'], 0, 2 ** 31 - 1, 'a whole number'),
    maxFrameBytes: wholeNumber('max-frame-bytes', values['max-frame-bytes'], 64, 64 * 1024 * 1024, 'a whole number of bytes'),
    ...(values['allowed-origin'] === undefined ? {} : { allowedOrigins: values['allowed-origin'] }),
    ...(certPath === undefined || keyPath === undefined
      ? {}
      : { tls: { cert: readPem('tls-cert', certPath), key: readPem('tls-key', keyPath) } }),
    authSecret: authSecret ?? shared,
    backendSecret: backendSecret ?? shared,
    ...(env['WSGATE_AUTH_PASSWORD'] ? { authPassword: env['WSGATE_AUTH_PASSWORD'] } : {}),
    ...(nginx === undefined ? {} : { nginx: nginx as NginxConfigName }),
    ...(adminToken === undefined ? {} : { admin: { token: adminToken } }),
    ...(values.workers === undefined ? {} : { workers: wholeNumber('workers', values.workers, 1, MAX_WORKERS, 'a whole number') }),
  };
}

function waitForStop(stop: AbortSignal | undefined): Promise<string> {
  return new Promise((resolve) => {
    const finish = (reason: string): void => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      stop?.removeEventListener('abort', onAbort);
      resolve(reason);
    };
    const onInt = (): void => finish('SIGINT');
    const onTerm = (): void => finish('SIGTERM');
    const onAbort = (): void => finish('abort');
    process.once('SIGINT', onInt);
    process.once('SIGTERM', onTerm);
    if (stop?.aborted) return finish('abort');
    stop?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Runs `wsgate reference` with `argv` (the arguments after the subcommand) and `env`. Resolves with the
 * exit code: 0 after a clean shutdown (SIGINT/SIGTERM) or `--help`, 2 for bad input, 4 when the
 * service cannot start (wsgate's "could not run"; 1 means a verdict fail there). Errors are one
 * sentence on stderr, never a stack trace.
 */
export async function runTargetCli(argv: readonly string[], env: NodeJS.ProcessEnv, io: CliIo = processIo): Promise<number> {
  let options: TargetCliOptions | 'help';
  try {
    options = parseTargetArgs(argv, env);
  } catch (error) {
    io.stderr(`${PREFIX} ${error instanceof Error ? error.message : String(error)}\n`);
    return 2;
  }
  if (options === 'help') {
    io.stdout(TARGET_USAGE);
    return 0;
  }

  const { nginx: nginxConfig, ...targetOptions } = options;
  let target;
  let lb: RunningNginx | undefined;
  try {
    target = await startTargetCluster(targetOptions);
    if (nginxConfig !== undefined) {
      try {
        lb = await startNginx({ upstreamHttp: target.httpUrl, upstreamAuth: target.authUrl, config: nginxConfig, env });
      } catch (error) {
        await target.close();
        throw error;
      }
    }
  } catch (error) {
    if (error instanceof TargetConfigError) {
      io.stderr(`${PREFIX} ${error.message}\n`);
      return 2;
    }
    const reason = error instanceof TargetError ? error.message : `could not start (${error instanceof Error ? error.message : String(error)}).`;
    io.stderr(`${PREFIX} ${reason}\n`);
    return START_FAILED;
  }

  io.stdout(
    `${JSON.stringify({
      event: 'ready',
      auth_url: target.authUrl,
      http_url: target.httpUrl,
      ws_url: target.wsUrl,
      health_url: `${target.httpUrl}/health`,
      faults: target.faults,
      ...(lb === undefined ? {} : { lb_ws_url: lb.wsUrl, lb_http_url: lb.httpUrl, lb_auth_url: lb.authUrl }),
      ...(target.adminUrl === undefined ? {} : { admin_url: target.adminUrl }),
      ...(target.workers > 1 ? { workers: target.workers } : {}),
    })}\n`,
  );
  await waitForStop(io.stop);
  await lb?.close();
  await target.close();
  return 0;
}
