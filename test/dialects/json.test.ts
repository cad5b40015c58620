/**
 * The json dialect: its description is checked with one sentence per mistake; configured with
 * docs/dialects/wsgate-chat.json it decodes, encodes, shakes hands, reads health and asks for tokens
 * exactly as the built-in wsgate-chat dialect does; and end to end it reaches the same verdicts on the
 * healthy reference service and on every fault, in validation and in the regression suite.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TestContext } from 'node:test';
import { ConfigError } from '../../lib/core/errors.ts';
import type { DialectHttp } from '../../lib/dialects/dialect.ts';
import { jsonDialect, jsonDialectFromFile, jsonDialectFromText } from '../../lib/dialects/json.ts';
import { wsgateChat } from '../../lib/dialects/wsgate-chat.ts';
import { FAULT_NAMES } from '../../reference-service/faults.ts';
import { REPO, buildIfStale, cleanEnv, runWsgate } from '../helpers/wsgate-process.ts';

const CHAT_FILE = 'docs/dialects/wsgate-chat.json';
const CHAT: Record<string, unknown> = JSON.parse(readFileSync(join(REPO, CHAT_FILE), 'utf8'));

/** The chat description with one change made by `edit` (on a deep copy). */
function edited(edit: (d: Record<string, any>) => void): unknown {
  const copy = structuredClone(CHAT);
  edit(copy);
  return copy;
}

function sentence(description: unknown): string {
  try {
    jsonDialect(description, 'x.json');
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    assert.equal(e.code, 'WSGATE_CONFIG');
    return e.message;
  }
  assert.fail('the description was accepted');
}

// ---- (a) the description is checked, one sentence per mistake ----

const BAD: [string, unknown, string][] = [
  [
    'an event name that is not a string',
    edited((d) => (d.run.events.agent_thinking = 42)),
    'dialect file x.json: run.events.agent_thinking is 42; it must be the name the service uses for the event, a string',
  ],
  [
    'a typo at the top',
    edited((d) => ((d.greting = d.greeting), delete d.greeting)),
    'dialect file x.json: greting is not a key of the description; use one of type_field, handshake, token, greeting, run, ping, refresh, direct, rooms, error, expiry_close_code, health, auth',
  ],
  [
    'a typo inside a section',
    edited((d) => ((d.run.evnts = d.run.events), delete d.run.events)),
    'dialect file x.json: run.evnts is not a key of run; use one of start, events, ref_field, run_field, seq_field, user_field',
  ],
  [
    'an unknown event name',
    edited((d) => (d.run.events.agent_pondering = 'agent_pondering')),
    'dialect file x.json: run.events.agent_pondering is not a key of run.events; use one of agent_started, agent_thinking, tool_executing, tool_completed, agent_completed',
  ],
  ['a required section missing', edited((d) => delete d.greeting), 'dialect file x.json: greeting is missing; it must be an object (the message that accepts a connection)'],
  ['a required field missing', edited((d) => delete d.run.start.ref_field), 'dialect file x.json: run.start.ref_field is missing; it must be the name of a field, a non-empty string'],
  ['an empty field name', edited((d) => (d.type_field = ' ')), `dialect file x.json: type_field is " "; it must be the field that holds every message's type, a non-empty string`],
  ['a refusal that is neither', edited((d) => (d.handshake.refusal = 'http')), 'dialect file x.json: handshake.refusal is "http"; it must be one of http-status, in-band'],
  ['a boolean given as a word', edited((d) => (d.handshake.origin_check = 'yes')), 'dialect file x.json: handshake.origin_check is "yes"; it must be true when the service refuses a foreign Origin at the handshake, else false'],
  [
    'an unknown carrier',
    edited((d) => (d.token.carriers = ['header', 'cookie'])),
    'dialect file x.json: token.carriers is ["header","cookie"]; it must be a non-empty list of distinct carriers out of header, subprotocol, first-frame, query, the usual one first',
  ],
  [
    'a carrier without its section',
    edited((d) => d.token.carriers.push('query')),
    'dialect file x.json: token.query is missing; it must say how the token rides (query), since token.carriers lists query',
  ],
  [
    'a section for a carrier not listed',
    edited((d) => (d.token.carriers = ['header'])),
    'dialect file x.json: token.subprotocol is given but token.carriers does not list subprotocol; add subprotocol to token.carriers or remove token.subprotocol',
  ],
  [
    'first-frame next to another carrier',
    edited((d) => (d.token.carriers = ['header', 'first-frame'])),
    'dialect file x.json: token.carriers is ["header","first-frame"]; first-frame must be the only carrier, because the opening frame is sent on every connection',
  ],
  ['a units word it does not know', edited((d) => (d.greeting.expires_unit = 'min')), 'dialect file x.json: greeting.expires_unit is "min"; it must be one of ms, s'],
  ['a close code out of range', edited((d) => (d.expiry_close_code = 99)), 'dialect file x.json: expiry_close_code is 99; it must be the close code of an expired token, a whole number from 1000 to 4999'],
  ['a path without its slash', edited((d) => (d.health.path = 'health')), 'dialect file x.json: health.path is "health"; it must be an HTTP path starting with /'],
  [
    'two server messages with one type',
    edited((d) => (d.rooms.joined_type = 'pong')),
    'dialect file x.json: rooms.joined_type is "pong", which ping.pong_type also names; every message the server sends needs a type of its own',
  ],
  [
    'two ways to refuse a refresh',
    edited((d) => (d.refresh.refused_type = 'refresh_failed')),
    'dialect file x.json: refresh has both refused_type and refused_error_code; give exactly one, so that a refused refresh can be recognised',
  ],
  [
    'an error code without the error section',
    edited((d) => delete d.error),
    'dialect file x.json: refresh.refused_error_code needs the error section, which says which messages are errors; add error with type and code_field',
  ],
  ['a section that is not an object', edited((d) => (d.ping = 'ping')), 'dialect file x.json: ping is "ping"; it must be an object (the application ping and its answer)'],
  ['not an object at all', [CHAT], `dialect file x.json: the description is [${JSON.stringify(CHAT)}]; it must be a JSON object (docs/dialects/README.md)`],
];

for (const [what, description, expected] of BAD) {
  test(`description refused with one sentence: ${what}`, () => {
    const message = sentence(description);
    assert.equal(message, expected);
    assert.doesNotMatch(message, /\n/);
  });
}

test('the file: missing variable, unreadable file and text that is not JSON are one sentence each', () => {
  const caught = (fn: () => unknown): string => {
    try {
      fn();
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      return e.message;
    }
    return assert.fail('accepted');
  };
  const never = (): string => assert.fail('read without a path');
  assert.equal(
    caught(() => jsonDialectFromFile(undefined, never)),
    'WSGATE_DIALECT=json needs WSGATE_DIALECT_FILE, the path of a JSON file describing the protocol; set it (docs/dialects/README.md has the format, docs/dialects/wsgate-chat.json an example)',
  );
  const enoent = () => {
    throw Object.assign(new Error("ENOENT: no such file or directory, open 'p.json'"), { code: 'ENOENT' });
  };
  assert.equal(caught(() => jsonDialectFromFile('p.json', enoent)), 'WSGATE_DIALECT_FILE "p.json" cannot be read (ENOENT); give the path of a JSON file describing the protocol');
  assert.match(caught(() => jsonDialectFromText('{"type_field": ', 'p.json')), /^dialect file p\.json is not JSON \([^\n]+\); it must hold one JSON object describing the protocol \(docs\/dialects\/README\.md\)$/);
  assert.equal(jsonDialectFromFile('p.json', () => JSON.stringify(CHAT)).name, 'json');
});

// ---- (b) configured as the reference protocol, it is the wsgate-chat dialect ----

const json = jsonDialect(CHAT, CHAT_FILE);

test('what the dialect declares: capabilities, carriers, close code, subprotocol', () => {
  assert.deepEqual([...json.capabilities].sort(), [...wsgateChat.capabilities].sort());
  assert.deepEqual(json.carriers, wsgateChat.carriers);
  assert.equal(json.tokenExpiredClose, wsgateChat.tokenExpiredClose);
  assert.equal(json.selectedSubprotocol, wsgateChat.selectedSubprotocol);
});

test('handshakes: the same URL, headers and subprotocols for every carrier, with and without token and Origin', () => {
  for (const carrier of wsgateChat.carriers) {
    for (const token of ['eyJ.a.b', undefined]) {
      for (const origin of ['http://localhost', undefined]) {
        assert.deepEqual(json.handshake('ws://h:1/ws', token, carrier, origin), wsgateChat.handshake('ws://h:1/ws', token, carrier, origin), `${carrier} ${token} ${origin}`);
      }
    }
  }
});

/** Every server message of docs/protocol.md, and broken ones: missing or ill-typed fields, not JSON. */
const FRAMES = [
  '{"type":"connection_established","user_id":"u1","connection_id":"c1","expires_at":1764000000000,"timestamp":1}',
  '{"type":"connection_established","connection_id":"c1"}',
  ...['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'].map(
    (t, i) => `{"type":"${t}","user_id":"u1","thread_id":"t1","message_id":"m1","run_id":"r1","seq":${i + 1},"timestamp":2,"tool":"x","result":"ok"}`,
  ),
  '{"type":"agent_thinking","message_id":"m1","run_id":"r1","seq":2}',
  '{"type":"tool_executing","user_id":"u2","message_id":"m1","seq":"3"}',
  '{"type":"agent_completed","user_id":7,"run_id":5}',
  '{"type":"token_refreshed","expires_at":1764000900000,"timestamp":3}',
  '{"type":"token_refreshed"}',
  '{"type":"direct_message","from_user_id":"u2","to_user_id":"u1","message_id":"d1","content":{"a":[1,2]},"timestamp":4}',
  '{"type":"direct_message","content":"x"}',
  '{"type":"room_joined","room":"r","members":2}',
  '{"type":"room_left","room":"r"}',
  '{"type":"room_message","room":"r","from_user_id":"u2","message_id":"rm1","content":null,"timestamp":5}',
  '{"type":"room_message"}',
  '{"type":"pong","id":"p1","timestamp":6}',
  '{"type":"pong","id":7}',
  '{"type":"pong"}',
  '{"type":"error","code":"refresh_rejected","message":"no","ref_type":"refresh_token"}',
  '{"type":"error","code":"invalid_json","message":"no"}',
  '{"type":"error"}',
  '{"type":"mystery"}',
];
const NOT_MESSAGES = ['not json', '[1,2]', 'null', '"text"', '{}', '{"type":5}'];

test('decoding: every frame of the protocol becomes the same Inbound values', () => {
  const a = json.codec('u1');
  const b = wsgateChat.codec('u1');
  for (const frame of FRAMES) assert.deepEqual(a.decode(frame, []), b.decode(frame, []), frame);
  for (const frame of NOT_MESSAGES) {
    const [m, ...rest] = a.decode(frame, []);
    assert.equal(rest.length, 0, frame);
    assert.equal(m?.kind, 'other', frame);
    assert.equal(wsgateChat.codec('u1').decode(frame, [])[0]?.kind, 'other');
  }
  // Nothing the dialect decodes asks for a heartbeat answer.
  const replies: string[] = [];
  for (const frame of FRAMES) a.decode(frame, replies);
  assert.deepEqual(replies, []);
});

test('encoding: the same client frames, byte for byte', () => {
  const a = json.codec('u1');
  const b = wsgateChat.codec('u1');
  assert.deepEqual(a.opening('tok'), b.opening('tok'));
  assert.equal(a.startRun('m1', 't1', 'hello'), b.startRun('m1', 't1', 'hello'));
  assert.equal(a.ping('p1'), b.ping('p1'));
  assert.equal(a.refresh('tok'), b.refresh('tok'));
  assert.equal(a.direct('u2', 'd1', { n: [1, 'x'] }), b.direct('u2', 'd1', { n: [1, 'x'] }));
  assert.equal(a.joinRoom('room-1'), b.joinRoom('room-1'));
  assert.equal(a.roomMessage('room-1', 'rm1', 'hi'), b.roomMessage('room-1', 'rm1', 'hi'));
  assert.equal(a.subscribeUser('u2'), b.subscribeUser('u2'));
});

/** An HTTP side that answers every request with one canned response and records the URLs. */
function fakeHttp(status: number, body: string): DialectHttp & { urls: string[] } {
  const urls: string[] = [];
  return {
    urls,
    request: async (r) => {
      urls.push(r.url);
      return { status, body, error: status === 0 ? 'ECONNREFUSED' : undefined };
    },
  };
}

test('health: the same requests and readings, healthy, degraded, malformed and down', async () => {
  const target = { httpUrl: 'http://h:2', authUrl: 'http://h:3', apiKey: undefined, apiUrl: undefined };
  const answers: [number, string][] = [
    [200, '{"status":"healthy","active_connections":3,"users":2,"uptime_s":9,"version":"1.2"}'],
    [200, '{"status":"degraded","active_connections":0,"users":0}'],
    [200, '{"status":"healthy","active_connections":3}'],
    [200, '{"status":1,"active_connections":3,"users":2}'],
    [200, 'not json'],
    [503, '{"status":"healthy","active_connections":3,"users":2}'],
    [0, ''],
  ];
  for (const [status, body] of answers) {
    const ha = fakeHttp(status, body);
    const hb = fakeHttp(status, body);
    assert.deepEqual(await json.readHealth(ha, target), await wsgateChat.readHealth(hb, target), body);
    assert.deepEqual(ha.urls, hb.urls);
  }
});

test('auth service: the same token requests, and the same reading of its answers', () => {
  const a = json.auth;
  const b = wsgateChat.auth;
  assert.ok(a && b);
  assert.equal(a.tokenPath, b.tokenPath);
  assert.equal(a.refreshPath, b.refreshPath);
  assert.equal(a.tokenRequest('u1', undefined), b.tokenRequest('u1', undefined));
  assert.equal(a.tokenRequest('u1', 'pw'), b.tokenRequest('u1', 'pw'));
  for (const body of ['{"access_token":"A","refresh_token":"R","token_type":"Bearer","expires_in":900}', '{"access_token":"A"}', '{"access_token":1}', '{"error":"x"}', 'nope']) {
    assert.deepEqual(a.parseTokenResponse(body), b.parseTokenResponse(body), body);
  }
});

// ---- what the format says beyond the reference protocol ----

test('a minimal description: only what it describes, a token in the query, no capabilities beyond', async () => {
  const d = jsonDialect({ type_field: 'kind', handshake: { refusal: 'in-band' }, token: { carriers: ['query'], query: { param: 'access token' } }, greeting: { type: 'hello' } }, 'min.json');
  assert.deepEqual([...d.capabilities], []);
  assert.equal(d.auth, undefined);
  assert.equal(d.tokenExpiredClose, undefined);
  assert.equal(d.selectedSubprotocol, undefined);
  assert.deepEqual(d.handshake('ws://h/ws?v=1', 'a/b', 'query', undefined), { url: 'ws://h/ws?v=1&access%20token=a%2Fb', headers: {}, protocols: [] });
  assert.deepEqual(d.handshake('ws://h/ws', undefined, 'query', undefined).url, 'ws://h/ws');
  assert.throws(() => d.handshake('ws://h/ws', 't', 'header', undefined), { code: 'ERR_DIALECT_NOT_SUPPORTED' });
  const c = d.codec('u1');
  assert.deepEqual(c.decode('{"kind":"hello"}', []), [{ kind: 'connected', userId: undefined, expiresAt: undefined, label: 'hello for ?' }]);
  assert.deepEqual([c.ping('p'), c.refresh('t'), c.direct('u2', 'r', 1), c.joinRoom('x'), c.roomMessage('x', 'r', 1)], [undefined, undefined, undefined, undefined, undefined]);
  assert.throws(() => c.startRun('m', 't', 'c'), { code: 'ERR_DIALECT_NOT_SUPPORTED' });
  assert.equal((await d.readHealth(fakeHttp(200, '{}'), { httpUrl: 'http://h', authUrl: 'http://h', apiKey: undefined, apiUrl: undefined })).reading, undefined);
});

test('a token in the first frame, an in-band refusal, expiries in seconds, events without seq, own refresh refusal', () => {
  const d = jsonDialect(
    {
      type_field: 't',
      handshake: { refusal: 'in-band', refused_type: 'err', reason_field: 'why' },
      token: { carriers: ['first-frame'], first_frame: { type: 'auth', token_field: 'jwt' } },
      greeting: { type: 'welcome', user_field: 'uid', expires_field: 'exp', expires_unit: 's' },
      run: {
        start: { type: 'ask', ref_field: 'ref' },
        events: { agent_started: 'a1', agent_thinking: 'a2', tool_executing: 'a3', tool_completed: 'a4', agent_completed: 'a5' },
        ref_field: 'ref',
        user_field: 'uid',
      },
      refresh: { type: 'reauth', token_field: 'jwt', answer_type: 'reauthed', refused_type: 'reauth_failed' },
      error: { type: 'err', code_field: 'code' },
    },
    'own.json',
  );
  assert.deepEqual([...d.capabilities].sort(), ['agent-runs', 'in-band-refresh']);
  assert.deepEqual(d.handshake('ws://h/ws', 'T', 'first-frame', 'http://o'), { url: 'ws://h/ws', headers: { Origin: 'http://o' }, protocols: [] });
  const c = d.codec('u1');
  assert.deepEqual(c.opening('T'), ['{"t":"auth","jwt":"T"}']);
  assert.deepEqual(c.opening(undefined), []);
  // Before the greeting the error type refuses the connection; after it, it is an error.
  assert.deepEqual(c.decode('{"t":"err","why":"bad token","code":"auth"}', []), [{ kind: 'refused', reason: 'bad token', label: 'err' }]);
  assert.deepEqual(c.decode('{"t":"welcome","uid":"u1","exp":1700000000}', []), [{ kind: 'connected', userId: 'u1', expiresAt: 1_700_000_000_000, label: 'welcome for u1' }]);
  assert.deepEqual(c.decode('{"t":"err","code":"auth"}', []), [{ kind: 'error', code: 'auth', label: 'err auth' }]);
  assert.deepEqual(c.decode('{"t":"a4","ref":"m1","uid":"u1"}', []), [
    { kind: 'agent-event', event: { type: 'tool_completed', runRef: 'm1', runId: '', seq: 4, userId: 'u1' }, owner: 'u1', label: 'a4' },
  ]);
  assert.deepEqual(c.decode('{"t":"reauth_failed"}', []), [{ kind: 'refresh-refused', reason: 'reauth_failed', label: 'reauth_failed' }]);
  assert.equal(c.startRun('m1', 'th', 'hi'), '{"t":"ask","ref":"m1"}');
  assert.equal(c.refresh('N'), '{"t":"reauth","jwt":"N"}');
  // A fresh connection has not been greeted yet.
  assert.equal(d.codec('u2').decode('{"t":"err"}', [])[0]?.kind, 'refused');
});

// ---- (c) the same verdicts end to end ----

/**
 * The healthy service and every fault (the seven regressions; the `hostile` adversary is not one),
 * with both suites, each case once per dialect: 32 runs, two at a time (about 3 minutes on two cores).
 */
const POOL = 2;
const CASES = ['healthy', ...FAULT_NAMES] as const;

interface Outcome {
  code: number | null;
  verdict: string | undefined;
  scenarios: [string, string][];
  /** What the run printed, for failure messages: its FAIL lines and stderr. */
  err: string;
}

const workDir = mkdtempSync(join(tmpdir(), 'wsgate-json-dialect-'));
after(() => rmSync(workDir, { recursive: true, force: true }));

/** stderr without the line bin/wsgate.mjs prints when someone changed a source since the last build. */
const withoutRebuild = (err: string): string => err.replace(/^wsgate: sources changed since the last build; rebuilding dist\/\n/, '');

let runs = 0;
async function wsgate(args: string[], extra: Record<string, string>): Promise<Outcome> {
  const dir = join(workDir, `run-${++runs}`);
  const { code, out, err } = await runWsgate([...args, '--results-dir', dir], { env: cleanEnv([], extra) });
  let verdict: string | undefined;
  let scenarios: [string, string][] = [];
  const file = (() => {
    try {
      return readdirSync(dir).find((f) => f.endsWith('.json'));
    } catch {
      return undefined;
    }
  })();
  if (file) {
    const result = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { verdict: string; scenarios: { name: string; verdict: string }[] };
    verdict = result.verdict;
    scenarios = result.scenarios.map((s) => [s.name, s.verdict]);
  }
  const failed = out.split('\n').filter((l) => /^\s*FAIL\b/.test(l));
  return { code, verdict, scenarios, err: [...failed, err].join('\n') };
}

/** Runs the jobs `POOL` at a time. */
async function pooled<T>(jobs: (() => Promise<T>)[]): Promise<T[]> {
  const out: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      out[i] = await (jobs[i] as () => Promise<T>)();
    }
  };
  await Promise.all(Array.from({ length: POOL }, worker));
  return out;
}

const JSON_DIALECT = { WSGATE_DIALECT: 'json', WSGATE_DIALECT_FILE: CHAT_FILE };

/**
 * Scenario verdicts that vary from run to run whatever the dialect, so two runs cannot be expected to
 * agree on them (the exit code and the overall verdict must still agree). `isolation_leak` sends every
 * third agent event to the first open connection of another user: whether that is one of
 * multi_user_isolation's own connections or one of the other scenarios' depends on timing, so the run
 * fails on wsgate_isolation_violations every time, but that scenario's own verdict only sometimes (seen
 * with wsgate-chat alone: fail, pass, pass, pass in four runs).
 */
const VARIES: Record<string, readonly string[]> = { 'validate isolation_leak': ['multi_user_isolation'] };

/** How two runs of one case disagree, one line each (empty when they agree). */
function disagreement(suite: string, c: string, chat: Outcome, described: Outcome): string[] {
  const out: string[] = [];
  if (chat.code !== described.code) out.push(`${c}: exit ${chat.code} with wsgate-chat, ${described.code} with json\n${chat.err}\n${described.err}`);
  if (chat.verdict !== described.verdict) out.push(`${c}: verdict ${chat.verdict} with wsgate-chat, ${described.verdict} with json`);
  const varies = VARIES[`${suite} ${c}`] ?? [];
  const show = (o: Outcome) => o.scenarios.map(([n, v]) => `${n}=${varies.includes(n) && (v === 'pass' || v === 'fail') ? 'pass or fail' : v}`).join(' ');
  if (show(chat) !== show(described)) out.push(`${c}: scenarios ${show(chat)} with wsgate-chat, ${show(described)} with json`);
  return out;
}

/**
 * Both dialects on every case, POOL runs at a time; returns one line per disagreement. Runs side by
 * side on two cores can miss a latency threshold (ws_connecting p(95) was seen at 570-700 ms with
 * three at a time), in either dialect: a case whose two runs disagree, or miss `expected`, is run again
 * once, its two runs one after the other with nothing beside them, and that pair is the one judged. A
 * real difference between the dialects is deterministic and survives the second pair.
 */
async function sameVerdicts(
  t: TestContext,
  base: [string, ...string[]],
  expected: (c: string) => number | undefined,
  cases: readonly string[] = CASES,
): Promise<{ disagreements: string[]; outcomes: Map<string, [Outcome, Outcome]> }> {
  const argsOf = (c: string) => (c === 'healthy' ? base : [...base, '--fault', c]);
  const results = await pooled(cases.flatMap((c) => [() => wsgate(argsOf(c), {}), () => wsgate(argsOf(c), JSON_DIALECT)]));
  const disagreements: string[] = [];
  const outcomes = new Map<string, [Outcome, Outcome]>();
  for (const [i, c] of cases.entries()) {
    let chat = results[2 * i] as Outcome;
    let described = results[2 * i + 1] as Outcome;
    const want = expected(c);
    const first = disagreement(base[0], c, chat, described);
    if (first.length > 0 || (want !== undefined && (chat.code !== want || described.code !== want))) {
      t.diagnostic(`${c}: run again alone (${first[0]?.split('\n')[0] ?? `exit ${chat.code} and ${described.code}, expected ${want}`})`);
      chat = await wsgate(argsOf(c), {});
      described = await wsgate(argsOf(c), JSON_DIALECT);
    }
    outcomes.set(c, [chat, described]);
    disagreements.push(...disagreement(base[0], c, chat, described));
  }
  return { disagreements, outcomes };
}

before(buildIfStale);

test('end to end, validation: the json dialect reaches wsgate-chat\'s verdicts on the healthy service and on every fault', { timeout: 5 * 60_000 }, async (t) => {
  const { disagreements, outcomes } = await sameVerdicts(t, ['validate', '--env', 'local', '--embedded-target'], (c) => (c === 'healthy' ? 0 : undefined));
  assert.deepEqual(disagreements, []);
  const [healthy] = outcomes.get('healthy') ?? [];
  assert.equal(healthy?.code, 0, healthy?.err);
  assert.ok(healthy && healthy.scenarios.length === 6 && healthy.scenarios.every(([, v]) => v === 'pass'), JSON.stringify(healthy?.scenarios));
  // Not a comparison of two passes: validation catches faults, in both dialects alike.
  assert.ok([...outcomes.values()].filter(([chat]) => chat.code === 1).length >= 4, JSON.stringify([...outcomes].map(([c, [o]]) => [c, o.code])));
});

// The validation above covers every fault; the regression suite (11 s a run) is compared on the healthy
// service and on the faults whose tests read the protocol's messages most (runs, isolation, refresh).
const REGRESSION_CASES = ['healthy', 'missing_agent_events', 'isolation_leak', 'token_refresh_broken'];

test('end to end, regression suite (--lb none): the same verdicts on the healthy service and on the message-heavy faults', { timeout: 6 * 60_000 }, async (t) => {
  const { disagreements, outcomes } = await sameVerdicts(t, ['regression', '--env', 'local', '--embedded-target', '--lb', 'none'], (c) => (c === 'healthy' ? 0 : 1), REGRESSION_CASES);
  assert.deepEqual(disagreements, []);
  for (const [c, [chat]] of outcomes) {
    // The suite is sound with either dialect: the healthy service passes, every fault is caught.
    assert.equal(chat.code, c === 'healthy' ? 0 : 1, `${c}: ${chat.err}`);
  }
});

test('end to end, the description is what judges: a wrong event name fails agent runs, and only them', { timeout: 2 * 60_000 }, async () => {
  const file = join(workDir, 'renamed-event.json');
  writeFileSync(file, JSON.stringify(edited((d) => (d.run.events.agent_thinking = 'agent_pondering'))));
  const o = await wsgate(['validate', '--env', 'local', '--embedded-target'], { WSGATE_DIALECT: 'json', WSGATE_DIALECT_FILE: file });
  assert.equal(o.code, 1, o.err);
  assert.deepEqual(
    o.scenarios.filter(([, v]) => v !== 'pass'),
    [
      ['agent_events', 'fail'],
      ['multi_user_isolation', 'fail'],
    ],
  );
});

test('end to end, a bad description stops the run before anything starts: one sentence, exit 2', async () => {
  const file = join(workDir, 'bad.json');
  writeFileSync(file, JSON.stringify(edited((d) => (d.run.events.agent_thinking = 42))));
  const o = await wsgate(['validate', '--env', 'local', '--embedded-target'], { WSGATE_DIALECT: 'json', WSGATE_DIALECT_FILE: file });
  assert.equal(o.code, 2);
  assert.equal(withoutRebuild(o.err), `wsgate: dialect file ${file}: run.events.agent_thinking is 42; it must be the name the service uses for the event, a string\n`);
  const missing = await wsgate(['validate', '--env', 'local', '--embedded-target'], { WSGATE_DIALECT: 'json' });
  assert.equal(missing.code, 2);
  assert.match(withoutRebuild(missing.err), /^wsgate: WSGATE_DIALECT=json needs WSGATE_DIALECT_FILE, [^\n]+\n$/);
});
