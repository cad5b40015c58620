/**
 * Can users connect? Valid tokens by header and by subprotocol must get 101 and a greeting for their
 * user; a missing token must get exactly 401, a bad token and a foreign Origin exactly 403. The
 * positive controls run in the same iteration, so a dead endpoint cannot pass by refusing everything.
 */
import type { Config } from '../config.ts';
import { describeHandshake, probeHandshake } from '../handshake.ts';
import { expect, uniqueUser } from '../observe.ts';
import { CHAT_SUBPROTOCOL } from '../protocol/chat.ts';
import { Session } from '../session.ts';
import type { TokenProvider } from '../tokens.ts';

/** Connections of the sample opened at once: enough to be quick, few enough not to be a load test. */
const SAMPLE_BATCH = 50;

export async function checkWebsocketConnection(config: Config, tokens: TokenProvider): Promise<void> {
  const cred = await tokens.credentialFor(uniqueUser('conn'));

  const byHeader = await probeHandshake(config, { token: cred.token, carrier: 'header', expectSuccess: true });
  expect(
    byHeader.status === 101 && byHeader.first?.type === 'connection_established' && byHeader.first['user_id'] === cred.userId,
    'valid token in Authorization header is accepted (101 + connection_established)',
    () => describeHandshake(byHeader),
  );

  const bySubprotocol = await probeHandshake(config, { token: cred.token, carrier: 'subprotocol', expectSuccess: true });
  expect(
    bySubprotocol.status === 101 && bySubprotocol.first?.type === 'connection_established',
    'valid token as jwt.<token> subprotocol is accepted (101 + connection_established)',
    () => describeHandshake(bySubprotocol),
  );
  expect(
    bySubprotocol.status !== 101 || bySubprotocol.protocol === CHAT_SUBPROTOCOL,
    `server selects the ${CHAT_SUBPROTOCOL} subprotocol, never echoing the token`,
    () => `selected ${bySubprotocol.protocol === undefined ? 'none' : bySubprotocol.protocol.startsWith('jwt.') ? 'the jwt.<token> protocol' : bySubprotocol.protocol}`,
  );

  const missing = await probeHandshake(config, { token: undefined });
  expect(missing.status === 401, 'missing token is refused with 401', () => describeHandshake(missing));

  const garbage = await probeHandshake(config, { token: 'not.a.valid-token' });
  expect(garbage.status === 403, 'malformed token is refused with 403', () => describeHandshake(garbage));

  const foreignOrigin = await probeHandshake(config, { token: cred.token, origin: 'https://attacker.invalid' });
  expect(foreignOrigin.status === 403, 'valid token from a foreign Origin is refused with 403', () => describeHandshake(foreignOrigin));
}

/**
 * The connection sample: `count` more users connect (each counted in wsgate_connection_success), in
 * batches, so that a fault hitting a small share of handshakes lands in the sample (lib/evidence.ts
 * says how small: count = what the environment's detection floor needs). Each connection must get its
 * greeting for its own user; it is closed right after.
 */
export async function checkConnectionSample(config: Config, tokens: TokenProvider, count: number): Promise<void> {
  let failed = 0;
  let first = '';
  for (let start = 0; start < count; start += SAMPLE_BATCH) {
    const batch: Session[] = [];
    for (let i = start; i < Math.min(count, start + SAMPLE_BATCH); i++) {
      const cred = await tokens.credentialFor(`${uniqueUser('sample')}-c${i}`);
      batch.push(new Session(config, { userId: cred.userId, token: cred.token }));
    }
    const opened = await Promise.all(batch.map((s) => s.opened()));
    for (const [i, ok] of opened.entries()) {
      if (ok) continue;
      failed++;
      const s = batch[i];
      first ||= s?.refusedStatus !== undefined ? `refused with HTTP ${s.refusedStatus}` : s?.closeInfo ? `closed with ${s.closeInfo.code} before its greeting` : 'no greeting in time';
    }
    await Promise.all(batch.map((s) => s.closeAndWait()));
  }
  expect(failed === 0, `every one of ${count} sampled connections opens and gets its greeting`, () => `${failed} of ${count} failed; first: ${first}`);
}
