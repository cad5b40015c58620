#!/usr/bin/env node
// Entry point of `wsgate`. Rebuilds the bundles when a source changed (so a checkout never runs stale
// code), then hands over to the CLI bundle. Only failures here, before the CLI exists, are handled in
// this file: one sentence and exit 4 (the CLI's "no verdict"), with a stack only when WSGATE_DEBUG=1.
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const debug = process.env.WSGATE_DEBUG === '1';

function fail(what, err, { withReason = true } = {}) {
  const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
  process.stderr.write(`wsgate: ${what}${withReason ? ` (${reason})` : ''}${debug ? '' : '; set WSGATE_DEBUG=1 for details'}\n`);
  if (debug && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  process.exitCode = 4;
}

async function run() {
  try {
    const { isStale, build } = await import(pathToFileURL(join(root, 'build.mjs')).href);
    if (isStale()) {
      process.stderr.write('wsgate: sources changed since the last build; rebuilding dist/\n');
      await build();
    }
  } catch (err) {
    // esbuild has already printed each error with its file and line.
    return fail('the build failed, so the CLI cannot start; fix the errors above and run npm run build', err, { withReason: false });
  }
  let cli;
  try {
    cli = await import(pathToFileURL(join(root, 'dist/node/cli.mjs')).href);
  } catch (err) {
    return fail('cannot load dist/node/cli.mjs; run npm run build', err);
  }
  try {
    process.exitCode = await cli.main(process.argv.slice(2), process.env);
  } catch (err) {
    // main() maps every failure it knows to an exit code; anything reaching here is a bug.
    fail('unexpected error', err);
  }
}

await run();
