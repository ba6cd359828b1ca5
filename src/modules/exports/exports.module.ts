import { defineModule } from '../../core/module.ts';
import { generateExport } from './exports.jobs.ts';
import { exportRoutes } from './exports.routes.ts';

/** Your items as a file, written by a worker. */
export const exportsModule = defineModule({
  name: 'exports',
  tag: { name: 'exports', description: 'Your items as a CSV or NDJSON file, written by a worker.' },
  routes: exportRoutes,
  jobs: [generateExport],
});
