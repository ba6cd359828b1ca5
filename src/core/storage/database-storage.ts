import { and, asc, eq, gt } from 'drizzle-orm';
import type { Database } from '../db/database.ts';
import { assertSafeKey, FileNotFoundError, type FileStorage, rechunk } from './file-storage.ts';
import { storedChunks } from './stored-chunks.table.ts';

const CHUNK_BYTES = 256 * 1024;

/**
 * Files in PostgreSQL, so every API process and worker sees them with no shared disk. A
 * write is one transaction: readers see the old file or the whole new one.
 */
export function databaseStorage(db: Database): FileStorage {
  return {
    async write(key, chunks) {
      assertSafeKey(key);
      return db.transaction(async (tx) => {
        await tx.delete(storedChunks).where(eq(storedChunks.key, key));
        let seq = 0;
        let bytes = 0;
        for await (const data of rechunk(chunks, CHUNK_BYTES)) {
          await tx.insert(storedChunks).values({ key, seq, data });
          seq += 1;
          bytes += data.length;
        }
        if (seq === 0) await tx.insert(storedChunks).values({ key, seq, data: new Uint8Array() });
        return { bytes };
      });
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
