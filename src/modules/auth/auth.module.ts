import { defineModule } from '../../core/module.ts';
import { authRoutes, grantProblem } from './auth.routes.ts';
import { GrantError } from './auth.service.ts';

/** Accounts, logging in (OAuth2 password flow) and out. */
export const authModule = defineModule({
  name: 'auth',
  tag: { name: 'auth', description: 'Accounts, logging in (OAuth2 password flow) and out.' },
  routes: authRoutes,
  problems: (error) => (error instanceof GrantError ? grantProblem(error) : undefined),
});
