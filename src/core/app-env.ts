import type { RouteConfig } from '@hono/zod-openapi';
import type { Logger } from './logger.ts';

/** Per-request values every route can read from `c.var`. */
export interface RequestVariables {
  requestId: string;
  /** The process logger, bound to this request's id. */
  logger: Logger;
  /** The request part of the matched route's definition, for validation reporting. */
  routeRequest: RouteConfig['request'];
}

export interface AppEnv {
  Variables: RequestVariables;
}
