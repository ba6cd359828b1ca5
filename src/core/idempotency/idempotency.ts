import { createHash } from 'node:crypto';
import { z } from '@hono/zod-openapi';
import { and, eq, lt } from 'drizzle-orm';
import type { Database } from '../db/database.ts';
import { ProblemError } from '../problem.ts';
import { idempotencyKeys } from './idempotency.table.ts';

/** The response to remember for a key, and to replay on retries. */
/** `Idempotency-Key` as a request header of a create operation. */
export const IdempotencyHeaders = z.object({
  'idempotency-key': z.string().min(1).max(255).optional().openapi({
    description:
      'Makes a retry safe: the same key and body replay the first response instead of creating again.',
    example: '5f0c6b1e-4a4f-4b7e-9a53-2f2f1d0c7b9a',
  }),
});

export interface RecordedResponse {
  status: number;
  body: unknown;
  location?: string | undefined;
}

export interface IdempotencyRequest {
  ownerId: string;
  key: string;
  /** What identifies the request: operation and body (see `requestFingerprint`). */
  fingerprint: string;
  now: Date;
  ttlSeconds: number;
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** A hash of the operation and body; key order in the JSON does not matter. */
export function requestFingerprint(operation: string, body: unknown): string {
  return createHash('sha256')
    .update(operation)
    .update('\n')
    .update(canonicalJson(body))
    .digest('hex');
}

/**
 * Runs `work` at most once per (caller, key) while the key lives. The key is claimed in the
 * same transaction as the work, so:
 * - a retry after success replays the recorded response (`replayed: true`);
 * - a concurrent request with the same key waits on the claim (PostgreSQL's unique index
 *   lock) until the first commits, then replays; if the first fails, it runs itself;
 * - the same key with another body is 422;
 * - a failed attempt records nothing, so a corrected retry can use the same key.
 */
export async function runIdempotent(
  db: Database,
  request: IdempotencyRequest,
  work: (tx: Database) => Promise<RecordedResponse>,
): Promise<{ response: RecordedResponse; replayed: boolean }> {
  const expiresAt = new Date(request.now.getTime() + request.ttlSeconds * 1000);
  const where = and(
    eq(idempotencyKeys.ownerId, request.ownerId),
    eq(idempotencyKeys.key, request.key),
  );
  return db.transaction(async (tx) => {
    const claimed = await tx
      .insert(idempotencyKeys)
      .values({
        ownerId: request.ownerId,
        key: request.key,
        requestHash: request.fingerprint,
        expiresAt,
      })
      .onConflictDoUpdate({
        target: [idempotencyKeys.ownerId, idempotencyKeys.key],
        // An expired key is free for reuse; a live one is left alone.
        set: {
          requestHash: request.fingerprint,
          status: null,
          body: null,
          location: null,
          createdAt: request.now,
          expiresAt,
        },
        setWhere: lt(idempotencyKeys.expiresAt, request.now),
      })
      .returning({ key: idempotencyKeys.key });
    if (claimed.length === 0) {
      const [existing] = await tx.select().from(idempotencyKeys).where(where);
      if (!existing || existing.status === null) {
        throw new ProblemError(409, {
          detail: 'A request with this Idempotency-Key is in progress; retry shortly',
        });
      }
      if (existing.requestHash !== request.fingerprint) {
        throw new ProblemError(422, {
          detail: 'This Idempotency-Key was used with a different request',
          extensions: {
            errors: [
              {
                location: 'header',
                path: 'idempotency-key',
                message: 'was used with a different request',
                code: 'idempotency_mismatch',
              },
            ],
          },
        });
      }
      return {
        response: {
          status: existing.status,
          body: existing.body,
          location: existing.location ?? undefined,
        },
        replayed: true,
      };
    }
    const response = await work(tx);
    await tx
      .update(idempotencyKeys)
      .set({ status: response.status, body: response.body, location: response.location ?? null })
      .where(where);
    return { response, replayed: false };
  });
}

/** Deletes expired keys, for the scheduled clean-up. */
export async function purgeIdempotencyKeys(db: Database, now: Date): Promise<number> {
  const deleted = await db
    .delete(idempotencyKeys)
    .where(lt(idempotencyKeys.expiresAt, now))
    .returning({ key: idempotencyKeys.key });
  return deleted.length;
}
