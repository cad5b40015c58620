/**
 * wsgate end to end against a real Centrifugo v6.9.1, through the centrifugo dialect: the real CLI
 * (`node bin/wsgate.mjs validate|regression|multi-user --env local`) pointed at Centrifugo with the
 * agent driver behind its RPC proxy (third-party/centrifugo/stack.ts), configured only by WSGATE_*
 * variables, as a user would point it at their own deployment.
 *
 * A healthy server passes every applicable check, and the checks the dialect cannot play are listed
 * as not applicable. Then each breakage, made with Centrifugo's own configuration or process, must
 * fail the validation under the right check's name. Runs go one at a time: a validation opens some
 * 300 connections and starts some 300 agent runs in a burst, and two at once on two cores would
 * measure the machine.
 *
 * Needs the binary (third-party/centrifugo/binary.ts): without it the file skips with the command that
 * builds it, except with CI=true, where it fails.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { promSum } from '../../lib/dialects/centrifugo.ts';
import { startCentrifugoStack, warmUp } from '../../third-party/centrifugo/stack.ts';
import type { CentrifugoStack, StackOptions } from '../../third-party/centrifugo/stack.ts';
import { centrifugoMissing } from '../centrifugo/client.ts';
import { skipUnlessCi } from '../helpers/tools.ts';
import { runWsgate } from '../helpers/wsgate-process.ts';
import type { CliRun } from '../helpers/wsgate-process.ts';

const missing = await centrifugoMissing();
const skip = skipUnlessCi(missing);

const dir = mkdtempSync(join(tmpdir(), 'wsgate-centrifugo-e2e-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Run extends CliRun {
  result: Result;
}

interface Result {
  verdict: string;
  scenarios: { name: string; verdict: string; not_applicable?: string; checks: { name: string; passes: number; fails: number }[] }[];
}

let runs = 0;
/** `node bin/wsgate.mjs <args>` with only PATH, HOME and `vars` in its environment; the JSON result read back. */
async function wsgate(args: string[], vars: Record<string, string>, onStderr?: (text: string) => void): Promise<Run> {
  const file = join(dir, `result-${++runs}.json`);
  const env = { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', ...vars };
  const r = await runWsgate([...args, '--results-dir', join(dir, 'results'), '--output-file', file], { env, ...(onStderr ? { onStderr } : {}) });
  let result: Result;
  try {
    result = JSON.parse(readFileSync(file, 'utf8')) as Result;
  } catch {
    throw new Error(`no result at ${file} (exit ${r.code})\n${r.out}\n${r.err}`);
  }
  return { ...r, result };
}

/** A Centrifugo + driver for one test, stopped when the test file ends. */
async function stack(opts: StackOptions = {}): Promise<CentrifugoStack> {
  const s = await startCentrifugoStack({ logFile: process.env['WSGATE_CENTRIFUGO_LOG'], ...opts });
  after(() => s.close());
  await warmUp(s);
  return s;
}

/** Centrifugo's live count of connected clients (0 when none yet). */
async function inflight(s: CentrifugoStack): Promise<number> {
  const text = await (await fetch(`${s.cf.httpUrl}/metrics`)).text();
  return promSum(text, 'centrifugo_client_connections_inflight') ?? 0;
}

const scenario = (r: Run, name: string) => {
  const s = r.result.scenarios.find((x) => x.name === name);
  assert.ok(s, `${name} in ${r.result.scenarios.map((x) => x.name).join(', ')}`);
  return s;
};
const show = (r: Run) => `exit ${r.code}\n${r.out}\n${r.err}`;

/** Every scenario passes except those listed as not applicable, each with its reason. */
function assertHealthy(r: Run, notApplicable: Record<string, RegExp>): void {
  assert.equal(r.code, 0, show(r));
  assert.equal(r.result.verdict, 'pass');
  for (const s of r.result.scenarios) {
    const na = notApplicable[s.name];
    if (na) {
      assert.equal(s.verdict, 'not applicable', `${s.name}: ${s.verdict}`);
      assert.match(s.not_applicable ?? '', na);
      assert.match(r.out, new RegExp(`n/a  ${s.name} +not applicable: `));
    } else {
      assert.equal(s.verdict, 'pass', `${s.name}: ${JSON.stringify(s)}`);
      // A part of a scenario the run cannot play is a passing "not applicable: ..." check beside the real ones.
      assert.ok(s.checks.some((c) => !c.name.startsWith('not applicable')), `${s.name} ran real checks: ${JSON.stringify(s.checks)}`);
      assert.ok(s.checks.every((c) => c.fails === 0), `${s.name}: ${JSON.stringify(s.checks)}`);
    }
  }
}

describe('wsgate against a real Centrifugo v6.9.1 (the centrifugo dialect)', { skip, timeout: 600_000 }, () => {
  test('a healthy server passes validation; the JWT agreement check is not applicable (no auth service)', async () => {
    if (missing) throw new Error(missing);
    const s = await stack();
    const r = await wsgate(['validate', '--env', 'local'], s.vars);
    assertHealthy(r, { jwt_synchronization: /the centrifugo dialect has no auth service that issues tokens/ });
    // The isolation scenario played the security half: another user's personal stream refused.
    const iso = scenario(r, 'multi_user_isolation');
    assert.ok(iso.checks.some((c) => c.name === "asking for another user's personal stream is refused" && c.passes > 0), JSON.stringify(iso.checks));
    assert.match(r.err, /validating env local: the deployed service at ws:\/\/127\.0\.0\.1:\d+\/connection\/websocket/);
    // Secrets never reach the output.
    for (const secret of [s.vars['WSGATE_JWT_SECRET'], s.vars['WSGATE_SERVER_API_KEY']]) assert.ok(secret && !(r.out + r.err).includes(secret));
  });

  test('a healthy server passes the regression suite, the leak test through a drop relay', async () => {
    const s = await stack();
    const r = await wsgate(['regression', '--env', 'local'], s.vars);
    assertHealthy(r, { jwt_secret_synchronization_regression: /the centrifugo dialect has no auth service that issues tokens/ });
  });

  test('multi-user agent_execution passes; chat is not applicable (no direct messages, no rooms)', async () => {
    const s = await stack();
    const agents = await wsgate(['multi-user', '--env', 'local', '--scenario', 'agent_execution', '--users', '40', '--messages', '3', '--duration', '3s'], s.vars);
    assertHealthy(agents, {});
    const chat = await wsgate(['multi-user', '--env', 'local', '--scenario', 'chat', '--users', '10', '--duration', '3s'], s.vars);
    assert.equal(scenario(chat, 'chat').verdict, 'not applicable');
    assert.match(scenario(chat, 'chat').not_applicable ?? '', /no direct messages between users; .* no rooms/);
  });

  interface Breakage {
    what: string;
    /** The suite that must catch it (default validate). */
    suite?: 'validate' | 'regression';
    options?: StackOptions;
    /** Variables that differ from what the stack says (what the gate requires of the deployment). */
    vars?: Record<string, string>;
    /** Something done to the running server once the validation has been running for a while. */
    during?: (s: CentrifugoStack) => Promise<void>;
    check: string;
    says: RegExp;
  }
  const BREAKAGES: Breakage[] = [
    {
      what: 'the token issuer signs with another secret than the one Centrifugo verifies with',
      options: { faults: { hmacMismatch: true } },
      check: 'websocket_connection',
      says: /FAILED websocket_connection: valid token \(first-frame\) is accepted and greeted as its user \(observed: HTTP 101, then refused: closed with 3500 invalid token/,
    },
    {
      what: "personal channels are not user-limited: anyone may subscribe to anyone's",
      options: { faults: { openPersonalChannels: true } },
      check: 'multi_user_isolation',
      says: /FAILED multi_user_isolation: asking for another user's personal stream is refused \(observed: user \S+ was subscribed to personal:#\S+\)/,
    },
    {
      what: 'any Origin is allowed (client.allowed_origins ["*"])',
      options: { allowedOrigins: ['*'] },
      check: 'websocket_connection',
      says: /FAILED websocket_connection: valid token from a foreign Origin is refused in-band \(observed: HTTP 101, greeted/,
    },
    {
      what: 'no RPC proxy: agent_run has no backend',
      options: { rpc: false },
      check: 'agent_events',
      says: /FAILED agent_events: agent run delivers all five events in order.*\(observed: run \(none\) of message \S+: missing agent_started.*no agent_completed within/,
    },
    {
      what: 'the server is killed during the run',
      during: async (s) => {
        // Once the run holds connections (the health check opens the first at its start), the idle
        // hold begins a second later and lasts 5 s: kill in the middle of it.
        while (!((await inflight(s)) > 0)) await new Promise((r) => setTimeout(r, 50));
        await new Promise((r) => setTimeout(r, 3000));
        await s.cf.kill();
      },
      check: 'load_balancer_timeout',
      says: /FAILED load_balancer_timeout: connection idle for 5 s is still open and alive \(observed: closed after [\d.]+ s idle with code 1006\)/,
    },
    {
      what: "Centrifugo's default 25 s ping interval where the gate requires vanished clients reaped within 8 s",
      suite: 'regression',
      options: { pingIntervalMs: 25_000, pongTimeoutMs: 8_000 },
      vars: { WSGATE_HEARTBEAT_TIMEOUT_MS: '8000', WSGATE_TESTS: 'connection_leak_regression' },
      check: 'connection_leak_regression',
      says: /FAILED connection_leak_regression: a client that vanishes without a packet is reaped within the heartbeat timeout of 8000 ms \+ 1000 ms and the connection count returns to its baseline \(observed: black-holed 3 connection\(s\) [\d.]+ s into the step; 3 still open at the server/,
    },
  ];

  for (const b of BREAKAGES) {
    const suite = b.suite ?? 'validate';
    test(`breakage: ${b.what} -> ${suite === 'validate' ? 'validation' : 'the regression suite'} fails, naming ${b.check}`, async () => {
      const s = await stack(b.options);
      let started: Promise<void> | undefined;
      const r = await wsgate([suite, '--env', 'local'], { ...s.vars, ...b.vars }, (err) => {
        if (b.during && !started && /validating env local/.test(err)) started = b.during(s);
      });
      await started;
      assert.equal(r.code, 1, show(r));
      assert.equal(r.result.verdict, 'fail');
      assert.equal(scenario(r, b.check).verdict, 'fail', JSON.stringify(scenario(r, b.check)));
      assert.match(r.out + r.err, b.says);
    });
  }
});
