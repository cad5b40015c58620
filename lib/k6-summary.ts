/**
 * handleSummary for every wsgate suite: writes results/<suite>-<env>-<stamp>.json and .junit.xml
 * (plus WSGATE_OUTPUT_FILE when set) and prints the text summary. k6 does not create directories:
 * the CLI creates WSGATE_RESULTS_DIR; under plain `k6 run` the repo's results/ exists already.
 */
import { runtime } from '#runtime';
import type { Config } from './core/config.ts';
import type { EvidenceFamily } from './core/evidence.ts';
import { redactUrl } from './core/url.ts';
import { buildResult, renderJUnit, renderText } from './core/summary.ts';
import type { K6SummaryData } from './core/summary.ts';

export function writeSummary(
  suite: string,
  config: Config | undefined,
  scenarios: string[],
  data: K6SummaryData,
  owners?: Record<string, string>,
  /** The evidence families this suite answers for (lib/core/evidence.ts); the others are reported when gathered. */
  enforced: readonly EvidenceFamily[] = [],
): Record<string, string> {
  const finishedAt = new Date();
  const env = config?.env ?? runtime.env['WSGATE_ENV'] ?? 'unknown';
  const stamp = runtime.env['WSGATE_RUN_STAMP'] || finishedAt.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const dir = (runtime.env['WSGATE_RESULTS_DIR'] || 'results').replace(/\/+$/, '');
  const base = `${dir}/${suite}-${env}-${stamp}`;
  const target: Record<string, string> = config ? { ws_url: redactUrl(config.wsUrl), http_url: redactUrl(config.httpUrl), auth_url: redactUrl(config.authUrl) } : {};
  const evidence = config ? { floor: config.detectionFloor, policy: config.evidencePolicy, enforced } : undefined;
  const result = buildResult(data, { suite, env, target, scenarios, finishedAt, owners, ...(evidence ? { evidence } : {}) });
  const json = JSON.stringify(result, null, 2) + '\n';
  const files: Record<string, string> = {
    [`${base}.json`]: json,
    [`${base}.junit.xml`]: renderJUnit(result),
  };
  const extra = runtime.env['WSGATE_OUTPUT_FILE'];
  if (extra) files[extra] = json;
  files['stdout'] = renderText(result, Object.keys(files));
  return files;
}
