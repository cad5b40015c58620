/**
 * The dialect conformance suite: ONE suite, run against every dialect with a real server behind it
 * (crossws runs one suite per adapter). Sessions run in this process on wsgate's engine runtime, as
 * they do in a worker: the engine host is installed first, then the lib modules are loaded.
 *
 * Per dialect, every capability it claims is exercised against its server; a capability it does not
 * claim is skipped with the reason (never passed). What no dialect may lack: being greeted as the
 * user the token names, refusing a bad or missing token in its own way, and decoding every message of
 * a frame. Where a negative control is cheap, the suite also shows that the property it judges can
 * fail: a leaking server is seen leaking, an unanswered heartbeat closes the connection.
 *
 * Adding a dialect is one entry in DIALECTS: how to start its server and point wsgate at it.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { centrifugo as centrifugoDialect } from '../../lib/dialects/centrifugo.ts';
import type { Capability, Dialect, DialectName, Inbound } from '../../lib/dialects/dialect.ts';
import { AGENT_EVENTS } from '../../lib/dialects/dialect.ts';
import { jsonDialectFromFile } from '../../lib/dialects/json.ts';
import { wsgateChat } from '../../lib/dialects/wsgate-chat.ts';
import { startTarget } from '../../reference-service/service.ts';
import { CentrifugoError, findCentrifugo } from '../../third-party/centrifugo/binary.ts';
import { STACK_DEFAULTS, startCentrifugoStack } from '../../third-party/centrifugo/stack.ts';
import { installEngineHost } from '../helpers/engine-host.ts';

// ---- the engine host, before any lib module that records metrics is loaded ----------------------

const { asVu } = installEngineHost();
const { loadConfig } = await import('../../lib/core/config.ts');
type Config = import('../../lib/core/config.ts').Config;
const { Session } = await import('../../lib/session.ts');
type SessionT = import('../../lib/session.ts').Session;
const { probeHandshake, refusedAsExpected, describeHandshake } = await import('../../lib/handshake.ts');
const { readHealth } = await import('../../lib/target-http.ts');
const { RunTracker } = await import('../../lib/core/runs.ts');
const { fetchToken, mintToken, randomSecret } = await import('../../lib/tokens.ts');
const { NEEDS_TEXT } = await import('../../lib/core/needs.ts');
const { dialectFor } = await import('../../lib/dialect-for.ts');

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const CHAT_DESCRIPTION = join(REPO, 'docs/dialects/wsgate-chat.json');
const ORIGIN = 'http://localhost';

// ---- the dialects and their servers ----------------------------------------------------------------

/** A running server, and the WSGATE_* variables that point wsgate at it (secrets included). */
interface Served {
  vars: Record<string, string>;
  /** The server pings and closes a client that does not answer: its ping interval, in ms. */
  serverPingMs?: number;
  /** Makes the server leak events of other users to `victim`'s connections; returns the undo. */
  leakTo?(victim: string): () => void;
  close(): Promise<void>;
}

interface Entry {
  name: DialectName;
  /** Its server, in words. */
  server: string;
  /** The dialect as wsgate builds it (capabilities are read before any server starts). */
  dialect: Dialect;
  /** Why this entry's server cannot run here (a missing binary); undefined when it can. Skipped with it, except in CI, where it fails. */
  unavailable: string | undefined;
  start(): Promise<Served>;
  /** How the server packs several messages into one frame; undefined: one message per frame. */
  batch?: (messages: string[]) => string;
  /** What the dialect's in-band refusals say (close codes, error codes), where it refuses in-band. */
  refusals?: { missing: RegExp; bad: RegExp; expired: RegExp };
}

const SECRET = 'conformance-secret-0123456789abcdef-0123';

/** The reference service with one shared secret, spoken to in `dialect` (wsgate-chat, or json described as wsgate-chat). */
function referenceService(extra: Record<string, string>): () => Promise<Served> {
  return async () => {
    const target = await startTarget({
      host: '127.0.0.1',
      authSecret: SECRET,
      backendSecret: SECRET,
      issuer: 'wsgate-reference-auth',
      audience: 'wsgate-reference-chat',
      allowedOrigins: [ORIGIN],
      faults: [],
    });
    return {
      vars: { WSGATE_WS_URL: target.wsUrl, WSGATE_HTTP_URL: target.httpUrl, WSGATE_AUTH_URL: target.authUrl, WSGATE_JWT_SECRET: SECRET, ...extra },
      leakTo: () => {
        // isolation_leak sends every third agent event to the first connection of another user.
        target.setFault('isolation_leak', true);
        return () => target.setFault('isolation_leak', false);
      },
      close: () => target.close(),
    };
  };
}

const centrifugoMissing = await findCentrifugo().then(
  () => undefined,
  (err: unknown) => (err instanceof CentrifugoError ? err.message : String(err)),
);

/** Centrifugo v6.9.1 with the agent driver behind its RPC proxy (third-party/centrifugo/stack.ts): quick pings and expiry closes. */
async function centrifugoServer(): Promise<Served> {
  const stack = await startCentrifugoStack({ origin: ORIGIN, logFile: process.env['WSGATE_CENTRIFUGO_LOG'] });
  return {
    vars: stack.vars,
    serverPingMs: STACK_DEFAULTS.pingIntervalMs,
    leakTo: (victim) => {
      // The backend publishes every run into the victim's personal channel.
      stack.driver.setFault({ kind: 'misroute', toUser: victim });
      return () => stack.driver.setFault({ kind: 'none' });
    },
    close: () => stack.close(),
  };
}

const DIALECTS: Entry[] = [
  { name: 'wsgate-chat', server: 'the reference service', dialect: wsgateChat, unavailable: undefined, start: referenceService({ WSGATE_DIALECT: 'wsgate-chat' }) },
  {
    name: 'json',
    server: 'the reference service, described by docs/dialects/wsgate-chat.json',
    dialect: jsonDialectFromFile(CHAT_DESCRIPTION, (p) => readFileSync(p, 'utf8')),
    unavailable: undefined,
    start: referenceService({ WSGATE_DIALECT: 'json', WSGATE_DIALECT_FILE: CHAT_DESCRIPTION }),
  },
  {
    name: 'centrifugo',
    server: 'Centrifugo v6.9.1 with the agent driver',
    dialect: centrifugoDialect,
    // The sentence says how to build the binary.
    unavailable: centrifugoMissing,
    start: centrifugoServer,
    batch: (messages) => messages.join('\n'),
    refusals: { missing: /closed with 3501 bad request/, bad: /closed with 3500 invalid token/, expired: /error 109 token expired/ },
  },
];

// ---- helpers ---------------------------------------------------------------------------------------

let users = 0;
const user = (label: string): string => `conf-${label}-${process.pid}-${++users}`;

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The reason a capability is not exercised: the same words `wsgate validate` prints. */
const notClaimed = (e: Entry, c: Capability): string | false => (e.dialect.capabilities.has(c) ? false : `not claimed: the ${e.name} dialect has no ${NEEDS_TEXT[c]}`);

async function connect(config: Config, userId: string, opts: { ttlS?: number } = {}): Promise<SessionT> {
  const s = new Session(config, { userId, token: await mintToken(config, userId, opts.ttlS === undefined ? {} : { ttlS: opts.ttlS }) });
  assert.equal(await s.opened(), true, `${userId} is greeted (${s.refusal ?? (s.refusedStatus !== undefined ? 'HTTP ' + s.refusedStatus : 'no greeting')})`);
  return s;
}

/** Every frame `s` receives from now on, as received (the codec's decode is wrapped). */
function recordFrames(s: SessionT): string[] {
  const frames: string[] = [];
  const codec = s.codec as { decode(frame: string, replies: string[]): Inbound[] };
  const decode = codec.decode.bind(codec);
  codec.decode = (frame, replies) => {
    frames.push(frame);
    return decode(frame, replies);
  };
  return frames;
}

/** Starts `n` agent runs on `s` and returns each run's events once all completed (or `ms` passed). */
async function agentRuns(s: SessionT, n: number, opts: { ms?: number; send?: (frames: string[]) => void } = {}): Promise<InstanceType<typeof RunTracker>[]> {
  const trackers = Array.from({ length: n }, (_, i) => new RunTracker(s.userId, `${s.userId}-run${i}-${Date.now()}`));
  const byRef = new Map(trackers.map((t) => [t.runRef, t]));
  let done = 0;
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((r) => (finish = r));
  s.onMessage((m) => {
    if (m.kind !== 'agent-event') return;
    const t = byRef.get(m.event.runRef);
    t?.add(m.event);
    if (t && m.event.type === 'agent_completed' && ++done === n) finish();
  });
  const frames = trackers.map((t, i) => s.codec.startRun(t.runRef, `${s.userId}-t${i}`, 'conformance'));
  if (opts.send) opts.send(frames);
  else for (const f of frames) s.send(f);
  await Promise.race([finished, delay(opts.ms ?? 5000)]);
  // Stay a little longer: a duplicate or a late event after agent_completed must be seen.
  await delay(150);
  return trackers;
}

function assertComplete(trackers: readonly InstanceType<typeof RunTracker>[]): void {
  for (const t of trackers) {
    const v = t.verdict();
    assert.ok(v.complete, `run of ${t.runRef}: ${v.problems.join('; ')}`);
    assert.deepEqual(t.events.map((e) => e.type), [...AGENT_EVENTS]);
  }
}

// ---- the suite -------------------------------------------------------------------------------------

for (const entry of DIALECTS) {
  const skip = entry.unavailable !== undefined && process.env['CI'] !== 'true' ? entry.unavailable : false;
  describe(`${entry.name} dialect against ${entry.server}`, { skip, timeout: 120_000 }, () => {
    let served: Served;
    let config: Config;
    before(async () => {
      if (entry.unavailable !== undefined) throw new Error(entry.unavailable);
      served = await entry.start();
      config = loadConfig({ WSGATE_ENV: 'local', WSGATE_ORIGIN: ORIGIN, ...served.vars });
      assert.equal(dialectFor(config).name, entry.name);
      assert.deepEqual([...dialectFor(config).capabilities].sort(), [...entry.dialect.capabilities].sort(), 'the suite reads the capabilities wsgate will use');
    });
    after(() => served?.close());

    test('a valid token in each carrier connects, greeted as the user the token names', () =>
      asVu(async () => {
        for (const carrier of entry.dialect.carriers) {
          const u = user('greet');
          const r = await probeHandshake(config, { userId: u, token: await mintToken(config, u), carrier });
          assert.equal(r.accepted, true, `${carrier}: ${describeHandshake(r)}`);
          if (r.greetedAs !== undefined) assert.equal(r.greetedAs, u, `${carrier}: the greeting names the token's user`);
        }
      }));

    test('a missing, a malformed, a forged and an expired token are refused the way the dialect refuses', () =>
      asVu(async () => {
        const u = user('refused');
        const cases = {
          missing: await probeHandshake(config, { userId: u, token: undefined }),
          bad: await probeHandshake(config, { userId: u, token: 'not.a.valid-token' }),
          forged: await probeHandshake(config, { userId: u, token: await mintToken(config, u, { secret: randomSecret() }) }),
          expired: await probeHandshake(config, { userId: u, token: await mintToken(config, u, { ttlS: -120 }) }),
        };
        assert.ok(refusedAsExpected(config, cases.missing, 401), `missing: ${describeHandshake(cases.missing)}`);
        for (const [what, r] of Object.entries(cases)) {
          assert.equal(r.accepted, false, `${what}: ${describeHandshake(r)}`);
          if (what !== 'missing') assert.ok(refusedAsExpected(config, r, 403), `${what}: ${describeHandshake(r)}`);
        }
        if (entry.dialect.capabilities.has('handshake-status')) {
          assert.deepEqual([cases.missing.status, cases.bad.status, cases.forged.status, cases.expired.status], [401, 403, 403, 403]);
        } else {
          // In-band: the upgrade completes, then the server says no, in its own words.
          for (const [what, r] of Object.entries(cases)) assert.equal(r.status, 101, `${what}: ${describeHandshake(r)}`);
          if (entry.refusals) {
            assert.match(describeHandshake(cases.missing), entry.refusals.missing);
            assert.match(describeHandshake(cases.bad), entry.refusals.bad);
            assert.match(describeHandshake(cases.forged), entry.refusals.bad);
            assert.match(describeHandshake(cases.expired), entry.refusals.expired);
          }
        }
      }));

    test('origin-check: a foreign Origin is refused at the handshake, the configured one accepted', { skip: notClaimed(entry, 'origin-check') }, () =>
      asVu(async () => {
        const u = user('origin');
        const token = await mintToken(config, u);
        const foreign = await probeHandshake(config, { userId: u, token, origin: 'https://attacker.invalid' });
        assert.equal(foreign.status, 403, describeHandshake(foreign));
        assert.ok(refusedAsExpected(config, foreign, 403));
        const own = await probeHandshake(config, { userId: u, token, origin: ORIGIN });
        assert.equal(own.accepted, true, describeHandshake(own));
      }));

    test('agent-runs: three runs at once each deliver their five events, in order, to their user', { skip: notClaimed(entry, 'agent-runs') }, () =>
      asVu(async () => {
        const s = await connect(config, user('agent'));
        assertComplete(await agentRuns(s, 3));
        await s.closeAndWait();
      }));

    test('a frame with several messages decodes to every one of them, in order', { skip: entry.batch ? false : `the ${entry.name} protocol sends one message per frame` }, () =>
      asVu(async () => {
        const batch = entry.batch;
        assert.ok(batch);
        const s = await connect(config, user('frames'));
        const frames = recordFrames(s);
        const live: string[] = [];
        s.onMessage((m) => m.kind === 'agent-event' && live.push(`${m.event.runRef} ${m.event.type}`));
        // Two runs started by one frame: the server reads both commands.
        assertComplete(await agentRuns(s, 2, { send: (cmds) => s.send(batch(cmds)) }));
        // Everything the server sent meanwhile, packed into one frame, decodes to the same events in the same order.
        const replies: string[] = [];
        const decoded = entry.dialect.codec(s.userId).decode(batch(frames), replies);
        assert.equal(live.length, 10);
        assert.deepEqual(decoded.filter((m) => m.kind === 'agent-event').map((m) => (m.kind === 'agent-event' ? `${m.event.runRef} ${m.event.type}` : '')), live);
        await s.closeAndWait();
      }));

    test('heartbeats: the connection is kept alive (an application ping answered, or the server\'s pings answered exactly once)', () =>
      asVu(async () => {
        const s = await connect(config, user('beat'));
        if (entry.dialect.capabilities.has('app-ping')) {
          assert.equal(await s.alive('conformance', 3000), true, 'the server answers the ping');
        } else {
          assert.ok(served.serverPingMs, `the ${entry.name} dialect has neither an application ping nor server pings to answer`);
          // Several pings later the connection is still open: each was answered (none is 3012, one too many is 3501).
          await delay(served.serverPingMs * 3);
          assert.equal(s.state, 'open', `closed with ${s.closeInfo?.code} ${s.closeInfo?.reason}`);
          assert.equal(await s.alive('conformance', 1000), true);
          // The control: a connection that stops answering is closed by the server.
          const mute = await connect(config, user('mute'));
          const codec = mute.codec as { decode(frame: string, replies: string[]): Inbound[] };
          const decode = codec.decode.bind(codec);
          codec.decode = (frame, replies) => decode(frame, []);
          const closed = await Promise.race([mute.closed(), delay(served.serverPingMs * 3).then(() => undefined)]);
          assert.ok(closed, 'a client that does not answer pings is closed');
          assert.notEqual(closed.code, 1000);
        }
        await s.closeAndWait();
      }));

    test('isolation: one user\'s agent runs reach nobody else (and a leaking server is seen leaking)', { skip: notClaimed(entry, 'agent-runs') }, () =>
      asVu(async () => {
        const a = await connect(config, user('iso-a'));
        const b = await connect(config, user('iso-b'));
        assertComplete(await agentRuns(b, 2));
        await delay(200);
        assert.deepEqual(a.foreign.map((m) => m.label), [], 'a received nothing of b');
        assert.deepEqual(b.foreign.map((m) => m.label), []);
        if (served.leakTo) {
          const undo = served.leakTo(a.userId);
          try {
            await agentRuns(b, 2, { ms: 1500 });
            await delay(200);
          } finally {
            undo();
          }
          assert.ok(a.foreign.length > 0, 'the session guard sees events of b arrive at a');
          assert.equal(a.foreign[0]?.owner, b.userId);
        }
        await Promise.all([a.closeAndWait(), b.closeAndWait()]);
      }));

    test("personal-channel-guard: asking for another user's personal stream is refused, and nothing of it arrives", { skip: notClaimed(entry, 'personal-channel-guard') }, () =>
      asVu(async () => {
        const a = await connect(config, user('guard-a'));
        const b = await connect(config, user('guard-b'));
        const ask = a.codec.subscribeUser(b.userId);
        assert.ok(ask !== undefined, 'the dialect can ask for a stream');
        const answer = a.next((m) => m.kind === 'subscribe-refused' || m.kind === 'subscribed', 3000);
        a.send(ask);
        const got = await answer;
        assert.equal(got?.kind, 'subscribe-refused', got?.label ?? 'no answer');
        assert.equal(a.state, 'open', 'a refusal leaves the connection open');
        assertComplete(await agentRuns(b, 2));
        await delay(200);
        assert.deepEqual(a.foreign.map((m) => m.label), []);
        await Promise.all([a.closeAndWait(), b.closeAndWait()]);
      }));

    test('in-band-refresh: a new token over the open connection is accepted, a forged one refused', { skip: notClaimed(entry, 'in-band-refresh') }, () =>
      asVu(async () => {
        const u = user('refresh');
        const s = await connect(config, u, { ttlS: 600 });
        const answer = () => s.next((m) => m.kind === 'refreshed' || m.kind === 'refresh-refused' || m.kind === 'error', 3000);
        s.send(s.codec.refresh(await mintToken(config, u, { ttlS: 900 })));
        const real = await answer();
        assert.equal(real?.kind, 'refreshed', real?.label ?? 'no answer');
        if (real?.kind === 'refreshed' && real.expiresAt !== undefined) assert.ok(Math.abs(real.expiresAt - (Date.now() + 900_000)) < 3000, 'the new expiry is the new token\'s');
        s.send(s.codec.refresh(await mintToken(config, u, { secret: randomSecret(), ttlS: 900 })));
        const forged = await answer();
        assert.ok(forged?.kind === 'refresh-refused' || (forged === undefined && s.state === 'closed'), forged?.label ?? `state ${s.state}`);
        await s.closeAndWait();
      }));

    test("expiry-close: an unrefreshed connection is closed with the dialect's code soon after its token expires", { skip: notClaimed(entry, 'expiry-close') }, () =>
      asVu(async () => {
        const s = await connect(config, user('expiry'), { ttlS: 2 });
        const expiry = s.established?.expiresAt ?? Date.now() + 2000;
        const closed = await Promise.race([s.closed(), delay(expiry + 3000 - Date.now()).then(() => undefined)]);
        assert.ok(closed, 'closed within 3 s of the expiry');
        if (entry.dialect.tokenExpiredClose !== undefined) assert.equal(closed.code, entry.dialect.tokenExpiredClose, closed.reason);
        assert.ok(Date.now() >= expiry - 1000, 'not before the token expired');
      }));

    test('health: the health reading says healthy and names a version', { skip: notClaimed(entry, 'health') }, () =>
      asVu(async () => {
        const r = await readHealth(config);
        assert.equal(r.health?.healthy, true, `HTTP ${r.status} ${r.error}`);
        assert.notEqual(r.health?.version, '');
      }));

    test('connection-count: the count rises by the connections held and falls when they close', { skip: notClaimed(entry, 'connection-count') }, () =>
      asVu(async () => {
        const count = async () => (await readHealth(config)).health?.connections;
        const base = await count();
        assert.equal(typeof base, 'number');
        const held = await Promise.all([1, 2, 3].map(() => connect(config, user('count'))));
        const during = await count();
        assert.ok(during !== undefined && base !== undefined && during - base >= 3, `count went from ${base} to ${during} holding 3`);
        await Promise.all(held.map((s) => s.closeAndWait()));
        const until = Date.now() + 3000;
        let now = await count();
        while ((now === undefined || (base !== undefined && now > base)) && Date.now() < until) {
          await delay(50);
          now = await count();
        }
        assert.ok(now !== undefined && base !== undefined && now <= base, `count is ${now} after the closes (before: ${base})`);
      }));

    test('direct-messages: a message to another user reaches that user, from its sender', { skip: notClaimed(entry, 'direct-messages') }, () =>
      asVu(async () => {
        const a = await connect(config, user('dm-a'));
        const b = await connect(config, user('dm-b'));
        const got = b.next((m) => m.kind === 'direct', 3000);
        a.send(a.codec.direct(b.userId, 'dm1', { hello: 1 }));
        const m = await got;
        assert.ok(m?.kind === 'direct' && m.to === b.userId && m.from === a.userId, m?.label ?? 'nothing arrived');
        await Promise.all([a.closeAndWait(), b.closeAndWait()]);
      }));

    test('rooms: a message to a room reaches every member', { skip: notClaimed(entry, 'rooms') }, () =>
      asVu(async () => {
        const room = user('room');
        const members = await Promise.all([user('r-a'), user('r-b')].map((u) => connect(config, u)));
        for (const s of members) {
          s.send(s.codec.joinRoom(room));
          assert.ok(await s.next((m) => m.kind === 'room-joined', 3000), 'joined');
        }
        const arrivals = members.map((s) => s.next((m) => m.kind === 'room' && m.room === room, 3000));
        members[0]?.send(members[0].codec.roomMessage(room, 'rm1', { hello: 1 }));
        for (const m of await Promise.all(arrivals)) assert.equal(m?.kind, 'room');
        await Promise.all(members.map((s) => s.closeAndWait()));
      }));

    test('auth-service: the auth service issues a token that connects', { skip: notClaimed(entry, 'auth-service') }, () =>
      asVu(async () => {
        const u = user('auth');
        const issued = await fetchToken(config, u);
        const r = await probeHandshake(config, { userId: u, token: issued.accessToken });
        assert.equal(r.accepted, true, describeHandshake(r));
      }));
  });
}

// Every capability is either exercised above or named here as outside this suite, so a new one cannot slip by.
test('every capability has its conformance test', () => {
  const exercised: Capability[] = ['handshake-status', 'origin-check', 'agent-runs', 'direct-messages', 'rooms', 'app-ping', 'in-band-refresh', 'expiry-close', 'health', 'connection-count', 'personal-channel-guard', 'auth-service'];
  assert.deepEqual(Object.keys(NEEDS_TEXT).filter((n) => n !== 'jwt-secret' && n !== 'drop-relay').sort(), [...exercised].sort());
});
