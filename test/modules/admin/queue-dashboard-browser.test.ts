/**
 * The queue dashboard in a real headless Chromium, cut off from everything but loopback: an
 * administrator signs in with the form, the board renders its queues under the pages'
 * Content-Security-Policy without a violation, and signing out ends the session.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { createApp } from '../../../src/app.ts';
import { listen, type RunningServer } from '../../../src/core/http-server.ts';
import { createTestUser, TEST_PASSWORD, type TestUser } from '../../support/auth.ts';
import { launchBrowser, noBrowserReason, openCutOffPage } from '../../support/browser.ts';
import { recordCspViolations } from '../../support/csp.ts';
import { createTestDeps, type TestDeps } from '../../support/deps.ts';

const SCREENSHOT = '/tmp/queue-dashboard.png';
// Generous: the whole suite shares the machine with this browser.
const STEP_TIMEOUT = 45_000;

let deps: TestDeps;
let server: RunningServer;
let browser: Browser | undefined;
let origin: string;
let admin: TestUser;

before(async () => {
  deps = await createTestDeps();
  admin = await createTestUser(deps, { role: 'admin' });
  server = await listen({ fetch: createApp(deps).fetch, host: '127.0.0.1', port: 0 });
  origin = `http://127.0.0.1:${server.port}`;
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.drain(1_000);
  await deps?.close();
});

test('an administrator signs in, sees every queue under the CSP, and signs out', {
  timeout: 180_000,
}, async (t) => {
  if (!browser) {
    t.skip(noBrowserReason());
    return;
  }
  const { page, blocked, pageErrors } = await openCutOffPage(browser, t);
  page.setDefaultTimeout(STEP_TIMEOUT);
  const violations = await recordCspViolations(page);
  const failedLocal: string[] = [];
  page.on('response', (response) => {
    if (response.status() >= 400) failedLocal.push(`${response.url()}: ${response.status()}`);
  });

  try {
    // Not signed in: the board sends the browser to the form.
    const login = await page.goto(`${origin}/admin/queues`, { waitUntil: 'load' });
    assert.equal(new URL(page.url()).pathname, '/admin/login');
    assert.match((await login?.allHeaders())?.['content-security-policy'] ?? '', /default-src/);

    await page.getByLabel('Email').fill(admin.user.email);
    await page.getByLabel('Password').fill(TEST_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${origin}/admin/queues`);

    // The board has rendered once it lists the queues.
    for (const queue of ['exports.generate', 'imports.run', 'maintenance.purge']) {
      await page.getByText(queue, { exact: true }).first().waitFor({ state: 'visible' });
    }
    await page.waitForLoadState('networkidle');
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    const [session] = (await page.context().cookies()).filter(
      (cookie) => cookie.name === 'admin_session',
    );
    assert.ok(session, 'signed in with a session cookie');

    // The board's own changes pass the CSRF check: a request from the page, as it sends them.
    // (A string: it runs in the page, whose DOM types this project does not load.)
    const fromPage = (action: string) =>
      page.evaluate(
        `fetch('api/queues/exports.generate/${action}', { method: 'PUT' }).then((r) => r.status)`,
      );
    assert.equal(await fromPage('pause'), 200);
    assert.equal(await fromPage('resume'), 200);

    // Signing out, from the board itself.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(`${origin}/admin/login`);
    assert.deepEqual(
      (await page.context().cookies()).filter((cookie) => cookie.name === 'admin_session'),
      [],
      'the cookie is gone',
    );
    const again = await fetch(`${origin}/admin/queues/api/queues`, {
      headers: { cookie: `admin_session=${session.value}` },
    });
    assert.equal(again.status, 401, 'the session is over, not just forgotten by the browser');

    assert.deepEqual(blocked, [], 'the pages tried to reach off this machine');
    assert.deepEqual(failedLocal, [], 'a request to this server failed');
    assert.deepEqual(pageErrors, [], 'the page threw');
    assert.deepEqual(violations, [], 'the Content-Security-Policy blocked something');
  } catch (error) {
    await page.screenshot({ path: SCREENSHOT, fullPage: true }).catch(() => {});
    console.log({ blocked, failedLocal, pageErrors, violations, screenshot: SCREENSHOT });
    throw error;
  }
});
