/**
 * ensureK6's resolution order, its build path and its lock, with fake k6 and Go binaries: no test here
 * builds the real k6 (validate.e2e.test.ts uses the real one). PATH is always a temporary directory of
 * fakes, so whatever is installed on the machine cannot leak in.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { K6UnavailableError } from '../../cli/errors.ts';
import {
  K6_VERSION,
  ensureK6,
  isAcceptedK6Version,
  k6CachePath,
  meaningfulGoErrorLine,
  parseGoVersion,
  parseK6Version,
} from '../../cli/k6-runtime.ts';
import { fakeGo, fakeK6Version, tempDir } from './helpers.ts';

const PROXY_403 = `go: downloading golang.org/x/mod v0.20.0
go: go.k6.io/xk6@v1.4.0: go.k6.io/xk6@v1.4.0: reading https://proxy.golang.org/go.k6.io/xk6/@v/v1.4.0.info: 403 Forbidden
\tserver response: This module version is not available.
`;

/** A sandbox: empty cache, PATH of one empty bin directory, a log for the fake Go. */
function sandbox() {
  const root = tempDir();
  const bin = join(root, 'bin');
  const cache = join(root, 'cache');
  mkdirSync(bin);
  const goLog = join(root, 'go.log');
  const lines: string[] = [];
  const env: Record<string, string> = { PATH: bin, HOME: root, WSGATE_K6_CACHE: cache, FAKE_GO_LOG: goLog };
  const goCalls = () =>
    existsSync(goLog)
      ? readFileSync(goLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { args: string[]; GOFLAGS?: string; CGO_ENABLED?: string; GOBIN?: string })
      : [];
  return { root, bin, cache, env, lines, log: (l: string) => lines.push(l), goCalls };
}

describe('version and error parsing', () => {
  test('k6 versions: only v2.2.x is accepted', () => {
    assert.equal(parseK6Version('k6 v2.2.0 (go1.26.8, linux/amd64)'), 'v2.2.0');
    assert.equal(parseK6Version('k6 v2.2.3-rc.1 (commit/devel, go1.26.8)\nExtensions:\n  ...'), 'v2.2.3-rc.1');
    assert.equal(parseK6Version('something else'), undefined);
    assert.ok(isAcceptedK6Version('v2.2.0'));
    assert.ok(isAcceptedK6Version('v2.2.7'));
    assert.ok(!isAcceptedK6Version('v2.20.0'));
    assert.ok(!isAcceptedK6Version('v2.3.0'));
    assert.ok(!isAcceptedK6Version('v1.2.0'));
  });

  test('Go versions', () => {
    assert.deepEqual(parseGoVersion('go version go1.26.8 linux/amd64'), { major: 1, minor: 26, text: 'go1.26.8' });
    assert.deepEqual(parseGoVersion('go version go1.25rc1 linux/amd64'), { major: 1, minor: 25, text: 'go1.25rc1' });
    assert.equal(parseGoVersion('bash: go: not found'), undefined);
  });

  test("the meaningful line of Go's output skips progress and indented detail", () => {
    assert.equal(meaningfulGoErrorLine(PROXY_403), 'go.k6.io/xk6@v1.4.0: reading https://proxy.golang.org/go.k6.io/xk6/@v/v1.4.0.info: 403 Forbidden');
    assert.equal(meaningfulGoErrorLine('go: downloading a v1\n./x.go:1:1: boom\n'), './x.go:1:1: boom');
    assert.equal(meaningfulGoErrorLine(''), 'no output');
    assert.ok(meaningfulGoErrorLine('x'.repeat(1000)).length <= 300);
  });

  test('cache location: WSGATE_K6_CACHE, else XDG_CACHE_HOME/wsgate, else ~/.cache/wsgate', () => {
    assert.equal(k6CachePath({ WSGATE_K6_CACHE: '/c', XDG_CACHE_HOME: '/x', HOME: '/h' }), `/c/k6-${K6_VERSION}/k6`);
    assert.equal(k6CachePath({ XDG_CACHE_HOME: '/x', HOME: '/h' }), `/x/wsgate/k6-${K6_VERSION}/k6`);
    assert.equal(k6CachePath({ HOME: '/h' }), `/h/.cache/wsgate/k6-${K6_VERSION}/k6`);
    // The XDG spec: a relative XDG_CACHE_HOME is invalid and ignored.
    assert.equal(k6CachePath({ XDG_CACHE_HOME: 'rel', HOME: '/h' }), `/h/.cache/wsgate/k6-${K6_VERSION}/k6`);
  });
});

describe('resolution order', { concurrency: true }, () => {
  test('WSGATE_K6 wins over the cache and PATH', async () => {
    const s = sandbox();
    const chosen = fakeK6Version(join(s.root, 'my-k6'), 'v2.2.1');
    fakeK6Version(join(s.bin, 'k6'), 'v2.2.0');
    mkdirSync(join(s.cache, `k6-${K6_VERSION}`), { recursive: true });
    fakeK6Version(k6CachePath(s.env), 'v2.2.0');
    assert.deepEqual(await ensureK6({ env: { ...s.env, WSGATE_K6: chosen }, log: s.log }), { path: chosen, version: 'v2.2.1', source: 'env' });
  });

  test('WSGATE_K6 with another version is refused, not replaced', async () => {
    const s = sandbox();
    const chosen = fakeK6Version(join(s.root, 'old-k6'), 'v0.54.0');
    fakeK6Version(join(s.bin, 'k6'), 'v2.2.0');
    await assert.rejects(ensureK6({ env: { ...s.env, WSGATE_K6: chosen }, log: s.log }), (err: unknown) => {
      assert.ok(err instanceof K6UnavailableError);
      assert.equal(err.code, 'WSGATE_K6_UNAVAILABLE');
      assert.match(err.message, /^WSGATE_K6 points at k6 v0\.54\.0 \(.*old-k6\), but wsgate needs k6 v2\.2\.x; /);
      return true;
    });
  });

  test('WSGATE_K6 that does not exist says so', async () => {
    const s = sandbox();
    await assert.rejects(ensureK6({ env: { ...s.env, WSGATE_K6: join(s.root, 'nope') }, log: s.log }), /WSGATE_K6 points at .*nope, which cannot be run \(ENOENT\)/);
  });

  test('the cache comes before PATH', async () => {
    const s = sandbox();
    fakeK6Version(join(s.bin, 'k6'), 'v2.2.0');
    mkdirSync(join(s.cache, `k6-${K6_VERSION}`), { recursive: true });
    const cached = fakeK6Version(k6CachePath(s.env), 'v2.2.0');
    assert.deepEqual(await ensureK6({ env: s.env, log: s.log }), { path: cached, version: 'v2.2.0', source: 'cache' });
  });

  test('a k6 on PATH with the wrong version is skipped (with a note) for a later one', async () => {
    const s = sandbox();
    const second = join(s.root, 'bin2');
    mkdirSync(second);
    fakeK6Version(join(s.bin, 'k6'), 'v1.3.0');
    const good = fakeK6Version(join(second, 'k6'), 'v2.2.4');
    const env = { ...s.env, PATH: `${s.bin}:${second}` };
    assert.deepEqual(await ensureK6({ env, log: s.log }), { path: good, version: 'v2.2.4', source: 'path' });
    assert.deepEqual(s.lines, [`ignoring ${join(s.bin, 'k6')}: it is k6 v1.3.0, not v2.2.x`]);
  });
});

describe('building k6', { concurrency: true }, () => {
  test('without Go: one sentence asking for Go >= 1.25', async () => {
    const s = sandbox(); // PATH holds nothing at all
    await assert.rejects(ensureK6({ env: s.env, log: s.log }), (err: unknown) => {
      assert.ok(err instanceof K6UnavailableError);
      assert.equal(
        err.message,
        'k6 v2.2.0 is not installed and cannot be built because Go is not installed (no `go` on PATH); install Go >= 1.25 from https://go.dev/dl/ and run `wsgate install-k6`, or set WSGATE_K6 to a k6 v2.2.x binary',
      );
      return true;
    });
    // The lock is released and nothing half-built is left behind.
    assert.deepEqual(readdirSync(join(s.cache, `k6-${K6_VERSION}`)), []);
  });

  test('with Go older than 1.25: names the version found', async () => {
    const s = sandbox();
    fakeGo(s.bin);
    await assert.rejects(ensureK6({ env: { ...s.env, FAKE_GO_VERSION: 'go1.22.5' }, log: s.log }), /needs Go >= 1\.25 to build, but found go1\.22\.5; install Go >= 1\.25/);
    assert.deepEqual(s.goCalls().map((c) => c.args[0]), ['version']);
  });

  test('xk6 refused by the proxy: one line, then the plain go build; the result is cached', async () => {
    const s = sandbox();
    fakeGo(s.bin);
    const env = { ...s.env, GOFLAGS: '-buildvcs=false' };
    const k6 = await ensureK6({ env, log: s.log });
    assert.deepEqual(k6, { path: k6CachePath(env), version: 'v2.2.0', source: 'built' });

    const calls = s.goCalls();
    assert.deepEqual(
      calls.map((c) => c.args.join(' ')),
      ['version', 'install go.k6.io/xk6@v1.4.0', 'mod tidy', `build -trimpath -o ${calls[3]?.args[3]} go.k6.io/k6/v2`],
    );
    for (const c of calls.slice(1)) {
      assert.equal(c.CGO_ENABLED, '0');
      assert.equal(c.GOFLAGS, '-buildvcs=false -mod=mod', 'the user GOFLAGS are kept and -mod=mod added');
    }
    assert.match(calls[1]?.GOBIN ?? '', /\.build-\d+-[0-9a-f]+\/gobin$/, 'xk6 goes into a temporary GOBIN');
    assert.ok(s.lines.includes(
      'xk6 is not available from the Go module proxy (go.k6.io/xk6@v1.4.0: reading https://proxy.golang.org/go.k6.io/xk6/@v/v1.4.0.info: 403 Forbidden); building plain k6 v2.2.0 from go.k6.io/k6/v2 instead, which is what xk6 does without extensions',
    ), s.lines.join('\n'));
    // Only the binary remains: no temporary build directory, no lock.
    assert.deepEqual(readdirSync(join(s.cache, `k6-${K6_VERSION}`)), ['k6']);

    // The second call finds it in the cache and runs no Go at all.
    assert.equal((await ensureK6({ env, log: s.log })).source, 'cache');
    assert.equal(s.goCalls().length, calls.length);
  });

  test('a failing go build: one sentence with the compiler line, nothing left behind', async () => {
    const s = sandbox();
    fakeGo(s.bin);
    await assert.rejects(ensureK6({ env: { ...s.env, FAKE_GO_BUILD_FAIL: '1' }, log: s.log }), (err: unknown) => {
      assert.ok(err instanceof K6UnavailableError);
      assert.equal(
        err.message,
        'building k6 v2.2.0 failed at `go build` (example.com/x/y.go:3:1: syntax error: boom); fix that and run `wsgate install-k6` again, or set WSGATE_K6 to a k6 v2.2.x binary',
      );
      return true;
    });
    assert.deepEqual(readdirSync(join(s.cache, `k6-${K6_VERSION}`)), []);
  });

  test('a cached binary that is not k6 v2.2.x is rebuilt', async () => {
    const s = sandbox();
    fakeGo(s.bin);
    mkdirSync(join(s.cache, `k6-${K6_VERSION}`), { recursive: true });
    writeFileSync(k6CachePath(s.env), 'truncated');
    const k6 = await ensureK6({ env: s.env, log: s.log });
    assert.equal(k6.source, 'built');
    assert.match(s.lines[0] ?? '', /^the cached k6 at .* cannot be run \(EACCES\); rebuilding it$/);
  });
});

describe('the build lock', { concurrency: true }, () => {
  test('two concurrent callers: one builds, the other waits and uses its result', async () => {
    const s = sandbox();
    fakeGo(s.bin);
    const env = { ...s.env, FAKE_GO_BUILD_MS: '800' };
    const [a, b] = await Promise.all([ensureK6({ env, log: s.log }), ensureK6({ env, log: s.log })]);
    assert.deepEqual([a.source, b.source].sort(), ['built', 'cache']);
    assert.equal(s.goCalls().filter((c) => c.args[0] === 'build').length, 1);
    assert.ok(s.lines.some((l) => /^waiting for another wsgate \(pid \d+\) that is building k6 v2\.2\.0$/.test(l)), s.lines.join('\n'));
  });

  test("a lock whose process is gone is taken over", async () => {
    const s = sandbox();
    fakeGo(s.bin);
    const dead = spawnSync(process.execPath, ['-e', '0']).pid; // exited: its pid names no live process
    const lock = join(s.cache, `k6-${K6_VERSION}`, '.lock');
    mkdirSync(lock, { recursive: true });
    writeFileSync(join(lock, 'owner.json'), JSON.stringify({ pid: dead, host: hostname(), started: new Date().toISOString() }));
    assert.equal((await ensureK6({ env: s.env, log: s.log })).source, 'built');
    assert.ok(s.lines.includes(`taking over the k6 build lock ${lock}: its process ${dead} is gone`), s.lines.join('\n'));
  });

  test('a live lock holder is waited for until the timeout, then one sentence', async () => {
    const s = sandbox();
    fakeGo(s.bin);
    const lock = join(s.cache, `k6-${K6_VERSION}`, '.lock');
    mkdirSync(lock, { recursive: true });
    writeFileSync(join(lock, 'owner.json'), JSON.stringify({ pid: process.pid, host: hostname(), started: new Date().toISOString() }));
    await assert.rejects(ensureK6({ env: s.env, log: s.log, lockTimeoutMs: 400 }), /^K6UnavailableError: another process has held the k6 build lock .*\.lock for over 0\.4 s; remove that directory if no build is running and try again$/);
    assert.ok(existsSync(lock), "someone else's live lock is never removed");
    assert.equal(s.goCalls().length, 0);
  });

  test('a lock older than the stale limit is taken over whoever holds it', async () => {
    const s = sandbox();
    fakeGo(s.bin);
    const lock = join(s.cache, `k6-${K6_VERSION}`, '.lock');
    mkdirSync(lock, { recursive: true });
    writeFileSync(join(lock, 'owner.json'), JSON.stringify({ pid: process.pid, host: hostname(), started: '2020-01-01T00:00:00Z' }));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal((await ensureK6({ env: s.env, log: s.log, staleLockMs: 10 })).source, 'built');
  });
});
