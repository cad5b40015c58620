/**
 * Do the auth service and the backend agree on the JWT secret? A token the auth service issues must
 * open a connection; a token with the same claims signed with another secret must be refused. When
 * the first fails, the claims are compared with the configuration to tell a secret mismatch from an
 * issuer or audience mismatch.
 */
import type { Config } from '../config.ts';
import { describeHandshake, probeHandshake } from '../handshake.ts';
import { expect, uniqueUser } from '../observe.ts';
import { fetchToken, mintToken, peekClaims, randomSecret } from '../tokens.ts';

export async function checkJwtSynchronization(config: Config): Promise<void> {
  const userId = uniqueUser('jwt');
  let issued: string | undefined;
  let issueError = '';
  try {
    issued = fetchToken(config, userId).accessToken;
  } catch (e) {
    issueError = e instanceof Error ? e.message : String(e);
  }
  expect(issued !== undefined, 'auth service issues a token', () => issueError);
  if (issued === undefined) return;

  const accepted = probeHandshake(config, { token: issued, expectSuccess: true });
  expect(accepted.status === 101 && accepted.first?.['user_id'] === userId, 'backend accepts the auth service token', () => {
    const c = peekClaims(issued ?? '');
    const hint =
      c?.['iss'] !== config.issuer ? `issuer is "${String(c?.['iss'])}", expected "${config.issuer}"` :
      c?.['aud'] !== config.audience ? `audience is "${String(c?.['aud'])}", expected "${config.audience}"` :
      'claims match the configuration, so the backend verifies with a different secret';
    return `${describeHandshake(accepted)}; ${hint}`;
  });

  const forged = await mintToken(config, userId, { secret: randomSecret() });
  const refused = probeHandshake(config, { token: forged });
  expect(refused.status === 403, 'backend refuses a token signed with another secret (403)', () => describeHandshake(refused));
}
