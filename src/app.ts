import { cors } from 'hono/cors';
import { HTTPException } from 'hono/http-exception';
import { timeout } from 'hono/timeout';
import { limitBodies } from './core/body-limit.ts';
import { deferredTasks } from './core/deferred-tasks.ts';
import { docsPage } from './core/docs-page.ts';
import { createErrorHandler, createNotFoundHandler } from './core/error-handler.ts';
import { metricsEndpoint } from './core/metrics-endpoint.ts';
import { buildOpenApiDocument } from './core/openapi-document.ts';
import { requestContext } from './core/request-context.ts';
import { createRouter } from './core/router.ts';
import { registerSecuritySchemes } from './core/security/security-schemes.ts';
import { securityHeaders } from './core/security-headers.ts';
import { traceRequests } from './core/trace-requests.ts';
import type { Deps } from './deps.ts';
import { queueDashboard } from './modules/admin/queue-dashboard.ts';
import { apiKeyRoutes } from './modules/api-keys/api-keys.routes.ts';
import { authRoutes } from './modules/auth/auth.routes.ts';
import { exportRoutes } from './modules/exports/exports.routes.ts';
import { healthRoutes } from './modules/health/health.routes.ts';
import { importRoutes } from './modules/imports/imports.routes.ts';
import { itemRoutes } from './modules/items/items.routes.ts';
import { jobRoutes } from './modules/jobs/jobs.routes.ts';
import { userRoutes } from './modules/users/users.routes.ts';

const TAGS = [
  { name: 'health', description: 'Probes for load balancers and orchestrators.' },
  { name: 'auth', description: 'Accounts, logging in (OAuth2 password flow) and out.' },
  { name: 'users', description: 'Your account, and user administration.' },
  { name: 'api-keys', description: 'Scoped keys for programs, sent as `X-API-Key`.' },
  { name: 'items', description: 'The reference resource: your items.' },
  { name: 'jobs', description: 'Background jobs: state, live progress, cancellation.' },
  { name: 'exports', description: 'Your items as a CSV or NDJSON file, written by a worker.' },
  { name: 'imports', description: 'Items from an uploaded CSV file, read by a worker.' },
];

/**
 * Builds the whole HTTP app from its dependencies, without listening: the server entry
 * point serves it, tests call `app.request()` on it.
 *
 * @example
 * const app = createApp(deps);
 * const res = await app.request('/livez');
 */
export function createApp(deps: Deps) {
  const { settings } = deps;
  const app = createRouter();

  if (deps.tracing) app.use(traceRequests());
  app.use(requestContext(deps.logger, deps.metrics));
  app.use(async function provideRequestDeps(c, next) {
    c.set('auth', deps.auth);
    c.set('rateLimiter', deps.rateLimiter);
    c.set('trustedProxyHops', settings.TRUST_PROXY_HOPS);
    c.set('strictResponses', settings.NODE_ENV !== 'production');
    await next();
  });
  app.use(securityHeaders());
  if (settings.CORS_ORIGINS.length > 0) {
    const anyOrigin = settings.CORS_ORIGINS.includes('*');
    app.use(
      cors({
        origin: anyOrigin ? '*' : settings.CORS_ORIGINS,
        exposeHeaders: [
          'x-request-id',
          'location',
          'etag',
          'retry-after',
          'ratelimit',
          'ratelimit-policy',
        ],
        maxAge: 600,
      }),
    );
  }
  app.use(
    limitBodies({ bytes: settings.BODY_LIMIT_BYTES, uploadBytes: settings.UPLOAD_MAX_BYTES }),
  );
  app.use(deferredTasks(deps.background));
  app.use(
    timeout(
      settings.REQUEST_TIMEOUT_MS,
      () =>
        new HTTPException(503, { message: `No answer within ${settings.REQUEST_TIMEOUT_MS} ms` }),
    ),
  );

  const routes = app
    .route('/', healthRoutes(deps))
    .route('/', authRoutes(deps))
    .route('/', userRoutes(deps))
    .route('/', apiKeyRoutes(deps))
    .route('/', itemRoutes(deps))
    .route('/', jobRoutes(deps))
    .route('/', exportRoutes(deps))
    .route('/', importRoutes(deps));
  registerSecuritySchemes(app);

  let document: ReturnType<typeof buildOpenApiDocument> | undefined;
  app.get('/openapi.json', (c) => {
    document ??= buildOpenApiDocument(app, { publicUrl: settings.PUBLIC_URL, tags: TAGS });
    return c.json(document);
  });
  app.route('/docs', docsPage('/openapi.json', 'Hono Service Template API'));
  app.get('/metrics', metricsEndpoint(deps.metrics, settings.METRICS_TOKEN));
  app.route('/', queueDashboard(deps));

  app.onError(createErrorHandler(deps.logger));
  app.notFound(createNotFoundHandler(app.routes));
  return routes;
}

export type AppType = ReturnType<typeof createApp>;
