import { cors } from 'hono/cors';
import type { Deps } from './core/deps.ts';
import { docsPage } from './core/docs-page.ts';
import { createErrorHandler, createNotFoundHandler } from './core/error-handler.ts';
import { metricsEndpoint } from './core/metrics-endpoint.ts';
import { mountModules, mountPages, problemMappingsOf, tagsOf } from './core/module.ts';
import { buildOpenApiDocument } from './core/openapi-document.ts';
import { requestContext } from './core/request-context.ts';
import { checkRequestInput } from './core/request-input.ts';
import { createRouter } from './core/router.ts';
import { registerSecuritySchemes } from './core/security/security-schemes.ts';
import { traceRequests } from './core/trace-requests.ts';
import { MODULES } from './modules.ts';

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
  const defaultRateLimit = {
    name: 'default',
    limit: settings.RATE_LIMIT_DEFAULT_REQUESTS,
    windowSeconds: settings.RATE_LIMIT_DEFAULT_WINDOW_SECONDS,
  };

  const answerError = createErrorHandler(deps.logger, problemMappingsOf(MODULES));
  if (deps.tracing) app.use(traceRequests());
  app.use(
    requestContext({
      logger: deps.logger,
      metrics: deps.metrics,
      background: deps.background,
      services: {
        auth: deps.auth,
        rateLimiter: deps.rateLimiter,
        defaultRateLimit,
        requestTimeoutMs: settings.REQUEST_TIMEOUT_MS,
        trustedProxyHops: settings.TRUST_PROXY_HOPS,
        strictResponses: settings.NODE_ENV !== 'production',
      },
    }),
  );
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
    checkRequestInput({
      bytes: settings.BODY_LIMIT_BYTES,
      uploadBytes: settings.UPLOAD_MAX_BYTES,
    }),
  );

  const routes = mountModules(app, MODULES, deps);
  registerSecuritySchemes(app, deps.scopes);

  let document: ReturnType<typeof buildOpenApiDocument> | undefined;
  app.get('/openapi.json', (c) => {
    document ??= buildOpenApiDocument(app, {
      publicUrl: settings.PUBLIC_URL,
      tags: tagsOf(MODULES),
      defaultRateLimit,
      scopes: deps.scopes,
    });
    return c.json(document);
  });
  app.route('/docs', docsPage('/openapi.json', 'Hono Service Template API'));
  app.get('/metrics', metricsEndpoint(deps.metrics, settings.METRICS_TOKEN));
  mountPages(app, MODULES, deps);

  app.onError(answerError);
  app.notFound(createNotFoundHandler(app.routes));
  return routes;
}

export type AppType = ReturnType<typeof createApp>;
