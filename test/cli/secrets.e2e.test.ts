/**
 * No secret in any output, even from a hostile server. Every suite command runs against the reference
 * service playing `hostile` (docs/protocol.md, "Faults": it echoes the token as the selected
 * subprotocol, puts tokens into error frames, close reasons and HTTP bodies, and its own JWT secret
 * into /health), and everything wsgate prints (stdout and stderr) and writes (results JSON and JUnit,
 * --output-file, --out json, the HTML report, the monitor timeline, pipeline reports and baselines,
 * webhook posts) is searched for the JWT secret, the auth password, the admin token, the webhook URL,
 * the credentials in the WebSocket URL (user info, query string), every token and refresh token seen on
 * the wire, and anything JWT-shaped.
 *
 * The service runs in this process with known secrets; the suites reach it through two relays that
 * pass bytes through unchanged and note every token that crosses them (the handshake's Authorization
 * header and subprotocol, the auth service's answers, the server's frames), so the search knows the
 * exact tokens of this run. Two runs use the CLI's embedded service instead (its secret is made inside
 * the CLI): there the JWT shape, the password and the admin token are searched for.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import type { Server as HttpServer } from 'node:http';
import { connect, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startTarget } from '../../reference-service/service.ts';
import type { RunningTarget } from '../../reference-service/service.ts';
import { k6Skip } from '../helpers/k6.ts';
import { runWsgate } from '../helpers/wsgate-process.ts';
import type { CliRun } from '../helpers/wsgate-process.ts';
import { STACK_FRAME, cleanEnv, tempDir } from './helpers.ts';

const JWT_SECRET = randomBytes(32).toString('base64url');
const PASSWORD = `pw-${randomBytes(12).toString('hex')}`;
const ADMIN_TOKEN = randomBytes(16).toString('hex');
const HOOK_SECRET = randomBytes(18).toString('base64url');
/** Credentials in the WebSocket URL itself: its user info and a query parameter. */
const URL_PASSWORD = `up-${randomBytes(12).toString('hex')}`;
const URL_QUERY_TOKEN = `uq-${randomBytes(12).toString('hex')}`;

/** A JWT, whole or cut short (a close reason holds 123 bytes): a JSON header, then a payload. */
const JWT_SHAPE = /eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{8,}/;
const WIRE_JWT = /eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/g;
const WIRE_REFRESH = /"refresh_token"\s*:\s*"([A-Za-z0-9_-]{16,})"/g;

/** Tokens seen on the wire this run: access tokens (and their signatures) and refresh tokens. */
const wire = new Set<string>();

function noteWire(text: string): void {
  for (const m of text.matchAll(WIRE_JWT)) {
    wire.add(m[0]);
    const signature = m[0].split('.')[2];
    if (signature && signature.length >= 20) wire.add(signature);
  }
  for (const m of text.matchAll(WIRE_REFRESH)) if (m[1]) wire.add(m[1]);
}

/** Server-to-client bytes that handed a token back in the handshake: the hostile echo happened. */
let echoedHandshakes = 0;

/**
 * A TCP relay to `port` that passes bytes through unchanged and notes the tokens in both directions
 * (client frames are masked, so what it reads there is the handshake and HTTP requests).
 */
async function sniffingRelay(port: number): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    sockets.add(client).add(upstream);
    const watch = (from: Socket, to: Socket, serverSide: boolean): void => {
      let tail = '';
      from.on('data', (chunk: Buffer) => {
        to.write(chunk);
        const text = tail + chunk.toString('latin1');
        noteWire(text);
        if (serverSide && /^Sec-WebSocket-Protocol: jwt\./im.test(text)) echoedHandshakes++;
        tail = text.slice(-2048);
      });
      from.on('end', () => to.end());
      from.on('error', () => to.destroy());
      from.on('close', () => {
        sockets.delete(from);
        to.destroy();
      });
    };
    watch(client, upstream, false);
    watch(upstream, client, true);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** Every file under `dir`, as text. */
function filesUnder(dir: string): { path: string; text: string }[] {
  const out: { path: string; text: string }[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...filesUnder(path));
    else out.push({ path, text: readFileSync(path, 'latin1') });
  }
  return out;
}

/** Each secret this run knows, named for the failure message. */
function knownSecrets(webhookUrl: string): [string, string][] {
  return [
    ['the JWT secret', JWT_SECRET],
    ['the auth password', PASSWORD],
    ['the admin token', ADMIN_TOKEN],
    ['the webhook URL', webhookUrl],
    ["the webhook URL's secret part", HOOK_SECRET],
    ["the WebSocket URL's password", URL_PASSWORD],
    ["the WebSocket URL's query token", URL_QUERY_TOKEN],
    ...[...wire].map((t): [string, string] => [`a token seen on the wire (…${t.slice(-12)})`, t]),
  ];
}

/** The first secret found in `text` (what it is, and where), or undefined. */
function leakIn(text: string, secrets: [string, string][]): { what: string; at: number } | undefined {
  for (const [what, value] of secrets) {
    const at = text.indexOf(value);
    if (at >= 0) return { what, at };
  }
  const jwt = JWT_SHAPE.exec(text);
  if (jwt) return { what: `something JWT-shaped (${jwt[0].slice(0, 24)}…)`, at: jwt.index };
  return undefined;
}

/** Asserts that no output of a run holds a secret; names the place, the secret and its context when one does. */
function assertNoSecrets(label: string, outputs: { where: string; text: string }[], webhookUrl: string): void {
  const secrets = knownSecrets(webhookUrl);
  for (const { where, text } of outputs) {
    const leak = leakIn(text, secrets);
    if (leak !== undefined) assert.fail(`${label}: ${where} holds ${leak.what}: …${text.slice(Math.max(0, leak.at - 160), leak.at + 40)}…`);
  }
}

interface Run extends CliRun {
  files: { path: string; text: string }[];
}

/** `wsgate ARGS` in `cwd` with `env`; every file under `cwd` afterwards. */
async function wsgate(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Run> {
  const r = await runWsgate(args, { cwd, env });
  return { ...r, files: filesUnder(cwd) };
}

describe('no secret in any output, even from a hostile server', { concurrency: true, timeout: 10 * 60_000 }, () => {
  let target: RunningTarget;
  let relays: { port: number; close: () => Promise<void> }[] = [];
  let hooks: HttpServer;
  const posted: string[] = [];
  let webhookUrl = '';
  const root = tempDir('wsgate-secrets-');
  let runs = 0;

  before(async () => {
    target = await startTarget({
      faults: ['hostile'],
      authSecret: JWT_SECRET,
      backendSecret: JWT_SECRET,
      authPassword: PASSWORD,
      admin: { token: ADMIN_TOKEN },
    });
    const port = (url: string): number => Number(new URL(url).port);
    relays = [await sniffingRelay(port(target.httpUrl)), await sniffingRelay(port(target.authUrl))];
    hooks = createHttpServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        posted.push(body);
        res.end('ok');
      });
    });
    await new Promise<void>((r) => hooks.listen(0, '127.0.0.1', r));
    webhookUrl = `http://127.0.0.1:${(hooks.address() as { port: number }).port}/services/T0/B0/${HOOK_SECRET}`;
  });

  after(async () => {
    await Promise.all(relays.map((r) => r.close()));
    await new Promise<void>((r) => hooks.close(() => r()));
    await target.close();
  });

  /** The environment of a run against the hostile service: its URLs through the relays, every secret set. */
  function hostileEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    const [backend, auth] = relays;
    return cleanEnv([], {
      WSGATE_WS_URL: `ws://wsgate:${URL_PASSWORD}@127.0.0.1:${backend?.port}/ws?access_token=${URL_QUERY_TOKEN}`,
      WSGATE_HTTP_URL: `http://127.0.0.1:${backend?.port}`,
      WSGATE_AUTH_URL: `http://127.0.0.1:${auth?.port}`,
      WSGATE_JWT_SECRET: JWT_SECRET,
      WSGATE_AUTH_PASSWORD: PASSWORD,
      WSGATE_ADMIN_TOKEN: ADMIN_TOKEN,
      WSGATE_WEBHOOK_URL: webhookUrl,
      ...extra,
    });
  }

  /** Runs `args` in a fresh directory and asserts nothing it printed or wrote holds a secret. */
  async function check(label: string, args: string[], env: NodeJS.ProcessEnv, expectCodes: number[]): Promise<Run> {
    const cwd = join(root, `${++runs}`);
    mkdirSync(cwd);
    const r = await wsgate(args, cwd, env);
    const printed = r.out + r.err;
    assert.ok(expectCodes.includes(r.code ?? -1), `${label}: exit ${r.code}, expected one of ${expectCodes.join(', ')}\n${printed.slice(-3000)}`);
    assert.doesNotMatch(printed, STACK_FRAME, `${label}: no stack trace`);
    assertNoSecrets(
      label,
      [
        { where: 'stdout', text: r.out },
        { where: 'stderr', text: r.err },
        ...r.files.map((f) => ({ where: `the file ${f.path.slice(cwd.length + 1)}`, text: f.text })),
        ...posted.map((p, i) => ({ where: `webhook post ${i + 1}`, text: p })),
      ],
      webhookUrl,
    );
    return r;
  }

  test('validate: the failures name what they saw, redacted', async () => {
    const validate = (): Promise<Run> => check('validate', ['validate', '--env', 'local', '--output-file', 'copy.json', '--results-dir', 'results'], hostileEnv(), [1]);
    let r = await validate();
    // The service refuses every HOSTILE_REFUSE_EVERY-th connection, whichever check opened it: when it
    // happens to refuse every connection that would have started agent runs (a percent or two of runs),
    // no run gets its stray event and the ISOLATION path is not exercised. That run was still searched
    // for secrets above; one more run exercises the path.
    if (!/ISOLATION/.test(r.err) && /connection opens for agent runs \(observed: close 4403\)/.test(r.err)) r = await validate();
    // The hostile paths were exercised: a close reason, a stray event's ids and the /health status were quoted.
    assert.match(r.err, /closed with 4403 refused jwt\.<redacted>/);
    assert.match(r.err, /ISOLATION user \S+ received agent_started of run <redacted> belonging to jwt\.<redacted>/);
    assert.match(r.err, /health endpoint reports healthy \(observed: status "degraded: config https:\/\/REDACTED@hostile\.invalid\/ws\?access_token=REDACTED&sig=REDACTED secret REDACTED"\)/);
    assert.match(r.err, /never echoing the token \(observed: selected the jwt\.<token> protocol\)/);
    assert.ok(echoedHandshakes > 0, 'the service echoed tokens as the selected subprotocol');
    assert.ok([...wire].some((t) => t.startsWith('eyJ')), 'the relays saw the tokens, so the search knows them');
  });

  test('regression', async () => {
    await check('regression', ['regression', '--env', 'local', '--results-dir', 'results'], hostileEnv(), [1]);
  });

  test('multi-user', async () => {
    await check('multi-user', ['multi-user', '--env', 'local', '--users', '20', '--duration', '3s', '--output-file', 'multi.json', '--results-dir', 'results'], hostileEnv(), [0, 1]);
  });

  test('monitor, alerts to a webhook from the environment', async () => {
    await check('monitor', ['monitor', '--env', 'local', '--duration', '10s', '--window', '5s', '--output-file', 'timeline.jsonl', '--results-dir', 'results'], hostileEnv(), [0, 1]);
    assert.ok(posted.length > 0, 'the alerts reached the webhook, whose posts were searched too');
  });

  test('run: --out json and the HTML report', async () => {
    const r = await check('run', ['run', 'deployment-validation', '--out', 'json=samples.json', '--report', 'report.html', '--quiet'], hostileEnv({ WSGATE_ENV: 'local' }), [1]);
    assert.ok(r.files.some((f) => f.path.endsWith('samples.json') && f.text.length > 0), 'the samples were written');
    assert.ok(r.files.some((f) => f.path.endsWith('report.html')), 'the report was written');
  });

  test('pre and post: baselines and the deployment reports', async () => {
    const cwd = join(root, 'pipeline');
    mkdirSync(cwd);
    const env = hostileEnv();
    for (const [label, args] of [
      ['pre', ['pre', '--env', 'local', '--validation-only', '--results-dir', join(cwd, 'results')]],
      ['post', ['post', '--env', 'local', '--validation-only', '--allow-missing-baseline', '--results-dir', join(cwd, 'results'), '--report', join(cwd, 'deployment_report.md')]],
    ] as const) {
      const r = await wsgate([...args], cwd, env);
      assertNoSecrets(label, [{ where: 'stdout', text: r.out }, { where: 'stderr', text: r.err }, ...r.files.map((f) => ({ where: `the file ${f.path}`, text: f.text }))], webhookUrl);
      assert.doesNotMatch(r.out + r.err, STACK_FRAME, `${label}: no stack trace`);
    }
  });

  test('validate against the embedded hostile service (its secret made inside the CLI)', async () => {
    const r = await check('embedded validate', ['validate', '--env', 'local', '--embedded-target', '--fault', 'hostile', '--results-dir', 'results'], cleanEnv([], { WSGATE_AUTH_PASSWORD: PASSWORD, WSGATE_ADMIN_TOKEN: ADMIN_TOKEN }), [1]);
    assert.match(r.err, /<redacted>/);
  });

  test('regression against the embedded hostile service, through nginx and the drop relay', async () => {
    const r = await check('embedded regression', ['regression', '--env', 'local', '--embedded-target', '--fault', 'hostile', '--results-dir', 'results'], cleanEnv([], { WSGATE_AUTH_PASSWORD: PASSWORD, WSGATE_ADMIN_TOKEN: ADMIN_TOKEN }), [1]);
    assert.match(r.err, /<redacted>/);
  });

  test('monitor of the embedded hostile service with its admin endpoint', async () => {
    const r = await check(
      'embedded monitor',
      ['monitor', '--env', 'local', '--embedded-target', '--fault', 'hostile', '--admin', '--duration', '6s', '--window', '3s', '--output-file', 'timeline.jsonl', '--results-dir', 'results'],
      cleanEnv([], { WSGATE_AUTH_PASSWORD: PASSWORD, WSGATE_ADMIN_TOKEN: ADMIN_TOKEN }),
      [0, 1],
    );
    assert.match(r.err, /admin endpoint of the embedded service: http:\/\/127\.0\.0\.1:\d+\/admin \(bearer token from WSGATE_ADMIN_TOKEN\)/);
  });

  test('validate on k6', { skip: k6Skip() }, async () => {
    await check('validate --engine k6', ['validate', '--env', 'local', '--engine', 'k6', '--results-dir', 'results'], hostileEnv({ WSGATE_K6: process.env['WSGATE_K6'] }), [1]);
  });
});

describe('the search itself', () => {
  test('finds each kind of secret, and a token cut short', () => {
    const token = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSJ9.c2lnbmF0dXJlLXRoYXQtaXMtbG9uZy1lbm91Z2g';
    noteWire(`HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Protocol: jwt.${token}\r\n\r\n`);
    assert.ok(wire.has(token) && wire.has(token.split('.')[2] ?? ''));
    const secrets = knownSecrets('http://127.0.0.1/services/T0/B0/x');
    const found = (text: string): string => leakIn(text, secrets)?.what ?? 'nothing';
    assert.equal(found(`closed with 4403 ${token.slice(0, 60)}`), `something JWT-shaped (${token.slice(0, 24)}…)`);
    assert.match(found(`error frame: ${token}`), /a token seen on the wire/);
    assert.match(found(`status ${JWT_SECRET}`), /JWT secret/);
    assert.match(found(`{"password":"${PASSWORD}"}`), /password/);
    assert.match(found(`Bearer ${ADMIN_TOKEN}`), /admin token/);
    assert.match(found(`posted to …/${HOOK_SECRET}`), /webhook/);
    assert.equal(found('closed with 4403 refused jwt.<redacted> before the greeting'), 'nothing');
    wire.delete(token);
    wire.delete(token.split('.')[2] ?? '');
  });
});
