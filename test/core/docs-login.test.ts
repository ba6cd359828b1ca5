/**
 * Logging in on `/docs`, the way a person would, in a real headless Chromium cut off from
 * everything but loopback: Scalar's "Authentication" box on the page, the OAuth2 password
 * flow with a freshly registered account, then "Test Request" on `GET /v1/users/me`, which
 * must send the token as `Authorization: Bearer …` and show the account.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { Locator, Page, Request } from 'playwright-core';
import { TEST_PASSWORD } from '../support/auth.ts';
import {
  type AppForBrowser,
  noBrowserReason,
  openCutOffPage,
  serveAppToBrowser,
} from '../support/browser.ts';
import { recordCspViolations } from '../support/csp.ts';

const SCREENSHOT = '/tmp/docs-login.png';
// Generous: the whole suite shares the machine with this browser.
const STEP_TIMEOUT = 45_000;

/** One request the page made to this server, with what came back. */
interface Exchange {
  method: string;
  path: string;
  status?: number;
  headers: Record<string, string>;
  body: string | null;
}

let site: AppForBrowser;

before(async () => {
  site = await serveAppToBrowser();
});

after(() => site?.close());

/**
 * Records every request `page` sends to `origin`, and its status once answered. The headers
 * are the ones really sent (`allHeaders()`, which includes `authorization`).
 */
function recordExchanges(
  page: Page,
  origin: string,
): { exchanges: Exchange[]; settled(): Promise<Exchange[]> } {
  const exchanges: Exchange[] = [];
  const pending = new Map<Request, Exchange>();
  const reading: Promise<void>[] = [];
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (url.origin !== origin) return;
    const exchange: Exchange = {
      method: request.method(),
      path: url.pathname + url.search,
      headers: request.headers(),
      body: request.postData(),
    };
    exchanges.push(exchange);
    pending.set(request, exchange);
  });
  page.on('response', (response) => {
    const exchange = pending.get(response.request());
    if (!exchange) return;
    exchange.status = response.status();
    reading.push(
      response
        .request()
        .allHeaders()
        .then((headers) => {
          exchange.headers = headers;
        }),
    );
  });
  return {
    exchanges,
    /** The exchanges so far, once the headers of every answered one have been read. */
    async settled() {
      await Promise.all(reading);
      return exchanges;
    },
  };
}

/** One line per exchange, for failure messages (no bodies: they hold passwords and tokens). */
function traffic(exchanges: Exchange[]): string {
  return exchanges
    .map((exchange) => `${exchange.method} ${exchange.path} -> ${exchange.status ?? 'no answer'}`)
    .join('\n');
}

/**
 * The editable field of a row of one of Scalar's auth tables, by its label: the username is
 * a `contenteditable` combobox whose `<label for>` points at a wrapper `div`, so it has no
 * accessible name of its own and `getByLabel` cannot reach it.
 */
function authField(scope: Locator, label: string): Locator {
  const row = scope.locator('td').filter({ has: scope.page().getByText(label, { exact: true }) });
  return row.getByRole('combobox').or(row.getByRole('textbox'));
}

async function registerUser(origin: string): Promise<{ email: string; password: string }> {
  const email = `docs-${randomBytes(6).toString('hex')}@example.com`;
  const response = await fetch(`${origin}/v1/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: TEST_PASSWORD, name: 'Docs Reader' }),
  });
  assert.equal(response.status, 201, await response.text());
  return { email, password: TEST_PASSWORD };
}

test('on /docs, a user logs in with the password flow and calls GET /v1/users/me', {
  timeout: 240_000,
}, async (t) => {
  const { browser, origin } = site;
  if (!browser) {
    t.skip(noBrowserReason());
    return;
  }
  const { email, password } = await registerUser(origin);

  const { page, blocked, pageErrors } = await openCutOffPage(browser, t);
  page.setDefaultTimeout(STEP_TIMEOUT);
  const recorder = recordExchanges(page, origin);
  const violations = await recordCspViolations(page);
  const consoleLines: string[] = [];
  page.on('console', (message) => consoleLines.push(`${message.type()}: ${message.text()}`));

  try {
    const documentResponse = page.waitForResponse(
      (response) => response.url() === `${origin}/openapi.json`,
    );
    const loaded = await page.goto(`${origin}/docs`, { waitUntil: 'load' });
    assert.equal(loaded?.status(), 200);
    assert.equal((await documentResponse).status(), 200, 'Scalar could not load the document');

    // 1. The "Authentication" box of the introduction: pick the OAuth2 password flow.
    const auth = page.getByRole('region', { name: 'Authentication', exact: true });
    await auth
      .getByRole('button', { name: 'Select Auth Type' })
      .click({ timeout: 30_000 /* first render of the whole bundle */ });
    await page.getByRole('option', { name: 'OAuth2Password', exact: true }).click();
    // The list is a multi-select and stays open: its button closes it.
    await auth.getByRole('button', { name: 'Selected Auth Type: OAuth2Password' }).click();
    await page.getByRole('listbox').waitFor({ state: 'hidden' });

    // 2. Username and password, then "Authorize": Scalar posts the form to the token URL.
    await authField(auth, 'Username').fill(email);
    await authField(auth, 'Password').fill(password);
    const tokenResponse = page.waitForResponse(
      (response) => response.url() === `${origin}/v1/auth/token`,
    );
    await auth.getByRole('button', { name: 'Authorize', exact: true }).click();
    const token = (await (await tokenResponse).json()) as {
      access_token?: string;
      token_type?: string;
    };
    assert.equal(token.token_type, 'bearer');
    assert.ok(token.access_token, 'the token response carries no access_token');
    // Logged in: the box now shows the access token in place of the login form.
    await authField(auth, 'Access Token').waitFor({ state: 'visible' });
    assert.equal(await authField(auth, 'Access Token').inputValue(), token.access_token);

    // 3. GET /v1/users/me: reach it from the sidebar (operations further down render
    // lazily), open its "Test Request" client and send the request.
    await page.getByRole('link', { name: /^Your account\b.*\bGET$/ }).click();
    await page.getByRole('button', { name: 'Test Request (get /v1/users/me)' }).click();
    const client = page.getByRole('dialog', { name: 'API Client' });
    await client.waitFor({ state: 'visible' });
    const meResponse = page.waitForResponse(
      (response) => response.url() === `${origin}/v1/users/me`,
    );
    await client.getByRole('button', { name: /^Send get request to / }).click();
    assert.equal((await meResponse).status(), 200);

    // 4. The client shows the 200 and the account's email in the response body.
    const shown = client.getByRole('region', { name: 'Response', exact: true });
    await shown.getByRole('link', { name: '200 OK' }).waitFor({ state: 'visible' });
    await shown
      .getByRole('region', { name: 'Body', exact: true })
      .filter({ hasText: email })
      .waitFor({ state: 'visible' });

    // What went over the wire, from the recorded requests.
    const exchanges = await recorder.settled();
    const tokenRequests = exchanges.filter(
      (exchange) => exchange.method === 'POST' && exchange.path === '/v1/auth/token',
    );
    assert.equal(tokenRequests.length, 1, traffic(exchanges));
    const [tokenRequest] = tokenRequests;
    assert.equal(tokenRequest?.status, 200);
    assert.match(
      tokenRequest?.headers['content-type'] ?? '',
      /^application\/x-www-form-urlencoded/,
    );
    const form = new URLSearchParams(tokenRequest?.body ?? '');
    assert.equal(form.get('grant_type'), 'password');
    assert.equal(form.get('username'), email);
    assert.equal(form.get('password'), password);

    const meRequests = exchanges.filter(
      (exchange) => exchange.method === 'GET' && exchange.path === '/v1/users/me',
    );
    assert.equal(meRequests.length, 1, traffic(exchanges));
    const [meRequest] = meRequests;
    assert.equal(meRequest?.status, 200);
    assert.equal(meRequest?.headers.authorization, `Bearer ${token.access_token}`);

    const failed = exchanges.filter(
      (exchange) => exchange.status === undefined || exchange.status >= 400,
    );
    assert.deepEqual(failed, [], 'a request to this server failed');
    assert.deepEqual(blocked, [], 'the page tried to reach off this machine');
    assert.deepEqual(pageErrors, [], 'the page threw');
    assert.deepEqual(violations, [], 'the Content-Security-Policy blocked something');
  } catch (error) {
    // What the page did, to tell a Scalar change from a server fault.
    console.log({
      traffic: traffic(recorder.exchanges),
      blocked,
      pageErrors,
      violations,
      consoleLines,
      screenshot: SCREENSHOT,
    });
    throw error;
  } finally {
    await page.screenshot({ path: SCREENSHOT }).catch(() => {});
  }
});
