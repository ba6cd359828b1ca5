import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { readMultipartFile } from '../../src/core/multipart-file.ts';
import { ProblemError } from '../../src/core/problem.ts';

const formRequest = (form: FormData) =>
  new Request('http://test/upload', { method: 'POST', body: form });

async function text(chunks: AsyncIterable<Uint8Array>): Promise<string> {
  const parts: Uint8Array[] = [];
  for await (const chunk of chunks) parts.push(chunk);
  return Buffer.concat(parts).toString('utf8');
}

describe('readMultipartFile', () => {
  test('finds the named file among other parts, and yields its bytes', async () => {
    const form = new FormData();
    form.append('purpose', 'batch');
    form.append('other', new File(['not this one'], 'other.txt'));
    form.append('file', new File(['line 1\nline 2\n'], 'batch.jsonl'));
    const found = await readMultipartFile(formRequest(form), 'file');
    assert.equal(found.found, 'file');
    if (found.found !== 'file') return;
    assert.equal(found.filename, 'batch.jsonl');
    assert.equal(await text(found.chunks), 'line 1\nline 2\n');
  });

  test('text in the file’s place, and a form without it, say so', async () => {
    const asText = new FormData();
    asText.append('file', 'just text');
    assert.deepEqual(await readMultipartFile(formRequest(asText), 'file'), { found: 'text' });
    const without = new FormData();
    without.append('purpose', 'batch');
    assert.deepEqual(await readMultipartFile(formRequest(without), 'file'), { found: 'nothing' });
  });

  test('a body that is no form is a 400', async () => {
    const request = new Request('http://test/upload', {
      method: 'POST',
      headers: { 'content-type': 'multipart/form-data' },
      body: 'no boundary',
    });
    await assert.rejects(
      readMultipartFile(request, 'file'),
      (error: unknown) => error instanceof ProblemError && error.status === 400,
    );
  });

  test('a form that breaks off inside the file fails its bytes with a 400', async () => {
    const boundary = 'cut';
    const request = new Request('http://test/upload', {
      method: 'POST',
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
      body: `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"\r\n\r\n${'x'.repeat(100_000)}`,
    });
    const found = await readMultipartFile(request, 'file');
    assert.equal(found.found, 'file');
    if (found.found !== 'file') return;
    await assert.rejects(
      text(found.chunks),
      (error: unknown) => error instanceof ProblemError && error.status === 400,
    );
  });
});
