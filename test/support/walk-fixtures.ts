/**
 * Who sends a walk over every operation of the document, and the rows its path parameters
 * name: an administrator holding every scope, so requests reach validation and the handlers
 * instead of stopping at 401, and real ids, so they reach past "not found" into the handlers
 * that change rows.
 */
import { createItem } from '../../src/modules/items/items.service.ts';
import { createTestApiKey, createTestUser } from './auth.ts';
import type { TestDeps } from './deps.ts';

export async function walkFixtures(deps: TestDeps) {
  const admin = await createTestUser(deps, { role: 'admin' });
  const item = await createItem(deps.db, admin.user.id, { name: 'Existing item', price: '1.00' });
  const apiKey = await createTestApiKey(deps, admin.user, ['items:read']);
  // Another account for the user operations: deactivating the administrator who sends every
  // request turned each operation after it into a 401, and the walk went on without reaching
  // a handler.
  const other = await createTestUser(deps);
  /** A real id for each path template that has one. */
  const pathIds: Readonly<Record<string, string>> = {
    '/v1/items/{id}': item.id,
    '/v1/users/{id}': other.user.id,
    '/v1/api-keys/{id}': apiKey.id,
  };
  return { admin, pathIds };
}
