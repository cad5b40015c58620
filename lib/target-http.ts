/**
 * The target's HTTP side as the dialects see it: requests through the runtime port (both engines),
 * and the addresses and server API credentials from the configuration.
 */
import { runtime } from '#runtime';
import type { Config } from './core/config.ts';
import type { DialectHttp, DialectTarget, HealthReading } from './dialects/dialect.ts';
import { dialectFor } from './dialect-for.ts';

const dialectHttp: DialectHttp = {
  request: (r) => runtime.http({ ...r, timeoutMs: 10_000 }),
};

function dialectTarget(config: Config): DialectTarget {
  return { httpUrl: config.httpUrl, authUrl: config.authUrl, apiUrl: config.serverApiUrl, apiKey: config.serverApiKey };
}

/** The target's health reading through its dialect; `error` says why there is none. */
export async function readHealth(config: Config): Promise<{ health: HealthReading | undefined; status: number; error: string }> {
  const r = await dialectFor(config).readHealth(dialectHttp, dialectTarget(config));
  return { health: r.reading, status: r.status, error: r.error ?? '' };
}
