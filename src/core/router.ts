import { OpenAPIHono, type RouteConfig } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from './app-env.ts';
import { FoldingRouter } from './folding-router.ts';
import {
  jsonBodySchema,
  type PartsHook,
  requestPartsValidator,
} from './request-parts-validation.ts';
import { StaticPathRouter } from './static-path-router.ts';
import { validationHook } from './validation.ts';

/**
 * zod-openapi's router, with the query, path, headers and cookies of every operation, and
 * its body when that is JSON alone, validated by one middleware (`requestPartsValidator`)
 * instead of one async validator each; other bodies, the document and the handler's types
 * are zod-openapi's own. Drop the override when its validators no longer cost a promise and
 * a `Headers` object per part and request (decisions 064 and 089). Its matches are each one
 * handler once it has an error handler (`FoldingRouter`, decision 090).
 */
class AppRouter extends OpenAPIHono<AppEnv> {
  constructor(options: ConstructorParameters<typeof OpenAPIHono<AppEnv>>[0]) {
    const router = new FoldingRouter<AppEnv>(new StaticPathRouter());
    super({ ...options, router });
    const setErrorHandler = this.onError;
    this.onError = (handler) => {
      router.answerErrorsWith(handler);
      return setErrorHandler(handler);
    };
    const register = this.openapi;
    this.openapi = (config, handler, hook) => {
      const { middleware, hide, ...route } = config;
      if (!hide) this.openAPIRegistry.registerPath(route);
      const listed: MiddlewareHandler[] =
        middleware === undefined ? [] : Array.isArray(middleware) ? middleware : [middleware];
      // The hook is typed for the input the route declares, which is what either validator
      // hands it; only the types' spelling differs.
      const parts = requestPartsValidator(route.request, hook as PartsHook | undefined);
      // A JSON body is read and checked there too; any other stays with zod-openapi.
      const body = jsonBodySchema(route.request) ? undefined : route.request?.body;
      register<RouteConfig>(
        {
          ...route,
          request: body ? { body } : undefined,
          middleware: parts ? [...listed, parts] : listed,
          hide: true,
        },
        handler,
        hook as Parameters<typeof register<RouteConfig>>[2],
      );
      return this;
    };
  }
}

/**
 * Every router of the app comes from here, so none can miss the validation hook that turns
 * bad input into one 422 problem document.
 *
 * @example
 * export const healthRoutes = (deps: Deps) => createRouter().openapi(livez, (c) => ...);
 */
export function createRouter(): OpenAPIHono<AppEnv> {
  return new AppRouter({ defaultHook: validationHook });
}
