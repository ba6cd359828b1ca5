import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Hono } from 'hono';
import type { MergeSchemaPath, Schema } from 'hono/types';
import type { z } from 'zod';
import type { AppEnv } from './app-env.ts';
import type { Deps } from './deps.ts';
import type { JobDefinition } from './jobs/define-job.ts';
import type { ProblemError } from './problem.ts';
import type { ScopeDefinition } from './security/scopes.ts';

/**
 * A feature, declared once: its OpenAPI tag, its scopes, its operations, its pages and its
 * jobs. The app, the worker, the scope catalog and the module generator all read the list
 * of modules (src/modules.ts), so adding a feature is one line there.
 */
export interface ServiceModule {
  /** The feature's folder name, e.g. `items`. */
  name: string;
  /** The OpenAPI tag its operations carry, with the description the docs page shows. */
  tag?: { name: string; description: string };
  /** The scopes it introduces (also declared to the type checker, see `ScopeRegistry`). */
  scopes?: Readonly<Record<string, ScopeDefinition>>;
  /** Its operations, in the API document. */
  routes?: (deps: Deps) => OpenAPIHono<AppEnv, Schema, '/'>;
  /** Routes outside the API document (a dashboard, its assets), mounted after the API. */
  pages?: (deps: Deps) => Hono<AppEnv>;
  /** The background jobs it defines; workers run them. */
  jobs?: readonly JobDefinition<z.ZodType, unknown, Deps>[];
  /**
   * Its own domain errors as problem documents (undefined for any other error): the module's
   * part of the one mapping, beside core's (`domain-problems.ts`).
   */
  problems?: (error: unknown) => ProblemError | undefined;
}

/**
 * Declares a module; returns it unchanged, with its exact type, so the app's client type
 * sees every operation of its routes.
 *
 * @example
 * export const itemsModule = defineModule({ name: 'items', tag, scopes, routes: itemRoutes });
 */
export function defineModule<const M extends ServiceModule>(module: M): M {
  return module;
}

type RoutesOf<M> = M extends { routes: (deps: Deps) => infer R } ? R : never;
type SchemaOf<R> = R extends Hono<AppEnv, infer S, '/'> ? S : never;
type MountedAtRoot<S> = S extends Schema ? MergeSchemaPath<S, '/'> : never;

/** The routes of every module, as one schema: what `.route('/', …)` chained over them gives. */
export type ModulesSchema<Ms extends readonly ServiceModule[]> = MountedAtRoot<
  SchemaOf<RoutesOf<Ms[number]>>
>;

/**
 * Mounts every module's operations on `app`, in list order. The loop is what chaining
 * `.route('/', …)` by hand would do, and so is the type it returns: the union of every
 * module's route schema, so `AppType` and the typed client stay exact. The overload states
 * that type, which a loop cannot infer; `test/client.test.ts` holds it to the truth with
 * calls that must and must not compile.
 */
export function mountModules<const Ms extends readonly ServiceModule[]>(
  app: OpenAPIHono<AppEnv>,
  modules: Ms,
  deps: Deps,
): OpenAPIHono<AppEnv, ModulesSchema<Ms>, '/'>;
export function mountModules(
  app: OpenAPIHono<AppEnv>,
  modules: readonly ServiceModule[],
  deps: Deps,
): OpenAPIHono<AppEnv> {
  for (const module of modules) if (module.routes) app.route('/', module.routes(deps));
  return app;
}

/** Mounts every module's pages, after the API, so the API's routes match first. */
export function mountPages(app: Hono<AppEnv>, modules: readonly ServiceModule[], deps: Deps): void {
  for (const module of modules) if (module.pages) app.route('/', module.pages(deps));
}

/** Every module's jobs, for workers and the queue. */
export function jobsOf(
  modules: readonly ServiceModule[],
): JobDefinition<z.ZodType, unknown, Deps>[] {
  return modules.flatMap((module) => module.jobs ?? []);
}

/** Every module's scope definitions, for the scope catalog. */
export function scopesOf(
  modules: readonly ServiceModule[],
): Readonly<Record<string, ScopeDefinition>>[] {
  return modules.flatMap((module) => (module.scopes ? [module.scopes] : []));
}

/** Every module's mapping of its own domain errors, for the app's error handler. */
export function problemMappingsOf(
  modules: readonly ServiceModule[],
): ((error: unknown) => ProblemError | undefined)[] {
  return modules.flatMap((module) => (module.problems ? [module.problems] : []));
}

/** Every module's tag, in list order, for the API document. */
export function tagsOf(modules: readonly ServiceModule[]): { name: string; description: string }[] {
  return modules.flatMap((module) => (module.tag ? [module.tag] : []));
}
