/**
 * Pre-flight: before k6 starts, is anything listening where the configuration says? A dead target is
 * then one sentence and exit 3 in five seconds, instead of a run that aborts in setup.
 *
 * It checks reachability only. Certificate trust is k6's business: k6 is Go and trusts the system's
 * roots (plus SSL_CERT_FILE), while Node trusts its own bundled list, so a Node-side verdict on a
 * certificate could contradict the one that matters.
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Config } from '../lib/core/config.ts';
import { buildDialect } from '../lib/dialects/index.ts';
import { parseUrl, redactUrl } from '../lib/core/url.ts';
import { UnreachableError } from './errors.ts';

const PREFLIGHT_TIMEOUT_MS = 5000;

type Vars = Readonly<Record<string, string | undefined>>;

/** Why a connection failed, as a short code (ECONNREFUSED, ENOTFOUND, timeout). */
function reason(err: unknown): string {
  const e = err as { code?: string; name?: string; message?: string; errors?: { code?: string }[] };
  if (e.name === 'AbortError' || e.code === 'ABORT_ERR') return `no answer within ${PREFLIGHT_TIMEOUT_MS / 1000} s`;
  // Node 20 tries IPv6 and IPv4 in turn and reports an AggregateError of both.
  return e.code ?? e.errors?.find((x) => x.code)?.code ?? e.message ?? String(err);
}

function hostPort(raw: string): { host: string; port: number; tls: boolean } {
  const u = parseUrl(raw);
  if (!u) throw new UnreachableError(`cannot parse ${redactUrl(raw)}`);
  const tls = u.scheme === 'https:' || u.scheme === 'wss:';
  return { host: u.host.replace(/^\[|\]$/g, ''), port: u.port ?? (tls ? 443 : 80), tls };
}

/** GET url; any HTTP answer counts as reachable (a sick service is for k6 to judge). */
function httpReachable(url: string): Promise<void> {
  const { tls } = hostPort(url);
  return new Promise((resolve, reject) => {
    const signal = AbortSignal.timeout(PREFLIGHT_TIMEOUT_MS);
    const req = (tls ? httpsRequest : httpRequest)(url, { method: 'GET', signal, rejectUnauthorized: false, headers: { 'user-agent': 'wsgate-preflight' } }, (res) => {
      res.resume();
      resolve();
    });
    req.on('error', reject);
    req.end();
  });
}

/** Opens and closes a TCP (or TLS, without trust checks) connection to the URL's host and port. */
function tcpReachable(url: string): Promise<void> {
  const { host, port, tls } = hostPort(url);
  return new Promise((resolve, reject) => {
    const socket = tls ? tlsConnect({ host, port, servername: host, rejectUnauthorized: false }) : netConnect({ host, port });
    const timer = setTimeout(() => socket.destroy(Object.assign(new Error('timeout'), { name: 'AbortError' })), PREFLIGHT_TIMEOUT_MS);
    socket.once(tls ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      socket.end();
      socket.destroy();
      resolve();
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/** True when an HTTP(S) proxy would carry k6's traffic to this URL, so a direct connection proves nothing. */
function proxied(url: string, env: Vars): boolean {
  const { host } = hostPort(url);
  const proxy = env['HTTPS_PROXY'] || env['https_proxy'] || env['HTTP_PROXY'] || env['http_proxy'];
  return Boolean(proxy) && !isLoopback(host);
}

/**
 * Checks the chat backend (`GET <httpUrl>/health`) and, where the dialect has one, the auth service
 * (TCP connect; a server that verifies tokens but issues none has no auth service to reach). Throws
 * UnreachableError naming the redacted URL, the failure and the variable that overrides the URL.
 * Returns notes for the user (for example a check skipped behind a proxy).
 */
export async function preflight(config: Config, env: Vars): Promise<string[]> {
  const notes: string[] = [];
  const checks: { what: string; url: string; variable: string; probe: (url: string) => Promise<void> }[] = [
    { what: 'chat backend', url: `${config.httpUrl}/health`, variable: 'WSGATE_HTTP_URL', probe: httpReachable },
  ];
  if (buildDialect(config, (path) => readFileSync(path, 'utf8')).capabilities.has('auth-service')) {
    checks.push({ what: 'auth service', url: config.authUrl, variable: 'WSGATE_AUTH_URL', probe: tcpReachable });
  }
  for (const check of checks) {
    if (proxied(check.url, env)) {
      notes.push(`an HTTP proxy is set, so the pre-flight check of the ${check.what} at ${redactUrl(check.url)} is skipped; k6 will judge it`);
      continue;
    }
    try {
      await check.probe(check.url);
    } catch (err) {
      throw new UnreachableError(
        `the ${check.what} at ${redactUrl(check.url)} is unreachable (${reason(err)}); start it, or point ${check.variable} (or ${config.env}'s preset in config/environments.json) at it`,
      );
    }
  }
  return notes;
}
