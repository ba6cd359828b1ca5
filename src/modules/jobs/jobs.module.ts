import { defineModule } from '../../core/module.ts';
import { jobRoutes } from './jobs.routes.ts';

/** Background jobs as clients see them: state, live progress, cancellation. */
export const jobsModule = defineModule({
  name: 'jobs',
  tag: { name: 'jobs', description: 'Background jobs: state, live progress, cancellation.' },
  routes: jobRoutes,
});
