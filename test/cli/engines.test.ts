/**
 * cli/engines.ts: which engine runs a suite (--engine > WSGATE_ENGINE > wsgate's own), and the user's
 * k6 when one is asked for (WSGATE_K6, else PATH; v2.2.x only). Fake k6 programs stand in: PATH is
 * always a temporary directory, so whatever is installed on the machine cannot leak in, and nothing
 * here builds, downloads or runs the real k6.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { K6_INSTALL_DOCS, engineFor, engineKind, findK6, k6Version, userK6, wsgateEngine } from '../../cli/engines.ts';
import { K6UnavailableError, UsageError } from '../../cli/errors.ts';
import { fakeK6Version, tempDir, writeExecutable } from './helpers.ts';

/** An empty bin directory for PATH, and the directory around it. */
function sandbox(): { root: string; bin: string } {
  const root = tempDir('wsgate-engines-');
  const bin = join(root, 'bin');
  mkdirSync(bin);
  return { root, bin };
}

/** Asserts `fn` rejects/throws an error of `cls` whose message is one line matching `message`. */
function oneSentence(err: unknown, cls: new (m: string) => Error, code: string, message: RegExp | string): true {
  assert.ok(err instanceof cls, `a ${cls.name}, got ${String(err)}`);
  assert.equal((err as { code?: string }).code, code);
  assert.doesNotMatch(err.message, /\n/, 'one line');
  if (typeof message === 'string') assert.equal(err.message, message);
  else assert.match(err.message, message);
  return true;
}

describe('engineKind: --engine, else WSGATE_ENGINE, else wsgate', () => {
  test('the default is the wsgate engine', () => {
    assert.equal(engineKind(undefined, {}), 'wsgate');
    assert.equal(engineKind(undefined, { WSGATE_ENGINE: '' }), 'wsgate', 'an empty variable is unset');
  });

  test('WSGATE_ENGINE when no flag is given', () => {
    assert.equal(engineKind(undefined, { WSGATE_ENGINE: 'k6' }), 'k6');
    assert.equal(engineKind(undefined, { WSGATE_ENGINE: 'wsgate' }), 'wsgate');
  });

  test('the flag wins over the variable, even over a bad one', () => {
    assert.equal(engineKind('wsgate', { WSGATE_ENGINE: 'k6' }), 'wsgate');
    assert.equal(engineKind('k6', { WSGATE_ENGINE: 'wsgate' }), 'k6');
    assert.equal(engineKind('k6', { WSGATE_ENGINE: 'bogus' }), 'k6');
  });

  test('"engine" is accepted for the wsgate engine', () => {
    assert.equal(engineKind('engine', {}), 'wsgate');
  });

  test('a bad flag: one sentence naming --engine, the value and the choices', () => {
    assert.throws(() => engineKind('bogus', {}), (e: unknown) => oneSentence(e, UsageError, 'WSGATE_USAGE', '--engine is "bogus"; use wsgate (the default) or k6'));
    // case matters: K6 is not k6
    assert.throws(() => engineKind('K6', {}), /^UsageError: --engine is "K6"; /);
  });

  test('a bad variable: one sentence naming WSGATE_ENGINE', () => {
    assert.throws(() => engineKind(undefined, { WSGATE_ENGINE: 'go' }), (e: unknown) => oneSentence(e, UsageError, 'WSGATE_USAGE', 'WSGATE_ENGINE is "go"; use wsgate (the default) or k6'));
  });
});

describe('findK6: WSGATE_K6, else the first k6 on PATH', { concurrency: true }, () => {
  test('none anywhere: one sentence naming WSGATE_K6 and the k6 installation page', () => {
    const s = sandbox();
    assert.throws(
      () => findK6({ PATH: s.bin }),
      (e: unknown) =>
        oneSentence(
          e,
          K6UnavailableError,
          'WSGATE_K6_UNAVAILABLE',
          `--engine k6 needs a k6 v2.2.x, and there is none on PATH and WSGATE_K6 is not set; install k6 (${K6_INSTALL_DOCS}) and set WSGATE_K6 to its path, or drop --engine k6 to run on the wsgate engine`,
        ),
    );
    assert.equal(K6_INSTALL_DOCS, 'https://grafana.com/docs/k6/latest/set-up/install-k6/');
    // No PATH at all is the same sentence.
    assert.throws(() => findK6({}), /there is none on PATH and WSGATE_K6 is not set; install k6 \(https:\/\/grafana\.com\/docs\/k6\/latest\/set-up\/install-k6\/\)/);
  });

  test('WSGATE_K6 that does not exist: one sentence naming it, PATH is not searched instead', () => {
    const s = sandbox();
    fakeK6Version(join(s.bin, 'k6'), 'v2.2.0');
    const missing = join(s.root, 'nope', 'k6');
    assert.throws(
      () => findK6({ PATH: s.bin, WSGATE_K6: missing }),
      (e: unknown) =>
        oneSentence(e, K6UnavailableError, 'WSGATE_K6_UNAVAILABLE', `WSGATE_K6 is "${missing}", which is not an executable file; point it at your k6 binary (${K6_INSTALL_DOCS})`),
    );
  });

  test('WSGATE_K6 that is not executable, or a directory: the same sentence', () => {
    const s = sandbox();
    const plain = join(s.root, 'k6');
    writeFileSync(plain, '#!/bin/sh\necho "k6 v2.2.0"\n', { mode: 0o644 });
    assert.throws(() => findK6({ PATH: s.bin, WSGATE_K6: plain }), new RegExp(`^K6UnavailableError: WSGATE_K6 is "${plain}", which is not an executable file; `));
    assert.throws(() => findK6({ PATH: s.bin, WSGATE_K6: s.bin }), /which is not an executable file/);
  });

  test('WSGATE_K6 wins over PATH', () => {
    const s = sandbox();
    fakeK6Version(join(s.bin, 'k6'), 'v2.2.0');
    const chosen = fakeK6Version(join(s.root, 'my-k6'), 'v2.2.1');
    assert.equal(findK6({ PATH: s.bin, WSGATE_K6: chosen }), chosen);
  });

  test('PATH in order, skipping a k6 that is not executable', () => {
    const s = sandbox();
    const first = join(s.root, 'first');
    const second = join(s.root, 'second');
    mkdirSync(first);
    mkdirSync(second);
    writeFileSync(join(first, 'k6'), 'not a program', { mode: 0o644 });
    const good = fakeK6Version(join(second, 'k6'), 'v2.2.0');
    assert.equal(findK6({ PATH: `${s.bin}:${first}:${second}` }), good);
  });
});

describe('k6Version: asks the program', { concurrency: true }, () => {
  test('a k6 that answers `version` like k6', async () => {
    const s = sandbox();
    assert.equal(await k6Version(fakeK6Version(join(s.root, 'k6'), 'v2.2.0'), {}), 'v2.2.0');
    assert.equal(await k6Version(fakeK6Version(join(s.root, 'k6-rc'), 'v2.2.3-rc.1'), {}), 'v2.2.3-rc.1');
  });

  test('a program that answers something else: one sentence quoting its first line', async () => {
    const s = sandbox();
    const other = writeExecutable(join(s.root, 'other'), '#!/bin/sh\necho "usage: other [flags]"\necho "second line"\nexit 2\n');
    await assert.rejects(k6Version(other, {}), (e: unknown) =>
      oneSentence(e, K6UnavailableError, 'WSGATE_K6_UNAVAILABLE', `${other} does not answer \`version\` like k6 (it printed "usage: other [flags]"); point WSGATE_K6 at your k6 binary (${K6_INSTALL_DOCS})`),
    );
  });

  test('a program that cannot be started: one sentence with the system error', async () => {
    const s = sandbox();
    const missing = join(s.root, 'gone');
    await assert.rejects(k6Version(missing, {}), (e: unknown) =>
      oneSentence(e, K6UnavailableError, 'WSGATE_K6_UNAVAILABLE', `the k6 at ${missing} cannot be run (ENOENT); point WSGATE_K6 at your k6 binary (${K6_INSTALL_DOCS})`),
    );
  });
});

describe('userK6 and the two engines', { concurrency: true }, () => {
  test('a k6 of another version is refused, naming both versions and what to do', async () => {
    const s = sandbox();
    const old = fakeK6Version(join(s.root, 'old-k6'), 'v0.54.0');
    await assert.rejects(userK6({ PATH: s.bin, WSGATE_K6: old }), (e: unknown) =>
      oneSentence(
        e,
        K6UnavailableError,
        'WSGATE_K6_UNAVAILABLE',
        `the k6 at ${old} is v0.54.0, but the k6 bundles are written for k6 v2.2.x; point WSGATE_K6 at a k6 v2.2.x (${K6_INSTALL_DOCS}) or run on the wsgate engine`,
      ),
    );
    // v2.20 is not v2.2
    const near = fakeK6Version(join(s.root, 'k6-220'), 'v2.20.0');
    await assert.rejects(userK6({ PATH: s.bin, WSGATE_K6: near }), /is v2\.20\.0, but the k6 bundles are written for k6 v2\.2\.x/);
  });

  test('a k6 v2.2.x: runs dist/<suite>.js with `run`, its label says which k6, its variables are k6\'s', async () => {
    const s = sandbox();
    const k6 = fakeK6Version(join(s.bin, 'k6'), 'v2.2.4');
    const engine = await userK6({ PATH: s.bin });
    assert.equal(engine.kind, 'k6');
    assert.equal(engine.command, k6);
    assert.deepEqual(engine.baseArgs, ['run']);
    assert.equal(engine.label, `k6 v2.2.4 (${k6})`);
    assert.equal(engine.bundle('/repo', 'deployment-validation'), '/repo/dist/deployment-validation.js');
    assert.deepEqual(engine.extraEnv('/ca.pem', {}), { SSL_CERT_FILE: '/ca.pem', K6_NO_USAGE_REPORT: 'true' });
    assert.deepEqual(engine.extraEnv(undefined, { K6_NO_USAGE_REPORT: 'false' }), { K6_NO_USAGE_REPORT: 'false' }, 'the user may opt in to the usage report');
  });

  test('the wsgate engine: this Node on dist/node/engine.mjs, dist/engine/<suite>.mjs, Node\'s CA variable', () => {
    const engine = wsgateEngine('/repo');
    assert.equal(engine.kind, 'wsgate');
    assert.equal(engine.command, process.execPath);
    assert.deepEqual(engine.baseArgs, ['/repo/dist/node/engine.mjs', 'run']);
    assert.equal(engine.label, 'wsgate engine');
    assert.equal(engine.bundle('/repo', 'multi-user'), '/repo/dist/engine/multi-user.mjs');
    assert.deepEqual(engine.extraEnv('/ca.pem', {}), { NODE_EXTRA_CA_CERTS: '/ca.pem' });
    assert.deepEqual(engine.extraEnv(undefined, {}), {});
  });

  test('engineFor: the wsgate engine never looks for k6; k6 does', async () => {
    const s = sandbox();
    assert.equal((await engineFor('wsgate', '/repo', { PATH: s.bin, WSGATE_K6: '/nonexistent/k6' })).kind, 'wsgate');
    await assert.rejects(engineFor('k6', '/repo', { PATH: s.bin }), K6UnavailableError);
  });
});
