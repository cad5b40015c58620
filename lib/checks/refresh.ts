/**
 * Do tokens refresh on long-lived connections? Short-lived tokens are minted (so this needs the
 * shared secret) and four things must hold: an expired token is refused at the handshake; a forged
 * in-band refresh is refused; a real in-band refresh keeps the connection past its first token's
 * expiry; an unrefreshed connection is closed with the documented code. The auth service's refresh
 * endpoint must also trade a refresh token once, and only once.
 */
import type { Config } from '../core/config.ts';
import { dialectFor } from '../dialect-for.ts';
import { describeHandshake, probeHandshake, refusedAsExpected } from '../handshake.ts';
import { expect, sleepMs, uniqueUser } from '../observe.ts';
import { Session } from '../session.ts';
import { fetchToken, mintToken, randomSecret, refreshAtAuthService } from '../tokens.ts';

/** How long an answer to refresh_token or ping may take. */
const ANSWER_MS = 3000;
/** How long past the first token's expiry the refreshed connection must still be alive. */
const OUTLIVE_MS = 1500;
/**
 * How late after expiry the server may close an unrefreshed connection. The server arms a timer for
 * `exp`; exp has whole-second resolution and the k6 and service clocks are the same machine's here,
 * but not against a remote deployment, hence two seconds more than the 1 s rounding.
 */
const CLOSE_GRACE_MS = 3000;

export async function checkTokenRefresh(config: Config): Promise<void> {
  const user = uniqueUser('refresh');

  const expired = await probeHandshake(config, { userId: user, token: await mintToken(config, user, { ttlS: -120 }) });
  expect(refusedAsExpected(config, expired, 403), 'an expired token is refused at the handshake', () => describeHandshake(expired));

  await Promise.all([refreshedConnection(config, `${user}-kept`), unrefreshedConnection(config, `${user}-lapsed`)]);
  // Only where an auth service issues tokens is there a refresh endpoint to test.
  if (dialectFor(config).capabilities.has('auth-service')) await authServiceRefresh(config, `${user}-auth`);
}

async function refreshedConnection(config: Config, user: string): Promise<void> {
  const open = async (): Promise<Session | undefined> => {
    const s = new Session(config, { userId: user, token: await mintToken(config, user, { ttlS: config.refreshTtlS }) });
    return expect(await s.opened(), 'connection with a short-lived token opens', () => `close ${s.closeInfo?.code ?? 'none'}`) ? s : undefined;
  };
  let s = await open();
  if (!s) return;
  const answer = (on: Session) => on.next((m) => m.kind === 'refreshed' || m.kind === 'refresh-refused' || m.kind === 'error', ANSWER_MS);
  s.send(s.codec.refresh(await mintToken(config, user, { secret: randomSecret(), ttlS: 600 })));
  const forged = await answer(s);
  expect(forged?.kind === 'refresh-refused' || (forged === undefined && s.state === 'closed'), 'a forged in-band refresh is refused', () =>
    forged ? `answered ${forged.label}` : 'no answer',
  );
  // A dialect that refuses a forged refresh by closing (Centrifugo: 3500) leaves nothing to refresh:
  // the real refresh gets a connection of its own.
  if (s.state !== 'open') {
    s = await open();
    if (!s) return;
  }
  const firstExpiry = s.established?.expiresAt ?? Date.now() + config.refreshTtlS * 1000;

  await sleepMs(Math.max(0, (firstExpiry - Date.now()) / 2));
  s.send(s.codec.refresh(await mintToken(config, user, { ttlS: 600 })));
  const real = await answer(s);
  expect(real?.kind === 'refreshed', 'an in-band refresh is accepted', () =>
    real ? `answered ${real.label}` : s.state === 'closed' ? `closed with ${s.closeInfo?.code}` : 'no answer',
  );

  await sleepMs(Math.max(0, firstExpiry + OUTLIVE_MS - Date.now()));
  const pong = await s.alive('refresh', ANSWER_MS);
  expect(pong, `a refreshed connection outlives its first token by ${OUTLIVE_MS} ms and is still alive`, () =>
    s.state === 'closed' ? `closed with ${s.closeInfo?.code} ${s.closeInfo?.reason ?? ''} at its first token's expiry`.trim() : 'open, no pong',
  );
  await s.closeAndWait();
}

async function unrefreshedConnection(config: Config, user: string): Promise<void> {
  const s = new Session(config, { userId: user, token: await mintToken(config, user, { ttlS: config.refreshTtlS }) });
  if (!expect(await s.opened(), 'connection with a short-lived token opens', () => `close ${s.closeInfo?.code ?? 'none'}`)) return;
  const expiry = s.established?.expiresAt ?? Date.now() + config.refreshTtlS * 1000;
  const expectedCode = dialectFor(config).tokenExpiredClose;
  const limit = expiry + CLOSE_GRACE_MS - Date.now();
  const closed = await Promise.race([s.closed(), sleepMs(limit).then(() => undefined)]);
  expect(
    closed !== undefined && (expectedCode === undefined || closed.code === expectedCode),
    `an unrefreshed connection is closed${expectedCode === undefined ? '' : ' with ' + expectedCode} within ${CLOSE_GRACE_MS} ms of its token's expiry`,
    () => (closed ? `closed with ${closed.code} ${closed.reason}`.trim() : `still open ${CLOSE_GRACE_MS} ms after expiry`),
  );
  await s.closeAndWait();
}

async function authServiceRefresh(config: Config, user: string): Promise<void> {
  let refreshToken: string | undefined;
  try {
    refreshToken = (await fetchToken(config, user)).refreshToken;
  } catch (e) {
    expect(false, 'auth service issues a refresh token', () => (e instanceof Error ? e.message : String(e)));
    return;
  }
  if (!expect(refreshToken !== undefined, 'auth service issues a refresh token', () => 'no refresh_token in the answer')) return;
  const first = await refreshAtAuthService(config, refreshToken ?? '');
  expect(first.status === 200 && first.token !== undefined, 'auth service trades a refresh token for a new access token (200)', () => `HTTP ${first.status}`);
  if (first.token) {
    const opened = await probeHandshake(config, { userId: user, token: first.token.accessToken, expectSuccess: true });
    expect(opened.accepted, 'the refreshed access token opens a connection', () => describeHandshake(opened));
  }
  const again = await refreshAtAuthService(config, refreshToken ?? '');
  expect(again.status === 401, 'a spent refresh token is refused (401)', () => `HTTP ${again.status}`);
}
