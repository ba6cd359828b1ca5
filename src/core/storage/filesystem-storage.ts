import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { assertSafeKey, FileNotFoundError, type FileStorage } from './file-storage.ts';

/**
 * Files under `root`. Only for one machine, or several sharing the folder: an API process
 * elsewhere cannot serve what a worker wrote here.
 */
export function filesystemStorage(root: string): FileStorage {
  const pathOf = (key: string) => {
    assertSafeKey(key);
    return join(root, key);
  };
  return {
    async write(key, chunks) {
      const path = pathOf(key);
      await mkdir(dirname(path), { recursive: true });
      // Written aside, then renamed: a reader never sees half a file.
      const partial = `${path}.${process.pid}.partial`;
      let bytes = 0;
      const counted = Readable.from(
        (async function* () {
          for await (const chunk of chunks) {
            bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
            yield chunk;
          }
        })(),
      );
      try {
        await pipeline(counted, createWriteStream(partial));
        await rename(partial, path);
      } catch (error) {
        await rm(partial, { force: true });
        throw error;
      }
      return { bytes };
    },
    async *read(key) {
      const path = pathOf(key);
      try {
        await stat(path);
      } catch {
        throw new FileNotFoundError(key);
      }
      yield* createReadStream(path, { highWaterMark: 256 * 1024 });
    },
    async exists(key) {
      try {
        await stat(pathOf(key));
        return true;
      } catch {
        return false;
      }
    },
    async delete(key) {
      await rm(pathOf(key), { force: true });
    },
  };
}
