/** What a user account is: every user has a role, and a role bounds the scopes it may hold. */
export type Role = 'user' | 'admin';

export const ROLES: readonly Role[] = ['user', 'admin'];

/** A scope as a module declares it: what it allows, and who may hold it. */
export interface ScopeDefinition {
  /** Shown in the docs page's "Authorize" dialog. */
  description: string;
  /** The roles that may hold it; every role when absent. */
  roles?: readonly Role[];
}

/** The names of a set of scope definitions, in the shape the registry takes them. */
export type ScopeNames<T> = { readonly [K in keyof T]: true };

/** Core's own scope: administration, held only by administrators. */
export const CORE_SCOPES = {
  admin: {
    description: 'Manage every user (administrators only)',
    roles: ['admin'],
  },
} as const satisfies Record<string, ScopeDefinition>;

/**
 * Every scope of the API, by name, for the type checker. A module adds its own in its
 * manifest (`declare module '…/scopes.ts' { interface ScopeRegistry extends ScopeNames<…> {} }`),
 * so `auth: { scopes: ['items:read'] }` is checked at compile time; the running catalog
 * is built from the same manifests (`scopeCatalog`).
 */
export interface ScopeRegistry extends ScopeNames<typeof CORE_SCOPES> {}

export type Scope = Extract<keyof ScopeRegistry, string>;

/** The scopes the running service knows, built once from core's and every module's. */
export interface ScopeCatalog {
  /** Every scope with its description, for the OAuth2 scheme of the document. */
  readonly descriptions: Readonly<Record<string, string>>;
  /** Whether `name` is a scope of this service. */
  has(name: string): name is Scope;
  /** How many scopes the service has: the longest list of distinct scopes. */
  readonly size: number;
  /** The scopes `role` may hold, in declaration order. */
  forRole(role: Role): Scope[];
}

/**
 * The catalog of `definitions` (core's scopes first, then each module's). A name declared
 * twice is a mistake in the manifests, reported at start.
 *
 * @example
 * const scopes = scopeCatalog([CORE_SCOPES, itemsModule.scopes]);
 * scopes.forRole('user'); // ['items:read', 'items:write']
 */
export function scopeCatalog(
  definitions: readonly Readonly<Record<string, ScopeDefinition>>[],
): ScopeCatalog {
  const known = new Map<string, ScopeDefinition>();
  for (const set of definitions) {
    for (const [name, definition] of Object.entries(set)) {
      if (known.has(name)) throw new Error(`The scope "${name}" is declared twice`);
      known.set(name, definition);
    }
  }
  const has = (name: string): name is Scope => known.has(name);
  const byRole = new Map(
    ROLES.map((role) => [
      role,
      [...known]
        .filter(([, definition]) => definition.roles?.includes(role) ?? true)
        .map(([name]) => name)
        .filter(has),
    ]),
  );
  return {
    descriptions: Object.fromEntries(
      [...known].map(([name, { description }]) => [name, description]),
    ),
    has,
    size: known.size,
    forRole: (role) => [...(byRole.get(role) ?? [])],
  };
}
