import { defineModule } from '../../core/module.ts';
import type { ScopeNames } from '../../core/security/scopes.ts';
import { itemRoutes } from './items.routes.ts';

const scopes = {
  'items:read': { description: 'Read your items' },
  'items:write': { description: 'Create, change and delete your items' },
} as const;

// The type checker learns the scopes here, so `auth: { scopes: ['items:read'] }` compiles
// only for scopes some module declares.
declare module '../../core/security/scopes.ts' {
  interface ScopeRegistry extends ScopeNames<typeof scopes> {}
}

/** The reference resource: a user's items. */
export const itemsModule = defineModule({
  name: 'items',
  tag: { name: 'items', description: 'The reference resource: your items.' },
  scopes,
  routes: itemRoutes,
});
