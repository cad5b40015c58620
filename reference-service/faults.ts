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

/** The rare faults that act on a whole agent run (each run rolls once per active one). */
export const RARE_RUN_FAULTS = ['rare_event_loss', 'rare_duplicate_event', 'rare_reorder', 'rare_mislabel', 'rare_late_run', 'rare_stop_midway'] as const;

/**
 * The rare family: each hits a fixed 3% of what it acts on (exactly one in every {@link RARE_PERIOD}
 * agent runs, connections or agent events, at a random place within each block of that many), above
 * validation's 1% detection floor, so a validation that misses one has a defect, not bad luck.
 */
export const RARE_FAULT_NAMES = [...RARE_RUN_FAULTS, 'rare_connection_reset', 'rare_message_loss'] as const;

/** One in this many trials is hit by a rare fault: 1/33, about 3%. */
export const RARE_PERIOD = 33;

/**
 * Breakages beyond the seven regressions that validation (`npm start`) must catch: the rare family, a
 * slow handshake, a duplicated final event, and a service that never reaps a client that vanished
 * without a packet (docs/protocol.md, "Faults"; the fault matrix's validation table).
 */
export const VALIDATION_FAULT_NAMES = [...RARE_FAULT_NAMES, 'slow_handshake', 'duplicate_final_event', 'no_reaping'] as const;

/**
 * Faults that are no regression: the service plays an adversary rather than a broken deployment, so
 * they stay out of the regression matrix. `hostile` echoes the token as the selected subprotocol and
 * puts tokens and secrets into error frames, close reasons and HTTP bodies (the test that nothing
 * wsgate prints or writes carries them: test/cli/secrets.e2e.test.ts).
 */
const ADVERSARY_FAULT_NAMES = ['hostile'] as const;

/** Every fault `--fault` and the admin endpoint accept: the seven regressions, validation's, then the adversaries. */
export const ALL_FAULT_NAMES = [...FAULT_NAMES, ...VALIDATION_FAULT_NAMES, ...ADVERSARY_FAULT_NAMES] as const;

export type FaultName = (typeof ALL_FAULT_NAMES)[number];

const FAULT_SET: ReadonlySet<string> = new Set(ALL_FAULT_NAMES);

/** True when `name` is one of {@link ALL_FAULT_NAMES}. */
export function isFaultName(name: string): name is FaultName {
  return FAULT_SET.has(name);
}
