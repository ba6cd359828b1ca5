import { defineModule } from '../../core/module.ts';
import { queueDashboard } from './queue-dashboard.ts';

/** The job queues' dashboard for administrators: pages, not API operations. */
export const adminModule = defineModule({
  name: 'admin',
  pages: queueDashboard,
});
