/**
 * Every scope the API knows, with the description the docs page shows in its "Authorize"
 * dialog. A route names the scopes it needs in its definition (`auth: { scopes: [...] }`).
 */
export const SCOPES = {
  'items:read': 'Read your items',
  'items:write': 'Create, change and delete your items',
  admin: 'Manage every user (administrators only)',
} as const;

export type Scope = keyof typeof SCOPES;

export const ALL_SCOPES = Object.keys(SCOPES) as Scope[];

export type Role = 'user' | 'admin';

/** What a role may be granted; a token or key carries a subset of it. */
export function scopesForRole(role: Role): Scope[] {
  return role === 'admin' ? ALL_SCOPES : ALL_SCOPES.filter((scope) => scope !== 'admin');
}

export function isScope(value: string): value is Scope {
  return Object.hasOwn(SCOPES, value);
}
