/**
 * The seven staging failures that must never come back, by the original design's names, and which
 * of them a run selects. Pure module: the CLI validates --test and --critical-only with it before
 * starting k6, and the scenario builds its options from the same selection.
 */
import type { Need } from './needs.ts';
import { ConfigError } from './errors.ts';

export interface Regression {
  name: string;
  critical: boolean;
  /** What failed in staging, in one line. */
  guards: string;
  /**
   * How the reference environment reproduces the failure: a `--fault` of the reference service, or
   * `nginx:broken` for the load balancer config with a short idle timeout. The fault matrix proves
   * each regression test fails against its own fault.
   */
  reproducedBy: string[];
  /** What the test needs (lib/capabilities.ts); without it the test is "not applicable". */
  needs: Need[];
}

export const REGRESSIONS: readonly Regression[] = [
  { name: 'jwt_secret_synchronization_regression', critical: true, guards: 'auth service and backend signed and verified with different secrets', reproducedBy: ['jwt_secret_desync'], needs: ['auth-service'] },
  { name: 'websocket_403_handshake_regression', critical: true, guards: 'valid tokens were refused with HTTP 403 at the handshake', reproducedBy: ['handshake_403'], needs: [] },
  { name: 'load_balancer_timeout_regression', critical: true, guards: "the load balancer's idle timeout cut idle chat connections", reproducedBy: ['idle_timeout', 'nginx:broken'], needs: [] },
  // Direct messages and rooms join the traffic where the dialect has them (lib/checks/isolation.ts).
  { name: 'multi_user_isolation_regression', critical: true, guards: "users received other users' events", reproducedBy: ['isolation_leak'], needs: ['agent-runs'] },
  { name: 'agent_events_missing_regression', critical: true, guards: 'agent runs skipped some of their five events', reproducedBy: ['missing_agent_events'], needs: ['agent-runs'] },
  { name: 'connection_leak_regression', critical: false, guards: 'closed connections stayed counted and held resources, and clients that vanished were never reaped', reproducedBy: ['connection_leak', 'no_reaping'], needs: ['connection-count', 'drop-relay'] },
  { name: 'auth_token_refresh_regression', critical: false, guards: 'long-lived connections died when their token expired despite refreshing', reproducedBy: ['token_refresh_broken'], needs: ['jwt-secret', 'in-band-refresh', 'expiry-close'] },
];

export const REGRESSION_NAMES = REGRESSIONS.map((r) => r.name);

/**
 * The regressions a run covers: WSGATE_TESTS (comma-separated names) or all, narrowed to the
 * critical ones by WSGATE_CRITICAL_ONLY=true. Keeps the catalogue's order.
 */
export function selectRegressions(vars: Readonly<Record<string, string | undefined>>): Regression[] {
  const raw = (vars['WSGATE_TESTS'] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = raw.filter((n) => !REGRESSION_NAMES.includes(n));
  if (unknown.length > 0) {
    throw new ConfigError(
      `unknown regression test${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => `"${u}"`).join(', ')}; valid names are ${REGRESSION_NAMES.join(', ')}`,
    );
  }
  const criticalOnly = parseBool(vars['WSGATE_CRITICAL_ONLY'], 'WSGATE_CRITICAL_ONLY');
  const picked = REGRESSIONS.filter((r) => (raw.length === 0 || raw.includes(r.name)) && (!criticalOnly || r.critical));
  if (picked.length === 0) {
    throw new ConfigError(`the selection ${raw.join(',')} with --critical-only leaves no test to run; drop --critical-only or pick a critical test`);
  }
  return picked;
}

function parseBool(v: string | undefined, name: string): boolean {
  if (v === undefined || v === '' || v === 'false' || v === '0') return false;
  if (v === 'true' || v === '1') return true;
  throw new ConfigError(`${name} is "${v}"; it must be true or false`);
}
