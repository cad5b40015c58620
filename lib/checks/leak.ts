/**
 * Are closed connections cleaned up? With the service's connection count as the baseline, open N
 * connections, close half cleanly and drop the other half without a close frame (through the drop
 * relay: k6 itself always closes cleanly), and require the count to return to the baseline within
 * config.leakSettleMs. The count is global, so this check must run while no other check holds
 * connections (the regression scenario gives it its own time slot).
 */
import { runtime } from '#runtime';
import type { Config } from '../config.ts';
import { expect, sleepMs, uniqueUser } from '../observe.ts';
import { Session } from '../session.ts';
import type { TokenProvider } from '../tokens.ts';
import { readHealth } from '../target-http.ts';

const POLL_MS = 100;

export async function checkConnectionLeak(config: Config, tokens: TokenProvider): Promise<void> {
  const relayWs = config.dropRelayWsUrl;
  const control = config.dropRelayControlUrl;
  if (!relayWs || !control) throw new Error('connection_leak_regression needs WSGATE_DROP_RELAY_WS_URL and WSGATE_DROP_RELAY_CONTROL_URL');
  const base = (await readHealth(config)).health;
  expect(base !== undefined, 'GET /health reports a baseline connection count', () => 'no health answer');
  if (!base) return;

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
}
