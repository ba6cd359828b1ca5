import { createHash, randomBytes } from 'node:crypto';
import { and, desc, eq, isNull } from 'drizzle-orm';
import type { Database } from '../../core/db/database.ts';
import { ProblemError } from '../../core/problem.ts';
import type { Scope } from '../../core/security/scopes.ts';
import { apiKeys } from './api-keys.table.ts';

export type ApiKey = typeof apiKeys.$inferSelect;

/** Recognisable in logs, config files and secret scanners. */
export const API_KEY_PREFIX = 'hsk_';
const DISPLAY_LENGTH = API_KEY_PREFIX.length + 8;

/** Keys are random (256 bits), so a fast hash is enough: nothing to brute-force. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/**
 * Creates a key for `userId` with `scopes`, which must be a subset of `allowedScopes` (the
 * creator's own). Returns the stored record and the key itself, which is never stored.
 */
export async function createApiKey(
  db: Database,
  input: {
    userId: string;
    name: string;
    scopes: Scope[];
    expiresAt: Date | undefined;
    allowedScopes: ReadonlySet<Scope>;
  },
): Promise<{ record: ApiKey; key: string }> {
  const excess = input.scopes.filter((scope) => !input.allowedScopes.has(scope));
  if (excess.length > 0) {
    throw new ProblemError(403, {
      detail: `A key cannot have scopes its creator lacks: ${excess.join(' ')}`,
    });
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

/** Revokes one of the user's keys; false when the user has no such live key. */
export async function revokeApiKey(
  db: Database,
  userId: string,
  id: string,
  now: Date,
): Promise<ApiKey | undefined> {
  const [revoked] = await db
    .update(apiKeys)
    .set({ revokedAt: now })
    .where(and(eq(apiKeys.id, id), eq(apiKeys.userId, userId), isNull(apiKeys.revokedAt)))
    .returning();
  return revoked;
}

export async function findApiKeyByHash(db: Database, keyHash: string): Promise<ApiKey | undefined> {
  const [key] = await db.select().from(apiKeys).where(eq(apiKeys.keyHash, keyHash));
  return key;
}

export async function touchApiKey(db: Database, id: string, at: Date): Promise<void> {
  await db.update(apiKeys).set({ lastUsedAt: at }).where(eq(apiKeys.id, id));
}
