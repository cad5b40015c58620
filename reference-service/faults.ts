/**
 * The seven regressions the reference service can play (docs/protocol.md, "Faults"). The names are a
 * contract with the CLI flag `--fault` and with the k6 side's expectations table.
 */
export const FAULT_NAMES = [
  'handshake_403',
  'jwt_secret_desync',
  'idle_timeout',
  'isolation_leak',
  'missing_agent_events',
  'connection_leak',
  'token_refresh_broken',
] as const;

export type FaultName = (typeof FAULT_NAMES)[number];

const FAULT_SET: ReadonlySet<string> = new Set(FAULT_NAMES);

/** True when `name` is one of {@link FAULT_NAMES}. */
export function isFaultName(name: string): name is FaultName {
  return FAULT_SET.has(name);
}
