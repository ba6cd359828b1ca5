import { hash, randomBytes } from 'node:crypto';
import { and, desc, eq, isNull } from 'drizzle-orm';
import type { Database } from '../../core/db/database.ts';
import { ForbiddenError, InvalidInputError, NotFoundError } from '../../core/domain-errors.ts';
import type { Scope, ScopeCatalog } from '../../core/security/scopes.ts';
import { apiKeys } from './api-keys.table.ts';

export type ApiKey = typeof apiKeys.$inferSelect;

/** Recognisable in logs, config files and secret scanners. */
export const API_KEY_PREFIX = 'hsk_';
const DISPLAY_LENGTH = API_KEY_PREFIX.length + 8;

/** Keys are random (256 bits), so a fast hash is enough: nothing to brute-force. */
export function hashApiKey(key: string): string {
  return hash('sha256', key, 'hex');
}

/** What a client may see of a key: never its hash, nor (after creation) the key. */
export function toPublicApiKey(key: ApiKey) {
  const { id, name, prefix, scopes, expiresAt, lastUsedAt, createdAt } = key;
  return { id, name, prefix, scopes, expiresAt, lastUsedAt, createdAt };
}

/**
 * Creates a key for `userId` with `scopes`: each a scope of the service, and among
 * `allowedScopes` (the creator's own). Returns the stored record and the key itself, which
 * is never stored.
 */
export async function createApiKey(
  db: Database,
  input: {
    userId: string;
    name: string;
    scopes: readonly string[];
    expiresAt: Date | undefined;
    allowedScopes: ReadonlySet<Scope>;
    known: Pick<ScopeCatalog, 'has' | 'size'>;
    now: Date;
  },
): Promise<{ record: ApiKey; key: string }> {
  // Each scope at most once: the document's `maxItems` for the list (its schema cannot know
  // the modules' scopes, so the bound is checked here).
  const tooMany =
    input.scopes.length > input.known.size
      ? [
          {
            path: 'scopes',
            message: `must hold at most ${input.known.size} scopes`,
            code: 'too_big',
          },
        ]
      : [];
  const unknown = input.scopes.flatMap((scope, index) =>
    input.known.has(scope)
      ? []
      : [{ path: `scopes.${index}`, message: `no scope is named ${scope}`, code: 'invalid_value' }],
  );
  const expired =
    input.expiresAt && input.expiresAt <= input.now
      ? [{ path: 'expiresAt', message: 'must be in the future', code: 'too_small' }]
      : [];
  if (tooMany.length > 0 || unknown.length > 0 || expired.length > 0) {
    throw new InvalidInputError('The key cannot be made as asked; see `errors`.', [
      ...tooMany,
      ...unknown,
      ...expired,
    ]);
  }
  const excess = input.scopes.filter(
    (scope) => !input.known.has(scope) || !input.allowedScopes.has(scope),
  );
  if (excess.length > 0) {
    throw new ForbiddenError(`A key cannot have scopes its creator lacks: ${excess.join(' ')}`);
  }
  const key = `${API_KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
  const [record] = await db
    .insert(apiKeys)
    .values({
      userId: input.userId,
      name: input.name,
      prefix: key.slice(0, DISPLAY_LENGTH),
      keyHash: hashApiKey(key),
      scopes: [...new Set(input.scopes)],
      expiresAt: input.expiresAt ?? null,
    })
    .returning();
  if (!record) throw new Error('insert returned no row');
  return { record, key };
}

/** The user's keys that are not revoked, newest first. */
export async function listApiKeys(db: Database, userId: string): Promise<ApiKey[]> {
  return db
    .select()
    .from(apiKeys)
    .where(and(eq(apiKeys.userId, userId), isNull(apiKeys.revokedAt)))
    .orderBy(desc(apiKeys.id));
}

/** Revokes one of the user's live keys; another user's key, or a revoked one, is not found. */
export async function revokeApiKey(
  db: Database,
  userId: string,
  id: string,
  now: Date,
): Promise<ApiKey> {
  const [revoked] = await db
    .update(apiKeys)
    .set({ revokedAt: now })
    .where(and(eq(apiKeys.id, id), eq(apiKeys.userId, userId), isNull(apiKeys.revokedAt)))
    .returning();
  if (!revoked) throw new NotFoundError('API key');
  return revoked;
}

export async function findApiKeyByHash(db: Database, keyHash: string): Promise<ApiKey | undefined> {
  const [key] = await db.select().from(apiKeys).where(eq(apiKeys.keyHash, keyHash));
  return key;
}

export async function touchApiKey(db: Database, id: string, at: Date): Promise<void> {
  await db.update(apiKeys).set({ lastUsedAt: at }).where(eq(apiKeys.id, id));
}
