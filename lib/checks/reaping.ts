/**
 * Does the server reap a client that vanished without a packet? A phone that loses its network sends
 * no close frame and no FIN: its connection goes silent and stays open at the server until the
 * server's own heartbeat finds it dead. The drop relay plays that client: it black-holes connections
 * (forwards nothing either way, keeps both sockets open) and notes when the server closes its side.
 * The server must do so within its heartbeat timeout (config.heartbeatTimeoutMs) plus a margin
 * (config.reapMarginMs); the time it took goes to wsgate_reap_seconds. Timings are measured from the
 * start of the calling step, so the observations of one step read on one clock.
 *
 * The vanished client's user has a second device that stays online and in use: a healthy connection
 * opened first, not through the relay, that pings now and then (so no idle cut can take it). Reaping
 * must close only the silent connections; the sibling must still answer afterwards. (It also keeps the black hole from swallowing what others should see: a
 * message that wrongly lands on this user lands on the sibling first, where the isolation guard sees it.)
 *
 * Shared by the leak regression (which also requires the connection count to come back: it runs in a
 * time slot of its own) and validation's health check (which judges by the relay alone: the count is
 * shared with the scenarios running beside it).
 */
import { runtime } from '#runtime';
import type { Config } from '../core/config.ts';
import { reapSeconds } from '../metrics.ts';
import { expect, sleepMs, uniqueUser } from '../observe.ts';
import { Session } from '../session.ts';
import type { TokenProvider } from '../tokens.ts';
import { readHealth } from '../target-http.ts';

const POLL_MS = 100;
/** How often the sibling speaks while the black-holed connections wait to be reaped. */
const SIBLING_PING_MS = 1000;

/** What GET /blackholes says of one black-holed connection (cli/drop-relay-server.ts). */
interface BlackHole {
  held_ms: number;
  server_closed_after_ms: number | null;
  client_open: boolean;
}

/** Connections this step black-holed, and when (ms since the step started). */
export interface BlackHoled {
  sessions: Session[];
  /** The same user's healthy connection, which must outlive the reaping. */
  sibling: Session;
  atMs: number;
  count: number;
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

async function control(config: Config, method: 'GET' | 'POST', path: string): Promise<Record<string, unknown> | undefined> {
  const res = await runtime.http({ method, url: `${config.dropRelayControlUrl}${path}`, timeoutMs: 5000 });
  if (res.status !== 200) return undefined;
  try {
    return JSON.parse(res.body) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/**
 * Opens config.blackholeConnections connections through the drop relay and black-holes them (every
 * connection the relay still forwards: call it before routing anything else through the relay).
 * Undefined when they could not be opened or black-holed (a failed check says which).
 */
export async function blackHole(config: Config, tokens: TokenProvider, label: string, stepStart: number): Promise<BlackHoled | undefined> {
  const relayWs = config.dropRelayWsUrl;
  if (!relayWs || !config.dropRelayControlUrl) throw new Error('black-holing needs WSGATE_DROP_RELAY_WS_URL and WSGATE_DROP_RELAY_CONTROL_URL');
  const k = config.blackholeConnections;
  const viaRelay = { ...config, wsUrl: relayWs };
  const cred = await tokens.credentialFor(uniqueUser(label));
  // Not counted in wsgate_connection_success: these are the check's own props, not the sample.
  const user = { userId: cred.userId, token: cred.token, countsTowardSuccess: false };
  const sibling = new Session(config, user);
  const siblingOpened = await sibling.opened();
  const sessions: Session[] = [];
  for (let i = 0; i < k; i++) sessions.push(new Session(viaRelay, user));
  const opened = (await Promise.all(sessions.map((s) => s.opened()))).filter(Boolean).length;
  if (!expect(siblingOpened && opened === k, `a user's connection, then ${k} more of the same user through the drop relay to be black-holed, open`, () => `the first ${siblingOpened ? 'opened' : 'did not open'}; ${opened} of ${k} through the relay opened`)) {
    await Promise.all([sibling, ...sessions].map((s) => s.closeAndWait(1000)));
    return undefined;
  }
  const answer = await control(config, 'POST', '/blackhole');
  const atMs = Date.now() - stepStart;
  const count = Number(answer?.['blackholed'] ?? -1);
  if (!expect(count === k, `drop relay black-holes ${k} connections (both sockets kept open, nothing forwarded)`, () => (answer ? `black-holed ${count}` : 'the relay control did not answer POST /blackhole'))) {
    await release(config, sessions);
    await sibling.closeAndWait(1000);
    return undefined;
  }
  return { sessions, sibling, atMs, count };
}

/**
 * Waits until the server has closed every black-holed connection, and (with `baseline`, the count
 * before blackHole()) its count is back there but for the sibling, or until the heartbeat timeout
 * plus the margin has passed since the black-holing; one check says which, with the timings. Then the
 * sibling must still be alive; it is closed, and the black-holed ones released (their clients see 1006).
 */
export async function judgeReaping(config: Config, held: BlackHoled, stepStart: number, baseline?: { connections: number; users: number }): Promise<void> {
  const limitMs = config.heartbeatTimeoutMs + config.reapMarginMs;
  const deadline = stepStart + held.atMs + limitMs;
  const read = async (): Promise<{ holes: BlackHole[] | undefined; connections: number | undefined; users: number | undefined }> => {
    const answer = await control(config, 'GET', '/blackholes');
    const holes = Array.isArray(answer?.['connections']) ? (answer['connections'] as BlackHole[]) : undefined;
    const health = baseline ? (await readHealth(config)).health : undefined;
    return { holes, connections: health?.connections, users: health?.users };
  };
  // The sibling is still held: one connection, and its user, above the baseline.
  const settled = (r: Awaited<ReturnType<typeof read>>): boolean =>
    r.holes !== undefined &&
    r.holes.every((h) => h.server_closed_after_ms !== null) &&
    (!baseline || (r.connections !== undefined && r.connections <= baseline.connections + 1 && (r.users ?? 0) <= baseline.users + 1));
  let now = await read();
  let spoke = Date.now();
  while (Date.now() < deadline && !settled(now)) {
    await sleepMs(POLL_MS);
    if (Date.now() - spoke >= SIBLING_PING_MS) {
      spoke = Date.now();
      held.sibling.send(held.sibling.codec.ping(`sibling-${spoke}`));
    }
    now = await read();
  }
  const backAt = Date.now() - stepStart;
  const reaped = (now.holes ?? []).map((h) => h.server_closed_after_ms).filter((ms): ms is number => ms !== null);
  for (const ms of reaped) reapSeconds.add(ms / 1000);
  const stillOpen = (now.holes?.length ?? held.count) - reaped.length;
  const what = baseline ? ' and the connection count returns to its baseline' : '';
  expect(settled(now), `a client that vanishes without a packet is reaped within the heartbeat timeout of ${config.heartbeatTimeoutMs} ms + ${config.reapMarginMs} ms${what}`, () => {
    const parts = [`black-holed ${held.count} connection(s) ${seconds(held.atMs)} into the step`];
    if (now.holes === undefined) parts.push('the relay control did not answer GET /blackholes');
    else if (stillOpen > 0) parts.push(`${stillOpen} still open at the server ${seconds(backAt - held.atMs)} later (${seconds(backAt)} into the step)`);
    if (reaped.length > 0) parts.push(`${reaped.length} reaped after ${reaped.map(seconds).join(', ')}`);
    if (baseline) parts.push(`count is ${now.connections ?? '?'} (baseline ${baseline.connections} + the sibling), users ${now.users ?? '?'} (baseline ${baseline.users} + 1)`);
    return parts.join('; ');
  });
  const alive = await held.sibling.alive(`sibling-${Date.now()}`, 2000);
  expect(alive, "the vanished client's user keeps its other connection: reaping closes only the silent ones", () =>
    held.sibling.closeInfo ? `closed with ${held.sibling.closeInfo.code} ${seconds(held.sibling.closeInfo.afterMs)} after it opened` : 'open, but no pong within 2000 ms',
  );
  await held.sibling.closeAndWait(1000);
  await release(config, held.sessions);
}

/** Ends the black-holed connections at the relay: their clients see 1006 at once, no close handshake to wait for. */
async function release(config: Config, sessions: Session[]): Promise<void> {
  await control(config, 'POST', '/release');
  await Promise.all(sessions.map((s) => s.closeAndWait(1000)));
}
