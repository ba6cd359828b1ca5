/**
 * `/docs` in a real headless Chromium, cut off from everything but loopback: the Scalar page
 * must load from this server alone, under its Content-Security-Policy without a violation, and
 * list every operation of the document, unclicked.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  type AppForBrowser,
  noBrowserReason,
  openCutOffPage,
  serveAppToBrowser,
} from '../support/browser.ts';
import { recordCspViolations } from '../support/csp.ts';

const SCREENSHOT = '/tmp/docs.png';
const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

interface Operation {
  summary?: string;
  operationId?: string;
}

let site: AppForBrowser;

before(async () => {
  site = await serveAppToBrowser();
});

after(() => site?.close());

test('/docs renders offline and lists every operation without a click', async (t) => {
  const { browser, origin } = site;
  if (!browser) {
    t.skip(noBrowserReason());
    return;
  }
  const document = (await (await fetch(`${origin}/openapi.json`)).json()) as {
    info: { title: string };
    paths: Record<string, Partial<Record<string, Operation>>>;
  };
  const summaries = Object.values(document.paths).flatMap((pathItem) =>
    HTTP_METHODS.flatMap((method) => pathItem[method] ?? []).map(
      (operation) => operation.summary ?? `(no summary: ${operation.operationId})`,
    ),
  );
  assert.ok(summaries.length > 0, 'the document lists no operation');

  const { page, blocked, pageErrors } = await openCutOffPage(browser, t);
  const failedLocal: string[] = [];
  page.on('requestfailed', (request) => {
    const url = new URL(request.url());
    if (url.origin === origin)
      failedLocal.push(`${request.url()}: ${request.failure()?.errorText}`);
  });
  page.on('response', (response) => {
    if (response.status() >= 400) failedLocal.push(`${response.url()}: ${response.status()}`);
  });

  const violations = await recordCspViolations(page);

  const response = await page.goto(`${origin}/docs`, { waitUntil: 'load' });
  assert.equal(response?.status(), 200);
  const policy = (await response?.allHeaders())?.['content-security-policy'] ?? '';
  assert.match(policy, /default-src 'none'/, 'the page has a Content-Security-Policy');
  assert.doesNotMatch(policy, /script-src[^;]*'unsafe-inline'/, 'no inline script by policy');
  // Scalar has rendered once the document's title shows; then let it settle.
  await page
    .getByRole('heading', { name: document.info.title, exact: true })
    .first()
    .waitFor({ state: 'visible', timeout: 30_000 });
  await page.waitForLoadState('networkidle');

  // Every operation is listed in the navigation, every tag open from the start (nothing to
  // expand). Scalar renders the sections themselves as the reader scrolls to them.
  const missing: string[] = [];
  for (const summary of summaries) {
    const escaped = summary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    try {
      await page
        .getByRole('link', { name: new RegExp(`^${escaped}`) })
        .first()
        .waitFor({ state: 'visible', timeout: 5_000 });
    } catch {
      missing.push(summary);
    }
  }
  await page.screenshot({ path: SCREENSHOT, fullPage: true });

  assert.deepEqual(missing, [], `operations not shown on /docs (see ${SCREENSHOT})`);
  const assets = blocked.filter((request) =>
    ['script', 'stylesheet', 'font'].includes(request.resourceType),
  );
  assert.deepEqual(assets, [], 'the page needs assets from off this machine');
  assert.deepEqual(blocked, [], 'the page tried to reach off this machine');
  assert.deepEqual(failedLocal, [], 'a request to this server failed');
  assert.deepEqual(pageErrors, [], 'the page threw');
  assert.deepEqual(violations, [], 'the Content-Security-Policy blocked something');
});
