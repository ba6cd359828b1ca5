/**
 * Files any process of the service can read back: exports, uploads. Written and read as
 * streams, so no file is ever held whole in memory.
 */
export interface FileStorage {
  /** Stores the chunks under `key`, replacing any file there; all or nothing. */
  write(key: string, chunks: AsyncIterable<Uint8Array | string>): Promise<{ bytes: number }>;
  /** The file's bytes in order; throws `FileNotFoundError` when there is none. */
  read(key: string): AsyncIterable<Uint8Array>;
  exists(key: string): Promise<boolean>;
  delete(key: string): Promise<void>;
}

export class FileNotFoundError extends Error {
  constructor(key: string) {
    super(`No stored file ${key}`);
    this.name = 'FileNotFoundError';
  }
}

/** Keys are paths like `exports/<uuid>.csv`: nothing that could climb out of a folder. */
export function assertSafeKey(key: string): void {
  if (!/^[a-z0-9-]+(\/[a-zA-Z0-9._-]+)+$/.test(key) || key.includes('..')) {
    throw new Error(`Unsafe storage key: ${key}`);
  }
}

/** Groups small writes into chunks of about `size` bytes. */
export async function* rechunk(
  chunks: AsyncIterable<Uint8Array | string>,
  size: number,
): AsyncIterable<Buffer> {
  let pending: Buffer[] = [];
  let length = 0;
  for await (const chunk of chunks) {
    const buffer =
      typeof chunk === 'string'
        ? Buffer.from(chunk)
        : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    pending.push(buffer);
    length += buffer.length;
    if (length >= size) {
      yield Buffer.concat(pending, length);
      pending = [];
      length = 0;
    }
  }
  if (length > 0) yield Buffer.concat(pending, length);
}
