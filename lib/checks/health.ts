/**
 * Is the service healthy, and does it count what we hold? GET /health must say "healthy", and while
 * this check holds N connections the service must report at least N (other clients may be
 * connected too, so "at least" is the honest comparison against a shared deployment).
 */
import { runtime } from '#runtime';
import type { Config } from '../config.ts';
import { expect, uniqueUser } from '../observe.ts';
import { PATHS, parseHealth } from '../protocol/chat.ts';
import type { Health } from '../protocol/chat.ts';
import { Session } from '../session.ts';
import type { TokenProvider } from '../tokens.ts';

export async function readHealth(config: Config): Promise<{ status: number; health: Health | undefined; error: string }> {
  const res = await runtime.http({ method: 'GET', url: config.httpUrl + PATHS.health, timeoutMs: 10_000 });
  return { status: res.status, health: res.status === 200 ? parseHealth(res.body) : undefined, error: res.error ?? '' };
}

export async function checkHealth(config: Config, tokens: TokenProvider): Promise<void> {
  const before = await readHealth(config);
  expect(before.health?.status === 'healthy', 'GET /health reports status "healthy"', () =>
    before.health ? `status "${before.health.status}"` : `HTTP ${before.status} ${before.error}`.trim(),
  );
  expect(before.health !== undefined && before.health.version !== '', 'GET /health reports a version', () => `version "${before.health?.version ?? ''}"`);

  const sessions: Session[] = [];
  for (let i = 0; i < config.healthConnections; i++) {
    const cred = await tokens.credentialFor(uniqueUser(`health${i}`));
    sessions.push(new Session(config, { userId: cred.userId, token: cred.token }));
  }
  const opened = (await Promise.all(sessions.map((s) => s.opened()))).filter(Boolean).length;
  const during = await readHealth(config);
  expect(
    during.health !== undefined && opened === sessions.length && during.health.active_connections >= opened && during.health.users >= 1,
    `GET /health counts the ${sessions.length} connections this check holds`,
    () => `held ${opened} of ${sessions.length}; service reports ${during.health?.active_connections ?? '?'} connections, ${during.health?.users ?? '?'} users`,
  );
  await Promise.all(sessions.map((s) => s.closeAndWait()));
}
