import { defineModule } from '../../core/module.ts';
import { healthRoutes } from './health.routes.ts';

/** Probes for load balancers and orchestrators. */
export const healthModule = defineModule({
  name: 'health',
  tag: { name: 'health', description: 'Probes for load balancers and orchestrators.' },
  routes: healthRoutes,
});
