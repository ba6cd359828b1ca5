import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { serveStatic } from '@hono/node-server/serve-static';
import { type Context, Hono } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { AppEnv } from '../../core/app-env.ts';
import { clientAddress } from '../../core/client-address.ts';
import type { Deps } from '../../core/deps.ts';
import { DomainError, TooManyAttemptsError } from '../../core/domain-errors.ts';
import { ProblemError } from '../../core/problem.ts';
import { cspHash, pagePolicy } from '../../core/security-headers.ts';
import { authContext, loginWithPassword, logout } from '../auth/auth.service.ts';
import { findUserById } from '../users/users.service.ts';
import { type AdminSessions, memoryAdminSessions, redisAdminSessions } from './admin-sessions.ts';
import { sameOriginOnly } from './same-origin-only.ts';

const BASE = '/admin/queues';
const COOKIE = 'admin_session';

/** The board's HTML asks Google for its fonts; without them it falls back to system fonts. */
const EXTERNAL_FONTS = /<link[^>]+fonts\.(googleapis|gstatic)\.com[^>]*>/g;

const LOGIN_STYLE =
  'body{font-family:system-ui,sans-serif;max-width:22rem;margin:4rem auto}label{display:block;margin:.6rem 0}input{width:100%;padding:.4rem}p{color:#b00}';

/** The login form's own page: no script at all, and its one style block allowed by hash. */
const LOGIN_POLICY = pagePolicy({ styles: [cspHash(LOGIN_STYLE)] });

function loginPage(message = ''): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>Queues: sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>${LOGIN_STYLE}</style>
</head><body><h1>Job queues</h1><p>${message}</p>
<form method="post" action="/admin/login"><label>Email <input name="username" type="email" required autocomplete="username"></label>
<label>Password <input name="password" type="password" required autocomplete="current-password"></label><button>Sign in</button></form></body></html>`;
}

/** Added to the board's page: bull-board has no sign-out of its own. */
const SIGN_OUT_FORM =
  '<style>.admin-sign-out{position:fixed;right:1rem;bottom:1rem;z-index:10000;margin:0}</style><form class="admin-sign-out" method="post" action="/admin/logout"><button type="submit">Sign out</button></form>';

/**
 * The board's policy: scripts only from its files here (the template's one inline `<script>`
 * is a JSON data block, never executed). Styles need 'unsafe-inline': besides the inline
 * styles of its page template, the board's React components render `<style>` elements as
 * they run (the Redis logo's, base-ui's scrollbar rule), which hashes taken today would miss
 * after any upgrade. Inline styles can restyle the page, not run code. The template has a
 * `<base href>`, hence base-uri 'self'.
 */
const BOARD_POLICY = pagePolicy({ styles: ["'unsafe-inline'"], base: "'self'" });

/**
 * BullMQ's dashboard at `/admin/queues`, for administrators only: an admin token or API key
 * in the usual headers, or, from a browser, the session `/admin/login` starts (a random id in
 * an HttpOnly, SameSite=Strict cookie; the session itself is held by the server, and
 * `POST /admin/logout` ends it). Changes from a browser must come from these pages
 * (`sameOriginOnly`). Its scripts and styles are served from the installed package, under a
 * Content-Security-Policy that allows nothing from elsewhere.
 */
export function queueDashboard(deps: Deps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const ctx = authContext(deps);
  const ttlSeconds = deps.tokens.ttlSeconds;
  const sessions: AdminSessions = deps.redis
    ? redisAdminSessions(deps.redis, ttlSeconds)
    : memoryAdminSessions(ttlSeconds);
  const cookieOptions = (c: Context) => ({
    httpOnly: true,
    sameSite: 'Strict' as const,
    secure: new URL(c.req.url).protocol === 'https:',
    path: '/admin',
  });

  app.use('/admin/*', sameOriginOnly({ cookie: COOKIE, publicUrl: deps.settings.PUBLIC_URL }));

  app.get('/admin/login', (c) => {
    c.header('content-security-policy', LOGIN_POLICY);
    return c.html(loginPage());
  });
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
      const now = deps.clock.now();
      const claims = deps.tokens.verify(tokens.access_token, now);
      if (typeof claims === 'string') throw new Error(`a token just issued is ${claims}`);
      // The page keeps its session on the server and never refreshes: the tokens of the
      // login are not handed out, and their session ends here rather than lingering.
      await logout(ctx, tokens.refresh_token);
      setCookie(c, COOKIE, await sessions.start(claims.userId), {
        ...cookieOptions(c),
        maxAge: ttlSeconds,
      });
      return c.redirect(BASE, 303);
    } catch (error) {
      // Wrong credentials, a user who may not have the admin scope, too many attempts.
      if (error instanceof DomainError) {
        c.header('content-security-policy', LOGIN_POLICY);
        return c.html(
          loginPage(
            error instanceof TooManyAttemptsError
              ? 'Too many attempts; wait a while.'
              : 'Not an administrator, or wrong email or password.',
          ),
          401,
        );
      }
      throw error;
    }
  });
  app.post('/admin/logout', async (c) => {
    const session = getCookie(c, COOKIE);
    if (session) await sessions.end(session);
    deleteCookie(c, COOKIE, cookieOptions(c));
    return c.redirect('/admin/login', 303);
  });

  /** The session's user while it is still an active administrator, else undefined. */
  async function sessionAdmin(sessionId: string): Promise<string | undefined> {
    const userId = await sessions.userOf(sessionId);
    const user = userId ? await findUserById(deps.db, userId) : undefined;
    return user?.isActive && deps.scopes.forRole(user.role).includes('admin') ? user.id : undefined;
  }

  app.use(`${BASE}/*`, async function requireAdmin(c, next) {
    const authorization = c.req.header('authorization');
    const apiKey = c.req.header('x-api-key');
    const session = getCookie(c, COOKIE);
    if (authorization === undefined && apiKey === undefined && session !== undefined) {
      if (await sessionAdmin(session)) return next();
    } else {
      const result = await c.get('services').auth.authenticate({ authorization, apiKey });
      if (result.ok && result.principal.scopes.has('admin')) return next();
      if (result.ok) throw new ProblemError(403, { detail: 'Administrators only' });
    }
    if (c.req.method === 'GET' && (c.req.header('accept') ?? '').includes('text/html'))
      return c.redirect('/admin/login', 303);
    throw new ProblemError(401, {
      detail: 'Sign in as an administrator',
      headers: { 'www-authenticate': 'Bearer realm="api"' },
    });
  });
  if (!deps.jobs.durable) {
    app.get(BASE, () => {
      throw new ProblemError(503, {
        detail: 'No durable queues: jobs run in-process without REDIS_URL',
      });
    });
    return app;
  }
  // Loaded on the first visit: bull-board and its schema library cost ~130 ms and ~30 MB at
  // start for a page most processes never serve.
  let board: Promise<Hono> | undefined;
  app.all(`${BASE}/*`, async function boardPage(c) {
    board ??= loadBoard(deps.jobs);
    const res = await (await board).fetch(c.req.raw, c.env);
    if (!(res.headers.get('content-type') ?? '').startsWith('text/html')) return res;
    const html = (await res.text())
      .replace(EXTERNAL_FONTS, '')
      .replace('</body>', `${SIGN_OUT_FORM}</body>`);
    const page = new Response(html, res);
    page.headers.delete('content-length');
    page.headers.set('content-security-policy', BOARD_POLICY);
    return page;
  });
  return app;
}

/** The board itself, under `BASE`, its scripts and styles served from the installed package. */
async function loadBoard(jobs: Deps['jobs']): Promise<Hono> {
  const [{ createBullBoard }, { BullMQAdapter }, { HonoAdapter }, queues] = await Promise.all([
    import('@bull-board/api'),
    import('@bull-board/api/bullMQAdapter'),
    import('@bull-board/hono'),
    jobs.dashboardQueues(),
  ]);
  const adapter = new HonoAdapter(serveStatic);
  createBullBoard({
    queues: queues.map((queue) => new BullMQAdapter(queue)),
    serverAdapter: adapter,
  });
  const uiDist = join(
    dirname(createRequire(import.meta.url).resolve('@bull-board/ui/package.json')),
    'dist',
  );
  adapter.setBasePath(BASE);
  adapter.setStaticPath('/static', join(uiDist, 'static'));
  adapter.setViewsPath(uiDist);
  const board = new Hono().route(BASE, adapter.registerPlugin());
  // Errors, and paths the board does not have, go on to the app's handler, which answers
  // them as problem documents.
  board.onError((error) => {
    throw error;
  });
  board.notFound(() => {
    throw new ProblemError(404, { detail: 'The queue dashboard has no such page' });
  });
  return board;
}
