import { defineModule } from '../../core/module.ts';
import { apiKeyRoutes } from './api-keys.routes.ts';

/** Scoped keys for programs. */
export const apiKeysModule = defineModule({
  name: 'api-keys',
  tag: { name: 'api-keys', description: 'Scoped keys for programs, sent as `X-API-Key`.' },
  routes: apiKeyRoutes,
});
