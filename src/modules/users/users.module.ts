import { defineModule } from '../../core/module.ts';
import { userRoutes } from './users.routes.ts';

/** Your account, and user administration (the core `admin` scope). */
export const usersModule = defineModule({
  name: 'users',
  tag: { name: 'users', description: 'Your account, and user administration.' },
  routes: userRoutes,
});
