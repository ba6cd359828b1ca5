import { defineModule } from '../../core/module.ts';
import { importItems } from './imports.jobs.ts';
import { importRoutes } from './imports.routes.ts';

/** Items from an uploaded CSV file, read by a worker. */
export const importsModule = defineModule({
  name: 'imports',
  tag: { name: 'imports', description: 'Items from an uploaded CSV file, read by a worker.' },
  routes: importRoutes,
  jobs: [importItems],
});
