/**
 * Are closed connections cleaned up, and vanished ones reaped? With the service's connection count as
 * the baseline: first a few connections are black-holed at the drop relay (a client that vanishes
 * without a packet; lib/checks/reaping.ts); then N connections open, half close cleanly and the other
 * half are dropped without a close frame (through the relay: the engines always close cleanly), and
 * the count must return to where it was within config.leakSettleMs; finally the black-holed ones must
 * be reaped, the count back at the first baseline, within the heartbeat timeout plus the margin,
 * timed from the start of the step. The count is global, so this check must run while no other check
 * holds connections (the regression scenario gives it its own time slot).
 */
import { runtime } from '#runtime';
import type { Config } from '../core/config.ts';
import { expect, sleepMs, uniqueUser } from '../observe.ts';
import { Session } from '../session.ts';
import type { TokenProvider } from '../tokens.ts';
import { readHealth } from '../target-http.ts';
import { blackHole, judgeReaping } from './reaping.ts';

const POLL_MS = 100;

export async function checkConnectionLeak(config: Config, tokens: TokenProvider): Promise<void> {
  const stepStart = Date.now();
  const relayWs = config.dropRelayWsUrl;
  const control = config.dropRelayControlUrl;
  if (!relayWs || !control) throw new Error('connection_leak_regression needs WSGATE_DROP_RELAY_WS_URL and WSGATE_DROP_RELAY_CONTROL_URL');
  const first = (await readHealth(config)).health;
  expect(first !== undefined, 'GET /health reports a baseline connection count', () => 'no health answer');
  if (!first) return;
  // Black-holed first: their reaping takes a heartbeat timeout, and the closes and drops run meanwhile.
  const held = await blackHole(config, tokens, 'leak', stepStart);
  const base = held ? ((await readHealth(config)).health ?? first) : first;

  const n = config.leakConnections;
  const cleanCount = Math.floor(n / 2);
  const viaRelay = { ...config, wsUrl: relayWs };
  const sessions: Session[] = [];
  for (let i = 0; i < n; i++) {
    const cred = await tokens.credentialFor(`${uniqueUser('leak')}-c${i}`);
    sessions.push(new Session(i < cleanCount ? config : viaRelay, { userId: cred.userId, token: cred.token }));
  }
  const opened = (await Promise.all(sessions.map((s) => s.opened()))).filter(Boolean).length;
  const peak = (await readHealth(config)).health;
  expect(
    opened === n && (peak?.connections ?? 0) >= (base.connections ?? 0) + n,
    `service counts the ${n} connections opened`,
    () => `opened ${opened} of ${n}; count went from ${base.connections ?? '?'} to ${peak?.connections ?? '?'}`,
  );

  await Promise.all(sessions.slice(0, cleanCount).map((s) => s.closeAndWait()));
  const res = await runtime.http({ method: 'POST', url: `${control}/drop`, timeoutMs: 5000 });
  const dropped = res.status === 200 ? Number((JSON.parse(String(res.body)) as { dropped?: number }).dropped) : -1;
  expect(dropped === n - cleanCount, `drop relay cut ${n - cleanCount} connections without a close frame`, () =>
    res.status === 200 ? `dropped ${dropped}` : `relay control answered HTTP ${res.status} ${res.error}`,
  );

  const deadline = Date.now() + config.leakSettleMs;
  let now = (await readHealth(config)).health;
  while (Date.now() < deadline && (now === undefined || (now.connections ?? 0) > (base.connections ?? 0) || (now.users ?? 0) > (base.users ?? 0))) {
    await sleepMs(POLL_MS);
    now = (await readHealth(config)).health;
  }
  expect(
    now !== undefined && (now.connections ?? 0) <= (base.connections ?? 0) && (now.users ?? 0) <= (base.users ?? 0),
    `connection count returns to its baseline within ${config.leakSettleMs} ms of ${cleanCount} clean closes and ${n - cleanCount} drops`,
    () => `count is ${now?.connections ?? '?'} (baseline ${base.connections ?? '?'}, peak ${peak?.connections ?? '?'}), users ${now?.users ?? '?'} (baseline ${base.users ?? '?'})`,
  );

  if (held) await judgeReaping(config, held, stepStart, { connections: first.connections ?? 0, users: first.users ?? 0 });
}
