/**
 * Is the service healthy, and does it count what we hold, and let go of what we close? Its health
 * reading (GET /health on the reference; the dialect says where) must say healthy; then, as deltas
 * against the count before: while this check holds N connections the count must rise by at least N,
 * and after it closes them the count must come back down within config.leakSettleMs. So a service that
 * keeps closed connections fails, and a busy one cannot pass by being busy. The count is global, so
 * this check runs in a time slot of its own (scenarios/deployment-validation.ts).
 *
 * With a drop relay (wsgate validate --embedded-target starts one), a few connections are then
 * black-holed, a client that vanishes without a packet, and the server must reap them within
 * its heartbeat timeout plus the margin (lib/checks/reaping.ts). That wait outlasts the time slot, so
 * it is judged by the relay's view of the server closing each one, not by the shared count. Without a
 * relay this part is not applicable.
 */
import { runtime } from '#runtime';
import { applicable, missing } from '../capabilities.ts';
import type { Config } from '../core/config.ts';
import { dialectFor } from '../dialect-for.ts';
import { expect, sleepMs, uniqueUser } from '../observe.ts';
import { Session } from '../session.ts';
import type { TokenProvider } from '../tokens.ts';
import { NOT_APPLICABLE } from '../core/summary.ts';
import { readHealth } from '../target-http.ts';
import { blackHole, judgeReaping } from './reaping.ts';
import type { BlackHoled } from './reaping.ts';

const POLL_MS = 100;

export async function checkHealth(config: Config, tokens: TokenProvider): Promise<void> {
  const stepStart = Date.now();
  // The counts first, while this check has the service to itself; the reaping wait then outlasts the slot.
  await checkCounts(config, tokens);
  let held: BlackHoled | undefined;
  if (applicable(config, ['drop-relay'])) held = await blackHole(config, tokens, 'reap', stepStart);
  else runtime.check(`${runtime.vu().scenario}: ${NOT_APPLICABLE}a client that vanishes without a packet is reaped (${missing(config, ['drop-relay']).join('; ')})`, true);
  if (held) await judgeReaping(config, held, stepStart);
}

/** Healthy, a version, and the count's deltas while this check holds connections and after it closes them. */
async function checkCounts(config: Config, tokens: TokenProvider): Promise<void> {
  const before = await readHealth(config);
  const h0 = before.health;
  expect(h0?.healthy === true, 'the health endpoint reports healthy', () => (h0 ? `status "${h0.status}"` : `HTTP ${before.status} ${before.error}`.trim()));
  expect(h0 !== undefined && h0.version !== '', 'the health endpoint reports a version', () => `version "${h0?.version ?? ''}"`);
  if (!dialectFor(config).capabilities.has('connection-count') || h0?.connections === undefined) return;
  const base = h0.connections;

  const sessions: Session[] = [];
  for (let i = 0; i < config.healthConnections; i++) {
    const cred = await tokens.credentialFor(uniqueUser(`health${i}`));
    sessions.push(new Session(config, { userId: cred.userId, token: cred.token }));
  }
  const opened = (await Promise.all(sessions.map((s) => s.opened()))).filter(Boolean).length;
  const during = (await readHealth(config)).health?.connections;
  expect(
    opened === sessions.length && during !== undefined && during - base >= opened,
    `the count rises by the ${sessions.length} connections this check holds`,
    () => `held ${opened} of ${sessions.length}; count went from ${base} to ${during ?? '?'}`,
  );

  await Promise.all(sessions.map((s) => s.closeAndWait()));
  const settleFrom = Date.now();
  let after = (await readHealth(config)).health?.connections;
  while (Date.now() - settleFrom < config.leakSettleMs && (after === undefined || after > base)) {
    await sleepMs(POLL_MS);
    after = (await readHealth(config)).health?.connections;
  }
  expect(after !== undefined && after <= base, `the count returns to where it was within ${config.leakSettleMs} ms of closing them`, () =>
    `count is ${after ?? '?'} ${Date.now() - settleFrom} ms after the close (before: ${base}, while held: ${during ?? '?'})`,
  );
}
