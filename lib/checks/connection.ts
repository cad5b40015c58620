/**
 * Can users connect? A valid token in each carrier the dialect has must be accepted (greeted as its
 * user); a missing token, a bad token and a foreign Origin must be refused: with exactly 401 / 403 /
 * 403 where the dialect refuses at the HTTP upgrade, in-band where it refuses after it (Centrifugo).
 * The positive controls run in the same iteration, so a dead endpoint cannot pass by refusing everything.
 */
import type { Config } from '../core/config.ts';
import { dialectFor } from '../dialect-for.ts';
import { describeHandshake, probeHandshake, refusedAsExpected } from '../handshake.ts';
import { expect, uniqueUser } from '../observe.ts';
import { Session } from '../session.ts';
import type { TokenProvider } from '../tokens.ts';

/** Connections of the sample opened at once: enough to be quick, few enough not to be a load test. */
const SAMPLE_BATCH = 50;

export async function checkWebsocketConnection(config: Config, tokens: TokenProvider): Promise<void> {
  const dialect = dialectFor(config);
  const cred = await tokens.credentialFor(uniqueUser('conn'));

  for (const carrier of dialect.carriers) {
    const r = await probeHandshake(config, { userId: cred.userId, token: cred.token, carrier, expectSuccess: true });
    expect(r.accepted, `valid token (${carrier}) is accepted and greeted as its user`, () => describeHandshake(r));
    if (carrier === 'subprotocol' && dialect.selectedSubprotocol) {
      expect(
        r.status !== 101 || r.protocol === dialect.selectedSubprotocol,
        `server selects the ${dialect.selectedSubprotocol} subprotocol, never echoing the token`,
        () => `selected ${r.protocol === '' ? 'none' : r.protocol.startsWith('jwt.') ? 'the jwt.<token> protocol' : 'another protocol'}`,
      );
    }
  }

  const how = (status: number): string => (dialect.capabilities.has('handshake-status') ? `with ${status}` : 'in-band');
  const missing = await probeHandshake(config, { userId: cred.userId, token: undefined });
  expect(refusedAsExpected(config, missing, 401), `missing token is refused ${how(401)}`, () => describeHandshake(missing));

  const garbage = await probeHandshake(config, { userId: cred.userId, token: 'not.a.valid-token' });
  expect(refusedAsExpected(config, garbage, 403), `malformed token is refused ${how(403)}`, () => describeHandshake(garbage));

  if (dialect.capabilities.has('origin-check')) {
    const foreignOrigin = await probeHandshake(config, { userId: cred.userId, token: cred.token, origin: 'https://attacker.invalid' });
    expect(refusedAsExpected(config, foreignOrigin, 403), `valid token from a foreign Origin is refused ${how(403)}`, () => describeHandshake(foreignOrigin));
  }
}

/** How long a sampled connection may take to answer its ping. */
const SAMPLE_PING_MS = 2000;

/**
 * The connection sample: `count` more users connect (each counted in wsgate_connection_success), in
 * batches, so that a fault hitting a small share of connections lands in the sample (lib/core/evidence.ts
 * says how small: count = what the environment's detection floor needs). Each connection is a check
 * of its own: it must be greeted as its own user and then still be alive (answer a ping where the
 * dialect has one), so a connection reset right after its greeting fails too; it is closed right after.
 */
export async function checkConnectionSample(config: Config, tokens: TokenProvider, count: number): Promise<void> {
  for (let start = 0; start < count; start += SAMPLE_BATCH) {
    const batch: Session[] = [];
    for (let i = start; i < Math.min(count, start + SAMPLE_BATCH); i++) {
      const cred = await tokens.credentialFor(`${uniqueUser('sample')}-c${i}`);
      batch.push(new Session(config, { userId: cred.userId, token: cred.token }));
    }
    const opened = await Promise.all(batch.map((s) => s.opened()));
    const alive = await Promise.all(batch.map((s, i) => (opened[i] ? s.alive(`sample-${start + i}`, SAMPLE_PING_MS) : Promise.resolve(false))));
    for (const [i, s] of batch.entries()) {
      expect(alive[i] === true, 'a sampled connection opens, is greeted as its user and stays alive', () => {
        if (opened[i]) return `user ${s.userId}: greeted, then ${s.closeInfo ? `closed with ${s.closeInfo.code} ${s.closeInfo.afterMs} ms later` : `no pong within ${SAMPLE_PING_MS} ms`}`;
        return `user ${s.userId}: ${s.refusedStatus !== undefined ? `refused with HTTP ${s.refusedStatus}` : (s.refusal ?? 'no greeting in time')}`;
      });
    }
    await Promise.all(batch.map((s) => s.closeAndWait()));
  }
}
