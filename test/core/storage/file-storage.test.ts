import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { databaseStorage } from '../../../src/core/storage/database-storage.ts';
import { FileNotFoundError, type FileStorage } from '../../../src/core/storage/file-storage.ts';
import { filesystemStorage } from '../../../src/core/storage/filesystem-storage.ts';
import { createTestDeps, type TestDeps } from '../../support/deps.ts';

let deps: TestDeps;
let folder: string;

before(async () => {
  deps = await createTestDeps();
  folder = await mkdtemp(join(tmpdir(), 'storage-test-'));
});
after(async () => {
  await deps.close();
  await rm(folder, { recursive: true, force: true });
});

async function readAll(storage: FileStorage, key: string): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of storage.read(key)) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8');
}

async function* lines(count: number, prefix: string): AsyncIterable<string> {
  for (let index = 0; index < count; index += 1) yield `${prefix} line ${index}\n`;
}

for (const [name, make] of [
  ['database', () => databaseStorage(deps.db)],
  ['filesystem', () => filesystemStorage(folder)],
] as const) {
  describe(`${name} storage`, () => {
    test('writes a file in many chunks and reads it back whole', async () => {
      const storage = make();
      const { bytes } = await storage.write('exports/a.csv', lines(50_000, 'a'));
      const text = await readAll(storage, 'exports/a.csv');
      assert.equal(Buffer.byteLength(text), bytes);
      assert.equal(text.split('\n').length, 50_001);
      assert.ok(await storage.exists('exports/a.csv'));
    });

    test('a rewrite replaces the file whole; a failed write leaves the old one', async () => {
      const storage = make();
      await storage.write('exports/b.csv', lines(10, 'old'));
      await storage.write('exports/b.csv', lines(3, 'new'));
      assert.equal(await readAll(storage, 'exports/b.csv'), 'new line 0\nnew line 1\nnew line 2\n');
      async function* failing(): AsyncIterable<string> {
        yield 'half a file';
        throw new Error('the source broke');
      }
      await assert.rejects(storage.write('exports/b.csv', failing()), /the source broke/);
      assert.equal(await readAll(storage, 'exports/b.csv'), 'new line 0\nnew line 1\nnew line 2\n');
    });

    test('a writer may read the same database meanwhile (no deadlock on one connection)', async () => {
      const storage = make();
      async function* readingWhileWriting(): AsyncIterable<string> {
        for (let index = 0; index < 3; index += 1) {
          await deps.database.ping();
          yield `${index}\n`;
        }
      }
      await storage.write('exports/c.csv', readingWhileWriting());
      assert.equal(await readAll(storage, 'exports/c.csv'), '0\n1\n2\n');
    });

    test('delete removes it; reading a missing file is FileNotFoundError', async () => {
      const storage = make();
      await storage.write('exports/d.csv', lines(1, 'd'));
      await storage.delete('exports/d.csv');
      assert.equal(await storage.exists('exports/d.csv'), false);
      await assert.rejects(readAll(storage, 'exports/d.csv'), FileNotFoundError);
    });

    test('keys that could climb out of their folder are refused', async () => {
      const storage = make();
      await assert.rejects(storage.write('../etc/passwd', lines(1, 'x')), /Unsafe storage key/);
      await assert.rejects(storage.write('exports/../../x', lines(1, 'x')), /Unsafe storage key/);
    });
  });
}
