/**
 * HTML reports rendered in a real headless Chromium (Debian's chromium, driven by playwright-core),
 * offline: the page may load only file: URLs; any other request is refused and recorded, and so is
 * every page error, console error or warning and dialog, for the test to assert none happened.
 * Without a chromium the test skips with one line, except under CI=true, where it fails.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium as playwright } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';
import { skipOrFailInCi } from './tools.ts';

/** Flags for a headless Chromium that talks to nothing but the page it is given. */
export const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** The chromium to use: WSGATE_CHROMIUM, else chromium or chromium-browser on PATH, else /usr/bin/chromium; one that answers --version. */
export function findChromium(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const onPath = (name: string): string[] => (isAbsolute(name) ? [name] : (env['PATH'] ?? '').split(delimiter).filter(Boolean).map((d) => join(d, name)));
  for (const bin of [env['WSGATE_CHROMIUM'], 'chromium', 'chromium-browser', '/usr/bin/chromium'].filter(Boolean).flatMap((b) => onPath(b as string))) {
    if (!existsSync(bin)) continue;
    const r = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 20_000 });
    // An absolute path: playwright-core launches nothing else.
    if (r.status === 0) return bin;
  }
  return undefined;
}

/** The chromium, or undefined after skipping the test (failing it under CI=true) when there is none. */
export function chromiumOrSkip(t: { skip(message: string): void }): string | undefined {
  const bin = findChromium();
  if (!bin) skipOrFailInCi(t, "chromium is not installed (apt-get install chromium; .ci/run installs Debian's chromium package)");
  return bin;
}

/** A page with a file open in it, and what went wrong while it loaded and ran. */
export interface OfflinePage {
  page: Page;
  /** Page errors, console errors and warnings, dialogs. */
  errors: string[];
  /** URLs other than file: the page asked for (all refused). */
  network: string[];
  /** Closes the browser. */
  close(): Promise<void>;
}

/** Opens `file` in headless Chromium (`bin`, from {@link findChromium}) with the network refused. */
export async function openOffline(bin: string, file: string): Promise<OfflinePage> {
  const browser: Browser = await playwright.launch({ executablePath: bin, args: CHROMIUM_FLAGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const errors: string[] = [];
    const network: string[] = [];
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') errors.push(`console.${m.type()}: ${m.text()}`);
    });
    page.on('dialog', (d) => {
      errors.push(`dialog: ${d.message()}`);
      void d.dismiss();
    });
    await page.route('**', (r) => {
      const url = r.request().url();
      if (url.startsWith('file:')) return r.continue();
      network.push(url);
      return r.abort();
    });
    await page.goto(pathToFileURL(file).href);
    return { page, errors, network, close: () => browser.close() };
  } catch (error) {
    await browser.close();
    throw error;
  }
}

/**
 * Per chart of the page ([data-chart] holding a canvas), how many of its pixels are in a series'
 * colours: axes and grid are grey, so a chart with none drew its axes without a series. The script is
 * a string because the tests are checked under Node's types, without the DOM's.
 */
export function colouredPixelsPerChart(page: Page): Promise<number[]> {
  return page.evaluate<number[]>(`Array.from(document.querySelectorAll('[data-chart]'), (el) => {
    const canvas = el.querySelector('canvas');
    const px = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 0; i < px.length; i += 4) if (px[i + 3] > 0 && Math.max(px[i], px[i + 1], px[i + 2]) - Math.min(px[i], px[i + 1], px[i + 2]) > 60) n++;
    return n;
  })`);
}
