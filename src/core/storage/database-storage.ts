import { and, asc, eq, gt } from 'drizzle-orm';
import type { Database } from '../db/database.ts';
import { uuidv7 } from '../ids.ts';
import { assertSafeKey, FileNotFoundError, type FileStorage, rechunk } from './file-storage.ts';
import { storedChunks } from './stored-chunks.table.ts';

const CHUNK_BYTES = 256 * 1024;

/**
 * Files in PostgreSQL, so every API process and worker sees them with no shared disk.
 * Chunks are written under a temporary key and renamed in one short transaction at the
 * end: readers see the old file or the whole new one. No transaction stays open while the
 * chunks are produced, as that would hold a connection (with the embedded database, the
 * only one) for as long as the writer takes, and deadlock a writer that reads meanwhile.
 */
export function databaseStorage(db: Database): FileStorage {
  return {
    async write(key, chunks) {
      assertSafeKey(key);
      const partial = `${key}.partial-${uuidv7()}`;
      let seq = 0;
      let bytes = 0;
      try {
        for await (const data of rechunk(chunks, CHUNK_BYTES)) {
          await db.insert(storedChunks).values({ key: partial, seq, data });
          seq += 1;
          bytes += data.length;
        }
        if (seq === 0)
          await db.insert(storedChunks).values({ key: partial, seq, data: new Uint8Array() });
        await db.transaction(async (tx) => {
          await tx.delete(storedChunks).where(eq(storedChunks.key, key));
          await tx.update(storedChunks).set({ key }).where(eq(storedChunks.key, partial));
        });
      } catch (error) {
        await db.delete(storedChunks).where(eq(storedChunks.key, partial));
        throw error;
      }
      return { bytes };
    },
    async *read(key) {
      assertSafeKey(key);
      // One chunk per query: memory stays at one chunk whatever the file's size.
      let seq = -1;
      for (;;) {
        const [chunk] = await db
          .select()
          .from(storedChunks)
          .where(and(eq(storedChunks.key, key), gt(storedChunks.seq, seq)))
          .orderBy(asc(storedChunks.seq))
          .limit(1);
        if (!chunk) {
          if (seq === -1) throw new FileNotFoundError(key);
          return;
        }
        seq = chunk.seq;
        if (chunk.data.length > 0) yield chunk.data;
      }
    },
    async exists(key) {
      assertSafeKey(key);
      const [chunk] = await db
        .select({ seq: storedChunks.seq })
        .from(storedChunks)
        .where(eq(storedChunks.key, key))
        .limit(1);
      return chunk !== undefined;
    },
    async delete(key) {
      assertSafeKey(key);
      await db.delete(storedChunks).where(eq(storedChunks.key, key));
    },
  };
}
