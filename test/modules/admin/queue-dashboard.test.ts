import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createApp } from '../../../src/app.ts';
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

function signIn(email: string, password: string) {
  return app.request('/admin/login', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ username: email, password }).toString(),
  });
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
  });

  test('its API lists every queue', async () => {
    const res = await app.request('/admin/queues/api/queues', { headers: admin.headers });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { queues: { name: string }[] };
    assert.deepEqual(body.queues.map((queue) => queue.name).sort(), [
      'exports.generate',
      'imports.run',
      'maintenance.purge',
    ]);
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
});
