/**
 * A real headless Chromium for tests: finding and launching it, cutting a page off from all
 * but loopback, and the app served to it on a free port.
 *
 * @example
 * let site: AppForBrowser;
 * before(async () => {
 *   site = await serveAppToBrowser();
 * });
 * after(() => site?.close());
 * test('…', async (t) => {
 *   if (!site.browser) return t.skip(noBrowserReason());
 *   const { page, blocked, pageErrors } = await openCutOffPage(site.browser, t);
 *   await page.goto(`${site.origin}/docs`);
 * });
 */
import { existsSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { createApp } from '../../src/app.ts';
import { listen, type RunningServer } from '../../src/core/http-server.ts';
import { createTestDeps } from './deps.ts';

/** Where a Chromium is looked for, in order: `CHROMIUM_PATH`, then the Debian/Ubuntu paths. */
export function chromiumCandidates(): string[] {
  const fromEnv = process.env.CHROMIUM_PATH;
  return [...(fromEnv ? [fromEnv] : []), '/usr/bin/chromium', '/usr/bin/chromium-browser'];
}

/** The first Chromium executable that exists, if any. */
export function findChromium(): string | undefined {
  return chromiumCandidates().find((path) => existsSync(path));
}

/** Why `launchBrowser()` returned `undefined`: the reason a test gives when it skips. */
export function noBrowserReason(): string {
  return `no Chromium found (looked at ${chromiumCandidates().join(', ')}); set CHROMIUM_PATH, or REQUIRE_BROWSER=1 to fail instead of skipping`;
}

/** Quiet, offline-friendly flags: no background traffic of the browser's own. */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-quic',
  '--no-first-run',
  '--disable-sync',
];

/**
 * A headless Chromium driven by playwright-core, or `undefined` when none is installed, so
 * the caller can skip with `noBrowserReason()`. With `REQUIRE_BROWSER=1` (CI) a missing
 * browser throws instead: a skipped browser test must not pass silently there.
 *
 * @example
 * const browser = await launchBrowser();
 * if (!browser) return t.skip(noBrowserReason());
 */
export async function launchBrowser(): Promise<Browser | undefined> {
  const executablePath = findChromium();
  if (executablePath === undefined) {
    if (process.env.REQUIRE_BROWSER === '1') {
      throw new Error(`REQUIRE_BROWSER=1 but ${noBrowserReason()}`);
    }
    return undefined;
  }
  return chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
}

const NETWORK_SCHEMES = new Set(['http:', 'https:', 'ws:', 'wss:']);
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

/** True for URLs that stay on this machine (and for non-network schemes like `data:`). */
export function isLoopback(url: URL): boolean {
  if (!NETWORK_SCHEMES.has(url.protocol)) return true;
  return LOOPBACK_HOSTS.has(url.hostname) || url.hostname.endsWith('.localhost');
}

export interface BlockedRequest {
  url: string;
  /** Playwright's resource type: `script`, `stylesheet`, `font`, `fetch`, `websocket`... */
  resourceType: string;
}

/**
 * Cuts `target` off the network except loopback: every other HTTP request is aborted as
 * `internetdisconnected` and every other WebSocket is closed, and each is recorded in the
 * returned list (filled as the page runs), so a test can assert nothing was attempted.
 * Call it before navigating. A context covers its popups and workers too.
 */
export async function cutNetwork(target: Page | BrowserContext): Promise<BlockedRequest[]> {
  const blocked: BlockedRequest[] = [];
  const offLoopback = (url: URL) => !isLoopback(url);
  await target.route(offLoopback, async (route, request) => {
    blocked.push({ url: request.url(), resourceType: request.resourceType() });
    await route.abort('internetdisconnected');
  });
  await target.routeWebSocket(offLoopback, async (socket) => {
    blocked.push({ url: socket.url(), resourceType: 'websocket' });
    await socket.close({ code: 1001, reason: 'network cut by the test' });
  });
  return blocked;
}

export interface CutOffPage {
  page: Page;
  /** What the page tried to reach off this machine, filled as it runs (see `cutNetwork`). */
  blocked: BlockedRequest[];
  /** The message of every error the page threw, filled as it runs. */
  pageErrors: string[];
}

/**
 * A page in a fresh 1280×900 context of `browser`, cut off from all but loopback before any
 * navigation; the context is closed when test `t` ends.
 */
export async function openCutOffPage(browser: Browser, t: TestContext): Promise<CutOffPage> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  t.after(() => context.close());
  const blocked = await cutNetwork(context);
  const page = await context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  return { page, blocked, pageErrors };
}

/** The app served on 127.0.0.1 for a browser to load, and the browser; for one test file. */
export interface AppForBrowser {
  /** `http://127.0.0.1:<port>`, where the app answers. */
  origin: string;
  /** `undefined` when no Chromium is installed: the test skips with `noBrowserReason()`. */
  browser: Browser | undefined;
  /** Closes the browser, drains the server and closes the test dependencies. */
  close(): Promise<void>;
}

/** Serves the app (on its own test dependencies) on a free loopback port and launches a browser. */
export async function serveAppToBrowser(): Promise<AppForBrowser> {
  const deps = await createTestDeps();
  let server: RunningServer | undefined;
  let browser: Browser | undefined;
  const close = async () => {
    await browser?.close();
    await server?.drain(1_000);
    await deps.close();
  };
  try {
    const app = createApp(deps);
    server = await listen({ fetch: app.fetch, host: '127.0.0.1', port: 0 });
    browser = await launchBrowser();
  } catch (error) {
    await close();
    throw error;
  }
  return { origin: `http://127.0.0.1:${server.port}`, browser, close };
}
