import { defineModule } from '../../core/module.ts';
import { purgeExpired } from './maintenance.jobs.ts';

/** Scheduled clean-up: expired tokens, idempotency keys and exports. */
export const maintenanceModule = defineModule({
  name: 'maintenance',
  jobs: [purgeExpired],
});
