/**
 * The dialect seam holds: the reference chat protocol's message names and fields appear only in its
 * dialect (lib/dialects/wsgate-chat.ts) and in the service that speaks it (reference-service/), never
 * in the scenarios, the checks, the session, the engine or the CLI, which speak the dialect's vocabulary.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

/** Message types and fields of docs/protocol.md that belong to the chat protocol alone. */
const CHAT_LITERALS = [
  'connection_established',
  'user_message',
  'direct_message',
  'room_message',
  'join_room',
  'leave_room',
  'room_joined',
  'room_left',
  'token_refreshed',
  'refresh_rejected',
  'to_user_id',
  'from_user_id',
  'expires_at',
  'wsgate.v1',
];

const ALLOWED = new Set(['lib/dialects/wsgate-chat.ts']);
const ROOMS = ['lib', 'scenarios', 'engine', 'cli'];

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Every `file:line names literal` in the given files. */
function scan(paths: readonly string[]): string[] {
  const found: string[] = [];
  for (const file of paths) {
    const text = readFileSync(file, 'utf8');
    for (const literal of CHAT_LITERALS) {
      const at = text.indexOf(literal);
      if (at >= 0) found.push(`${relative(REPO, file)}:${text.slice(0, at).split('\n').length} names ${literal}`);
    }
  }
  return found;
}

test('chat-protocol literals appear only in the chat dialect', () => {
  const paths = ROOMS.flatMap((room) => files(join(REPO, room))).filter((f) => !ALLOWED.has(relative(REPO, f)));
  assert.ok(paths.length > 50, `the scan covers the code (${paths.length} files)`);
  assert.deepEqual(scan(paths), []);
});

test('the scan finds the literals where they are (the test can fail)', () => {
  assert.ok(scan([join(REPO, 'lib/dialects/wsgate-chat.ts')]).length >= 10);
});
