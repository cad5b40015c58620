/**
 * Configuration, parsed once and typed. Precedence: environment variables > the named preset in
 * config/environments.json > nothing (every preset field is required). Every bad value fails with one
 * sentence naming the field, the value and what is allowed.
 *
 * Pure module: k6 calls it with __ENV at init, the CLI with process.env before it starts k6, so the
 * CLI reports a bad value before any k6 process exists.
 */
import { ConfigError } from './errors.ts';
import { requiredTrials } from './evidence.ts';
import type { DialectName } from '../dialects/dialect.ts';
import { parseUrl, redactUrl } from './url.ts';
import ENVIRONMENTS from '../../config/environments.json';

const TOKEN_SOURCES = ['mint', 'auth', 'file'] as const;
type TokenSource = (typeof TOKEN_SOURCES)[number];

export interface Config {
  /** Name of the preset in config/environments.json. */
  env: string;
  wsUrl: string;
  httpUrl: string;
  authUrl: string;
  /** Origin header sent on handshakes; must be in the service's allow-list. */
  origin: string;
  /** The protocol the service speaks (lib/dialects/). */
  dialect: DialectName;
  /** The json dialect's description of the protocol (WSGATE_DIALECT_FILE), read when the dialect is built. */
  dialectFile: string | undefined;
  tokenSource: TokenSource;
  issuer: string;
  audience: string;
  /** Seconds a connection is held idle in the load-balancer check. */
  idleHoldS: number;
  /** Milliseconds an agent run may take from the message that starts it to agent_completed. */
  agentDeadlineMs: number;
  /**
   * Milliseconds a run stays watched after its agent_completed before it is judged, so a duplicate or
   * a stray event after the end is seen.
   */
  agentSettleMs: number;
  /** Agent runs validation makes: WSGATE_AGENT_RUNS, else what the detection floor needs. */
  agentRuns: number;
  /** Connections validation opens as its connection sample: WSGATE_SAMPLE_CONNECTIONS, else what the floor needs. */
  sampleConnections: number;
  /** The rarest fault (share of runs, connections, ...) a validation must be able to catch at 95% confidence. */
  detectionFloor: number;
  /** What a sample too small for the floor does to the verdict. */
  evidencePolicy: EvidencePolicy;
  isolationUsers: number;
  healthConnections: number;
  /** Regression suite sizes and tolerances. */
  jwtSyncUsers: number;
  leakConnections: number;
  /**
   * Milliseconds the service may take to count closed and dropped connections out. On loopback the
   * server sees a drop at once; through a load balancer it sees it when the balancer closes its side.
   */
  leakSettleMs: number;
  /**
   * The longest a client that vanished without a packet may stay open at the server: the service's
   * heartbeat timeout (it must ping silent clients and reap the ones that do not answer).
   */
  heartbeatTimeoutMs: number;
  /** Allowance on top of heartbeatTimeoutMs before a black-holed client still held counts as a leak. */
  reapMarginMs: number;
  /** Connections the leak regression and validation's health check black-hole through the drop relay. */
  blackholeConnections: number;
  /** Lifetime of the short-lived tokens the refresh regression mints. */
  refreshTtlS: number;
  regressionUsers: number;
  agentRegressionRuns: number;
  /** Long-lived connections the monitor holds, and synthetic probes it starts per minute. */
  monitorPoolConnections: number;
  monitorProbesPerMin: number;
  /** How long the monitoring scenario runs, as a k6 duration ("30m"); WSGATE_MONITOR_DURATION. */
  monitorDuration: string;
  /** The multi-user framework (scenarios/multi-user.ts). */
  multi: {
    scenario: BusinessScenario;
    users: number;
    /** How long connections are held after the ramp; messaging happens in the first part. */
    duration: string;
    groupSize: number;
    messages: number;
    connectionsPerVu: number;
    rampPerS: number;
    agentPercent: number;
  };
  /** A loopback relay that can cut connections without a close frame (the leak regression). */
  dropRelayWsUrl: string | undefined;
  dropRelayControlUrl: string | undefined;
  /**
   * A server API for what the WebSocket side cannot say (Centrifugo's HTTP API: connection counts,
   * publishing); WSGATE_SERVER_API_URL and the secret WSGATE_SERVER_API_KEY.
   */
  serverApiUrl: string | undefined;
  serverApiKey: string | undefined;
  /** Secrets: only ever from environment variables, never from files in the repo. */
  jwtSecret: string | undefined;
  authPassword: string | undefined;
  tokensFile: string | undefined;
}

type Vars = Readonly<Record<string, string | undefined>>;

/** What the users of a multi-user run do (lib/core/multi-plan.ts plays them). */
export const BUSINESS_SCENARIOS = ['chat', 'agent_execution', 'mixed', 'stress_concurrent_connections'] as const;
export type BusinessScenario = (typeof BUSINESS_SCENARIOS)[number];

/** The dialects lib/dialects/index.ts can build. */
export const SUPPORTED_DIALECTS: readonly DialectName[] = ['wsgate-chat', 'json', 'centrifugo'];

const EVIDENCE_POLICIES = ['fail', 'warn'] as const;
type EvidencePolicy = (typeof EVIDENCE_POLICIES)[number];
type Preset = Record<string, unknown>;

/** Environment variables that override preset fields. */
const OVERRIDES: Record<string, string> = {
  ws_url: 'WSGATE_WS_URL',
  http_url: 'WSGATE_HTTP_URL',
  auth_url: 'WSGATE_AUTH_URL',
  origin: 'WSGATE_ORIGIN',
  dialect: 'WSGATE_DIALECT',
  token_source: 'WSGATE_TOKEN_SOURCE',
  issuer: 'WSGATE_ISSUER',
  audience: 'WSGATE_AUDIENCE',
  idle_hold_s: 'WSGATE_IDLE_HOLD_S',
  agent_deadline_ms: 'WSGATE_AGENT_DEADLINE_MS',
  agent_runs: 'WSGATE_AGENT_RUNS',
  agent_settle_ms: 'WSGATE_AGENT_SETTLE_MS',
  sample_connections: 'WSGATE_SAMPLE_CONNECTIONS',
  detection_floor: 'WSGATE_DETECTION_FLOOR',
  evidence_policy: 'WSGATE_EVIDENCE_POLICY',
  isolation_users: 'WSGATE_ISOLATION_USERS',
  health_connections: 'WSGATE_HEALTH_CONNECTIONS',
  jwt_sync_users: 'WSGATE_JWT_SYNC_USERS',
  leak_connections: 'WSGATE_LEAK_CONNECTIONS',
  leak_settle_ms: 'WSGATE_LEAK_SETTLE_MS',
  heartbeat_timeout_ms: 'WSGATE_HEARTBEAT_TIMEOUT_MS',
  reap_margin_ms: 'WSGATE_REAP_MARGIN_MS',
  blackhole_connections: 'WSGATE_BLACKHOLE_CONNECTIONS',
  refresh_ttl_s: 'WSGATE_REFRESH_TTL_S',
  regression_users: 'WSGATE_REGRESSION_USERS',
  agent_regression_runs: 'WSGATE_AGENT_REGRESSION_RUNS',
  monitor_pool_connections: 'WSGATE_MONITOR_POOL_CONNECTIONS',
  monitor_probes_per_min: 'WSGATE_MONITOR_PROBES_PER_MIN',
  multi_scenario: 'WSGATE_MULTI_SCENARIO',
  multi_users: 'WSGATE_MULTI_USERS',
  multi_duration: 'WSGATE_MULTI_DURATION',
  multi_group_size: 'WSGATE_MULTI_GROUP_SIZE',
  multi_messages: 'WSGATE_MULTI_MESSAGES',
  multi_connections_per_vu: 'WSGATE_MULTI_CONNECTIONS_PER_VU',
  multi_ramp_per_s: 'WSGATE_MULTI_RAMP_PER_S',
  multi_agent_percent: 'WSGATE_MULTI_AGENT_PERCENT',
};

const MIN_SECRET_BYTES = 32;

/** The environment names the presets define. */
function environmentNames(presets: Record<string, unknown> = ENVIRONMENTS): string[] {
  return Object.keys(presets);
}

/** Parses the whole configuration for the environment named by WSGATE_ENV (default: local). */
export function loadConfig(vars: Vars, presets: Record<string, unknown> = ENVIRONMENTS): Config {
  const env = vars['WSGATE_ENV'] || 'local';
  const preset = presets[env];
  if (!isObject(preset)) {
    throw new ConfigError(
      `unknown environment "${env}"; choose one of ${environmentNames(presets).join(', ')} (config/environments.json)`,
    );
  }
  const field = (name: string): { value: unknown; origin: string } => {
    const envName = OVERRIDES[name];
    const override = envName ? vars[envName] : undefined;
    if (envName && override !== undefined && override !== '') return { value: override, origin: envName };
    return { value: preset[name], origin: `${env}.${name} in config/environments.json` };
  };
  const str = (name: string) => stringField(field(name));
  const int = (name: string, min: number, max: number) => intField(field(name), min, max);

  const tokenSource = oneOf(field('token_source'), TOKEN_SOURCES);
  const floor = fractionField(field('detection_floor'), 0.0001, 1);
  const config: Config = {
    env,
    wsUrl: urlField(field('ws_url'), ['ws:', 'wss:']),
    httpUrl: urlField(field('http_url'), ['http:', 'https:']),
    authUrl: urlField(field('auth_url'), ['http:', 'https:']),
    origin: urlField(field('origin'), ['http:', 'https:']),
    dialect: oneOf(field('dialect'), SUPPORTED_DIALECTS),
    dialectFile: vars['WSGATE_DIALECT_FILE'] || undefined,
    tokenSource,
    issuer: str('issuer'),
    audience: str('audience'),
    idleHoldS: int('idle_hold_s', 1, 7 * 24 * 3600),
    agentDeadlineMs: int('agent_deadline_ms', 100, 600_000),
    agentSettleMs: int('agent_settle_ms', 0, 60_000),
    agentRuns: field('agent_runs').value === undefined ? requiredTrials(floor) : int('agent_runs', 1, 100_000),
    sampleConnections: field('sample_connections').value === undefined ? requiredTrials(floor) : int('sample_connections', 0, 100_000),
    detectionFloor: floor,
    evidencePolicy: oneOf(field('evidence_policy'), EVIDENCE_POLICIES),
    isolationUsers: int('isolation_users', 2, 10_000),
    healthConnections: int('health_connections', 1, 1000),
    jwtSyncUsers: int('jwt_sync_users', 1, 10_000),
    leakConnections: int('leak_connections', 2, 10_000),
    leakSettleMs: int('leak_settle_ms', 100, 600_000),
    heartbeatTimeoutMs: int('heartbeat_timeout_ms', 100, 3_600_000),
    reapMarginMs: int('reap_margin_ms', 0, 600_000),
    blackholeConnections: int('blackhole_connections', 1, 1000),
    refreshTtlS: int('refresh_ttl_s', 2, 3600),
    regressionUsers: int('regression_users', 2, 10_000),
    agentRegressionRuns: int('agent_regression_runs', 1, 10_000),
    monitorPoolConnections: int('monitor_pool_connections', 0, 100_000),
    monitorProbesPerMin: int('monitor_probes_per_min', 1, 600_000),
    monitorDuration: durationField(vars['WSGATE_MONITOR_DURATION'] || '30m', 'WSGATE_MONITOR_DURATION'),
    multi: {
      scenario: oneOf(field('multi_scenario'), BUSINESS_SCENARIOS),
      users: int('multi_users', 1, 1_000_000),
      duration: durationField(str('multi_duration'), field('multi_duration').origin),
      groupSize: int('multi_group_size', 1, 10_000),
      messages: int('multi_messages', 1, 10_000),
      connectionsPerVu: int('multi_connections_per_vu', 1, 20_000),
      rampPerS: int('multi_ramp_per_s', 1, 100_000),
      agentPercent: int('multi_agent_percent', 0, 100),
    },
    dropRelayWsUrl: optionalUrl(vars, 'WSGATE_DROP_RELAY_WS_URL', ['ws:', 'wss:']),
    dropRelayControlUrl: optionalUrl(vars, 'WSGATE_DROP_RELAY_CONTROL_URL', ['http:', 'https:']),
    serverApiUrl: optionalUrl(vars, 'WSGATE_SERVER_API_URL', ['http:', 'https:']),
    serverApiKey: vars['WSGATE_SERVER_API_KEY'] || undefined,
    jwtSecret: vars['WSGATE_JWT_SECRET'] || undefined,
    authPassword: vars['WSGATE_AUTH_PASSWORD'] || undefined,
    tokensFile: vars['WSGATE_TOKENS_FILE'] || undefined,
  };
  requireSecrets(config);
  return config;
}

function requireSecrets(config: Config): void {
  if (config.tokenSource === 'mint') {
    if (!config.jwtSecret) {
      throw new ConfigError(
        `token source "mint" needs the shared JWT secret in WSGATE_JWT_SECRET; set it, or fetch tokens from the auth service with WSGATE_TOKEN_SOURCE=auth`,
      );
    }
    if (utf8Length(config.jwtSecret) < MIN_SECRET_BYTES) {
      // The length is safe to print; the secret is not.
      throw new ConfigError(
        `WSGATE_JWT_SECRET is ${utf8Length(config.jwtSecret)} bytes long; HS256 needs at least ${MIN_SECRET_BYTES}, so set the service's real secret`,
      );
    }
  }
  if (config.tokenSource === 'file' && !config.tokensFile) {
    throw new ConfigError(
      `token source "file" needs WSGATE_TOKENS_FILE, the path of a JSON file mapping user ids to pre-issued tokens`,
    );
  }
}

/** Milliseconds in a k6 duration already checked by durationField. */
export function durationMs(value: string): number {
  const part = (unit: string) => Number(new RegExp(`(\\d+)${unit}`).exec(value)?.[1] ?? 0);
  return ((part('h') * 60 + part('m')) * 60 + part('s')) * 1000;
}

/** A k6 duration such as 90s, 30m, 4h or 1h30m. */
export function durationField(value: string, origin: string): string {
  if (!/^(\d+h)?(\d+m)?(\d+s)?$/.test(value) || value === '' || /^(0+[hms])+$/.test(value)) {
    throw new ConfigError(`${origin} is "${value}"; it must be a duration such as 90s, 30m or 1h30m`);
  }
  return value;
}

function oneOf<T extends string>(f: { value: unknown; origin: string }, allowed: readonly T[]): T {
  const v = stringField(f);
  if (!(allowed as readonly string[]).includes(v)) throw new ConfigError(`${f.origin} is "${v}"; it must be one of ${allowed.join(', ')}`);
  return v as T;
}

function optionalUrl(vars: Vars, name: string, schemes: string[]): string | undefined {
  const v = vars[name];
  return v ? urlField({ value: v, origin: name }, schemes) : undefined;
}

function stringField(f: { value: unknown; origin: string }): string {
  if (typeof f.value !== 'string' || f.value.trim() === '') {
    throw new ConfigError(`${f.origin} is ${describe(f.value)}; it must be a non-empty string`);
  }
  return f.value.trim();
}

function fractionField(f: { value: unknown; origin: string }, min: number, max: number): number {
  const v = typeof f.value === 'string' && f.value.trim() !== '' ? Number(f.value) : f.value;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw new ConfigError(`${f.origin} is ${describe(f.value)}; it must be a fraction from ${min} to ${max}, e.g. 0.01 for 1%`);
  }
  return v;
}

function intField(f: { value: unknown; origin: string }, min: number, max: number): number {
  const n = typeof f.value === 'string' && /^\s*-?\d+\s*$/.test(f.value) ? Number(f.value) : f.value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(`${f.origin} is ${describe(f.value)}; it must be a whole number from ${min} to ${max}`);
  }
  return n;
}

function urlField(f: { value: unknown; origin: string }, schemes: string[]): string {
  const raw = stringField(f);
  const parsed = parseUrl(raw);
  if (!parsed || !schemes.includes(parsed.scheme)) {
    throw new ConfigError(
      `${f.origin} is "${redactUrl(raw)}", which is not a valid ${schemes.map((s) => s + '//').join(' or ')} URL; use for example ${schemes[0]}//host:port${schemes[0]?.startsWith('ws') ? '/ws' : ''}`,
    );
  }
  return raw.replace(/\/+$/, '');
}

function describe(value: unknown): string {
  if (value === undefined) return 'missing';
  if (typeof value === 'string') return `"${value}"`;
  return JSON.stringify(value);
}

function isObject(v: unknown): v is Preset {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}
