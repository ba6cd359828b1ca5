import { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from './app-env.ts';
import { StaticPathRouter } from './static-path-router.ts';
import { validationHook } from './validation.ts';

/**
 * Every router of the app comes from here, so none can miss the validation hook that turns
 * bad input into one 422 problem document.
 *
 * @example
 * export const healthRoutes = (deps: Deps) => createRouter().openapi(livez, (c) => ...);
 */
export function createRouter(): OpenAPIHono<AppEnv> {
  return new OpenAPIHono<AppEnv>({ defaultHook: validationHook, router: new StaticPathRouter() });
}
