/**
 * Do idle connections survive the load balancer? A connection is held with no traffic at all for
 * the environment's hold time (longer than the proxy's idle timeout should be allowed to matter),
 * then must still be open and answer an application ping.
 */
import type { Config } from '../core/config.ts';
import { idleSurvival } from '../metrics.ts';
import { expect, sleepMs, uniqueUser } from '../observe.ts';
import { Session } from '../session.ts';
import type { TokenProvider } from '../tokens.ts';

/** How long the ping after the hold may take to come back. */
const PONG_TIMEOUT_MS = 5000;

export async function checkIdleSurvival(config: Config, tokens: TokenProvider, holdS: number = config.idleHoldS): Promise<void> {
  const cred = await tokens.credentialFor(uniqueUser('idle'));
  const session = new Session(config, { userId: cred.userId, token: cred.token });
  if (!expect(await session.opened(), 'connection opens before the idle hold', () => `close ${session.closeInfo?.code ?? 'none'}`)) {
    idleSurvival.add(false);
    return;
  }
  // A timer, not sleep(): sleep() would freeze this VU's event loop and the socket with it.
  await sleepMs(holdS * 1000);
  const alive = session.state === 'open';
  const answered = alive && (await session.alive(`idle-${Date.now()}`, PONG_TIMEOUT_MS));
  idleSurvival.add(alive && answered);
  expect(alive && answered, `connection idle for ${holdS} s is still open and alive`, () =>
    !alive
      ? `closed after ${((session.closeInfo?.afterMs ?? 0) / 1000).toFixed(1)} s idle with code ${session.closeInfo?.code}`
      : `open, but no pong within ${PONG_TIMEOUT_MS} ms`,
  );
  await session.closeAndWait();
}
