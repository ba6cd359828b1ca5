import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createApp } from '../../../src/app.ts';
import { JOBS } from '../../../src/modules.ts';
import { createTestUser, TEST_PASSWORD, type TestUser } from '../../support/auth.ts';
import { createTestDeps, type TestDeps } from '../../support/deps.ts';

let deps: TestDeps;
let app: ReturnType<typeof createApp>;
let admin: TestUser;
let user: TestUser;

before(async () => {
  deps = await createTestDeps();
  app = createApp(deps);
  admin = await createTestUser(deps, { role: 'admin' });
  user = await createTestUser(deps);
});
after(() => deps.close());

/** `app.request` answers as http://localhost: what a browser on the app's own pages sends. */
const SAME_ORIGIN = { origin: 'http://localhost', 'sec-fetch-site': 'same-origin' };

function signIn(email: string, password: string, headers: Record<string, string> = SAME_ORIGIN) {
  return app.request('/admin/login', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams({ username: email, password }).toString(),
  });
}

/** Signs the admin in through the form; the `cookie` header value of the session. */
async function adminSession(): Promise<string> {
  const signedIn = await signIn(admin.user.email, TEST_PASSWORD);
  assert.equal(signedIn.status, 303);
  return (signedIn.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
}

async function isPaused(queueName: string): Promise<boolean> {
  const queues = await deps.jobs.dashboardQueues();
  const queue = queues.find((candidate) => candidate.name === queueName);
  assert.ok(queue, queueName);
  return queue.isPaused();
}

/** Content-Security-Policy directives by name. */
function cspOf(res: Response): Map<string, string[]> {
  const header = res.headers.get('content-security-policy');
  assert.ok(header, `${res.url || 'the answer'} has no Content-Security-Policy`);
  return new Map(
    header
      .split(';')
      .map((directive) => directive.trim().split(/\s+/))
      .filter((words) => words[0])
      .map(([name = '', ...values]) => [name, values]),
  );
}

describe('queue dashboard', () => {
  test('administrators only: 401 without credentials, 403 for a user, 200 for an admin', async () => {
    assert.equal((await app.request('/admin/queues')).status, 401);
    assert.equal((await app.request('/admin/queues', { headers: user.headers })).status, 403);
    const page = await app.request('/admin/queues', { headers: admin.headers });
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.doesNotMatch(html, /https?:\/\//, 'nothing is loaded from elsewhere');
    const script = html.match(/src="(static\/js\/[^"]+\.js)"/)?.[1];
    assert.ok(script, 'the page loads its scripts');
    const asset = await app.request(`/admin/queues/${script}`, { headers: admin.headers });
    assert.equal(asset.status, 200, 'served by the app itself');
    const missing = await app.request('/admin/queues/api/no-such-thing', {
      headers: admin.headers,
    });
    assert.equal(missing.status, 404);
    assert.match(missing.headers.get('content-type') ?? '', /application\/problem\+json/);
  });

  test('its API lists every queue', async () => {
    const res = await app.request('/admin/queues/api/queues', { headers: admin.headers });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { queues: { name: string }[] };
    assert.deepEqual(
      body.queues.map((queue) => queue.name).sort(),
      JOBS.map((job) => job.name).sort(),
    );
    assert.ok(JOBS.length > 0);
  });

  test('a browser signs in with a form and gets an HttpOnly, SameSite=Strict session cookie', async () => {
    assert.equal(
      (await app.request('/admin/queues', { headers: { accept: 'text/html' } })).headers.get(
        'location',
      ),
      '/admin/login',
    );
    assert.equal(
      (await signIn(user.user.email, TEST_PASSWORD)).status,
      401,
      'not an administrator',
    );
    assert.equal((await signIn(admin.user.email, 'wrong password!')).status, 401);
    const signedIn = await signIn(admin.user.email, TEST_PASSWORD);
    assert.equal(signedIn.status, 303);
    const cookie = signedIn.headers.get('set-cookie') ?? '';
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    const session = cookie.split(';')[0] ?? '';
    const page = await app.request('/admin/queues', { headers: { cookie: session } });
    assert.equal(page.status, 200);
  });

  test('the sign-in form refuses a post from another origin (CSRF): 403, no session', async () => {
    const forged: Record<string, string>[] = [
      { origin: 'https://evil.example' },
      { origin: 'null' },
      { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' },
      { 'sec-fetch-site': 'same-site', origin: 'http://admin.localhost' },
    ];
    for (const headers of forged) {
      const res = await signIn(admin.user.email, TEST_PASSWORD, headers);
      assert.equal(res.status, 403, JSON.stringify(headers));
      assert.equal(res.headers.get('content-type'), 'application/problem+json');
      assert.match(((await res.json()) as { detail: string }).detail, /origin/i);
      assert.equal(res.headers.get('set-cookie'), null, 'no session for a forged post');
    }
    assert.equal((await signIn(admin.user.email, TEST_PASSWORD)).status, 303);
  });

  test('the dashboard API refuses a cookie-authenticated change from another origin (CSRF)', async () => {
    const cookie = await adminSession();
    const pause = (headers: Record<string, string>) =>
      app.request('/admin/queues/api/queues/exports.generate/pause', {
        method: 'PUT',
        headers: { cookie, ...headers },
      });
    const forged: Record<string, string>[] = [
      { origin: 'https://evil.example' },
      { origin: 'https://evil.example', 'content-type': 'application/json' },
      { 'sec-fetch-site': 'cross-site' },
      {},
    ];
    for (const headers of forged) {
      const res = await pause(headers);
      assert.equal(res.status, 403, JSON.stringify(headers));
      assert.equal(res.headers.get('content-type'), 'application/problem+json');
      assert.equal(await isPaused('exports.generate'), false, 'the queue was not paused');
    }
    // Reading is not a change: the board's own GETs carry no Origin.
    const list = await app.request('/admin/queues/api/queues', { headers: { cookie } });
    assert.equal(list.status, 200);
    // From the dashboard itself, the change goes through.
    assert.equal((await pause(SAME_ORIGIN)).status, 200);
    assert.equal(await isPaused('exports.generate'), true);
    const resume = await app.request('/admin/queues/api/queues/exports.generate/resume', {
      method: 'PUT',
      headers: { cookie, ...SAME_ORIGIN },
    });
    assert.equal(resume.status, 200);
    assert.equal(await isPaused('exports.generate'), false);
  });

  test('a program with header credentials needs no Origin: it cannot be forged by a browser', async () => {
    const paused = await app.request('/admin/queues/api/queues/imports.run/pause', {
      method: 'PUT',
      headers: admin.headers,
    });
    assert.equal(paused.status, 200);
    assert.equal(await isPaused('imports.run'), true);
    const resumed = await app.request('/admin/queues/api/queues/imports.run/resume', {
      method: 'PUT',
      headers: admin.headers,
    });
    assert.equal(resumed.status, 200);
  });

  test('signing out clears the cookie and ends the session: the old cookie no longer works', async () => {
    const cookie = await adminSession();
    const api = (headers: Record<string, string>) =>
      app.request('/admin/queues/api/queues', { headers });
    assert.equal((await api({ cookie })).status, 200);

    const forged = await app.request('/admin/logout', {
      method: 'POST',
      headers: { cookie, origin: 'https://evil.example' },
    });
    assert.equal(forged.status, 403, 'a forged sign-out is refused too');
    assert.equal((await api({ cookie })).status, 200, 'still signed in');

    const signedOut = await app.request('/admin/logout', {
      method: 'POST',
      headers: { cookie, ...SAME_ORIGIN },
    });
    assert.equal(signedOut.status, 303);
    assert.equal(signedOut.headers.get('location'), '/admin/login');
    assert.match(signedOut.headers.get('set-cookie') ?? '', /^admin_session=;.*Max-Age=0/);
    // A copy of the cookie kept from before is worth nothing now.
    assert.equal((await api({ cookie })).status, 401);
    const page = await app.request('/admin/queues', { headers: { cookie, accept: 'text/html' } });
    assert.equal(page.status, 303);
    assert.equal(page.headers.get('location'), '/admin/login');
  });

  test('the cookie holds no credential the API would accept', async () => {
    const cookie = await adminSession();
    const value = cookie.split('=')[1] ?? '';
    const res = await app.request('/v1/users/me', {
      headers: { authorization: `Bearer ${value}` },
    });
    assert.equal(res.status, 401);
  });

  test('the pages carry a Content-Security-Policy allowing only this origin', async () => {
    const cookie = await adminSession();
    const pages = [
      await app.request('/admin/login'),
      await app.request('/admin/queues', { headers: { cookie } }),
    ];
    for (const page of pages) {
      assert.equal(page.status, 200);
      const csp = cspOf(page);
      assert.deepEqual(csp.get('default-src'), ["'none'"]);
      assert.deepEqual(csp.get('script-src'), ["'self'"], 'no inline script at all');
      assert.deepEqual(csp.get('connect-src'), ["'self'"]);
      assert.deepEqual(csp.get('form-action'), ["'self'"]);
      assert.deepEqual(csp.get('frame-ancestors'), ["'self'"]);
      for (const [name, values] of csp) {
        for (const value of values) {
          assert.doesNotMatch(value, /^(\*|https?:|'unsafe-eval')/, `${name} ${value}`);
        }
      }
    }
  });
});
