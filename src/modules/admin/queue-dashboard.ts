import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { HonoAdapter } from '@bull-board/hono';
import { serveStatic } from '@hono/node-server/serve-static';
import { Hono } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { AppEnv } from '../../core/app-env.ts';
import { clientAddress } from '../../core/client-address.ts';
import { ProblemError } from '../../core/problem.ts';
import type { Deps } from '../../deps.ts';
import { authContext } from '../auth/auth.routes.ts';
import { loginWithPassword } from '../auth/auth.service.ts';

const BASE = '/admin/queues';
const COOKIE = 'admin_session';

/** The board's HTML asks Google for its fonts; without them it falls back to system fonts. */
const EXTERNAL_FONTS = /<link[^>]+fonts\.(googleapis|gstatic)\.com[^>]*>/g;

function loginPage(message = ''): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>Queues: sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:22rem;margin:4rem auto}label{display:block;margin:.6rem 0}input{width:100%;padding:.4rem}p{color:#b00}</style>
</head><body><h1>Job queues</h1><p>${message}</p>
<form method="post" action="/admin/login"><label>Email <input name="username" type="email" required autocomplete="username"></label>
<label>Password <input name="password" type="password" required autocomplete="current-password"></label><button>Sign in</button></form></body></html>`;
}

/**
 * BullMQ's dashboard at `/admin/queues`, for administrators only: an admin token or API key
 * in the usual headers, or, from a browser, the session cookie `/admin/login` sets (an
 * access token in an HttpOnly, SameSite=Strict cookie). Its scripts and styles are served
 * from the installed package.
 */
export function queueDashboard(deps: Deps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const queues = deps.jobs.dashboardQueues();
  const ctx = authContext(deps);

  app.get('/admin/login', (c) => c.html(loginPage()));
  app.post('/admin/login', async (c) => {
    const form = await c.req.parseBody();
    const username = typeof form.username === 'string' ? form.username : '';
    const password = typeof form.password === 'string' ? form.password : '';
    try {
      const tokens = await loginWithPassword(ctx, {
        email: username,
        password,
        scope: 'admin',
        clientAddress: clientAddress(c, deps.settings.TRUST_PROXY_HOPS),
      });
      setCookie(c, COOKIE, tokens.access_token, {
        httpOnly: true,
        sameSite: 'Strict',
        secure: new URL(c.req.url).protocol === 'https:',
        path: '/admin',
        maxAge: tokens.expires_in,
      });
      return c.redirect(BASE, 303);
    } catch (error) {
      if (error instanceof ProblemError && error.status < 500) {
        return c.html(
          loginPage(
            error.status === 429
              ? 'Too many attempts; wait a while.'
              : 'Not an administrator, or wrong email or password.',
          ),
          401,
        );
      }
      throw error;
    }
  });
  app.post('/admin/logout', (c) => {
    deleteCookie(c, COOKIE, { path: '/admin' });
    return c.redirect('/admin/login', 303);
  });

  app.use(`${BASE}/*`, async function requireAdmin(c, next) {
    const cookie = getCookie(c, COOKIE);
    const result = await c.get('auth').authenticate({
      authorization: c.req.header('authorization') ?? (cookie ? `Bearer ${cookie}` : undefined),
      apiKey: c.req.header('x-api-key'),
    });
    if (!result.ok) {
      if (c.req.method === 'GET' && (c.req.header('accept') ?? '').includes('text/html'))
        return c.redirect('/admin/login', 303);
      throw new ProblemError(401, {
        detail: 'Sign in as an administrator',
        headers: { 'www-authenticate': 'Bearer realm="api"' },
      });
    }
    if (!result.principal.scopes.has('admin'))
      throw new ProblemError(403, { detail: 'Administrators only' });
    await next();
    if ((c.res.headers.get('content-type') ?? '').startsWith('text/html')) {
      c.res = new Response((await c.res.text()).replace(EXTERNAL_FONTS, ''), c.res);
    }
  });
  if (queues.length === 0) {
    app.get(BASE, () => {
      throw new ProblemError(503, {
        detail: 'No durable queues: jobs run in-process without REDIS_URL',
      });
    });
    return app;
  }
  const adapter = new HonoAdapter(serveStatic);
  createBullBoard({
    queues: queues.map((queue) => new BullMQAdapter(queue)),
    serverAdapter: adapter,
  });
  const uiDist = dirname(createRequire(import.meta.url).resolve('@bull-board/ui/package.json'));
  adapter.setBasePath(BASE);
  adapter.setStaticPath('/static', join(uiDist, 'dist/static'));
  adapter.setViewsPath(join(uiDist, 'dist'));
  app.route(BASE, adapter.registerPlugin());
  return app;
}
