import { existsSync } from 'node:fs';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

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
