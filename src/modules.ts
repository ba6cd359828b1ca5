import { jobsOf, scopesOf } from './core/module.ts';
import { CORE_SCOPES, scopeCatalog } from './core/security/scopes.ts';
import { adminModule } from './modules/admin/admin.module.ts';
import { aiModule } from './modules/ai/ai.module.ts';
import { apiKeysModule } from './modules/api-keys/api-keys.module.ts';
import { authModule } from './modules/auth/auth.module.ts';
import { exportsModule } from './modules/exports/exports.module.ts';
import { healthModule } from './modules/health/health.module.ts';
import { importsModule } from './modules/imports/imports.module.ts';
import { itemsModule } from './modules/items/items.module.ts';
import { jobsModule } from './modules/jobs/jobs.module.ts';
import { maintenanceModule } from './modules/maintenance/maintenance.module.ts';
import { usersModule } from './modules/users/users.module.ts';

/**
 * Every feature of the service, in the order the docs list them. The one place a module is
 * registered: the app mounts their routes and pages, workers run their jobs, and the scope
 * catalog is built from their scopes. `npm run new:module` adds a line here.
 */
export const MODULES = [
  healthModule,
  authModule,
  usersModule,
  apiKeysModule,
  itemsModule,
  jobsModule,
  exportsModule,
  importsModule,
  aiModule,
  adminModule,
  maintenanceModule,
] as const;

/** Every job of every module: what a worker runs. */
export const JOBS = jobsOf(MODULES);

/** Every scope the service knows: every module's, then core's. */
export const SCOPES = scopeCatalog([...scopesOf(MODULES), CORE_SCOPES]);
