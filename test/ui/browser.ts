// Debian's Chromium driven headless by playwright-core (no browser download), with a fresh profile
// per launch; collects page errors and console errors (CSP violations land there) for assertions.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env['JAS_CHROMIUM'] ?? '/usr/bin/chromium';
/** Flags that keep Chromium quiet and local: no GPU, no QUIC, no update or sync traffic. */
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

export interface TestBrowser {
  context: BrowserContext;
  page: Page;
  /** page errors and console errors seen so far */
  problems: string[];
  close(): Promise<void>;
}

export async function launchBrowser(viewport = { width: 390, height: 844 }): Promise<TestBrowser> {
  const profile = await mkdtemp(path.join(tmpdir(), 'jas-ui-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS, viewport, timeout: 30_000,
      deviceScaleFactor: 2, isMobile: true, hasTouch: true,
    });
  } catch (err) {
    await rm(profile, { recursive: true, force: true });
    throw err;
  }
  const page = context.pages()[0] ?? await context.newPage();
  page.setDefaultTimeout(10_000);
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => { if (msg.type() === 'error') problems.push(`console: ${msg.text()}`); });
  return {
    context, page, problems,
    close: async () => {
      await context.close().catch(() => undefined);
      await rm(profile, { recursive: true, force: true });
    },
  };
}
