/**
 * Do the auth service and the backend agree on the JWT secret? A token the auth service issues must
 * open a connection; a token with the same claims signed with another secret must be refused. When
 * the first fails, the claims are compared with the configuration to tell a secret mismatch from an
 * issuer or audience mismatch.
 */
import type { Config } from '../core/config.ts';
import { describeHandshake, probeHandshake, refusedAsExpected } from '../handshake.ts';
import { expect, uniqueUser } from '../observe.ts';
import { fetchToken, mintToken, peekClaims, randomSecret } from '../tokens.ts';

/** `users` distinct users each get a token from the auth service, and each must be accepted. */
export async function checkJwtSynchronization(config: Config, users = 1): Promise<void> {
  let userId = '';
  for (let i = 0; i < users; i++) {
    userId = `${uniqueUser('jwt')}-u${i}`;
    let issued: string | undefined;
    let issueError = '';
    try {
      issued = (await fetchToken(config, userId)).accessToken;
    } catch (e) {
      issueError = e instanceof Error ? e.message : String(e);
    }
    if (!expect(issued !== undefined, 'auth service issues a token', () => issueError)) continue;
    const token = issued ?? '';
    const accepted = await probeHandshake(config, { userId, token, expectSuccess: true });
    expect(accepted.accepted, 'backend accepts the auth service token', () => {
      const c = peekClaims(token);
      const hint =
        c?.['iss'] !== config.issuer ? `issuer is "${String(c?.['iss'])}", expected "${config.issuer}"` :
        c?.['aud'] !== config.audience ? `audience is "${String(c?.['aud'])}", expected "${config.audience}"` :
        'claims match the configuration, so the backend verifies with a different secret';
      return `user ${userId}: ${describeHandshake(accepted)}; ${hint}`;
    });
  }

  const forged = await mintToken(config, userId, { secret: randomSecret() });
  const refused = await probeHandshake(config, { userId, token: forged });
  expect(refusedAsExpected(config, refused, 403), 'backend refuses a token signed with another secret', () => describeHandshake(refused));
}
