import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { readMultipartFile } from '../../src/core/multipart-file.ts';
import { ProblemError } from '../../src/core/problem.ts';

const formRequest = (form: FormData) =>
  new Request('http://test/upload', { method: 'POST', body: form });

const BOUNDARY = 'b0undary';

/** A part of a multipart body: a field, or a file when `filename` is given. */
function part(name: string, content: string, filename?: string): string {
  const file = filename === undefined ? '' : `; filename="${filename}"`;
  return `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"${file}\r\n\r\n${content}\r\n`;
}

/** A form sent in 1 KiB chunks, with a count of the chunks read from it so far. */
function streamedForm(parts: string[]) {
  const bytes = new TextEncoder().encode(`${parts.join('')}--${BOUNDARY}--\r\n`);
  const sent = { chunks: 0, of: Math.ceil(bytes.length / 1024) };
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent.chunks === sent.of) return controller.close();
      controller.enqueue(bytes.slice(sent.chunks * 1024, (sent.chunks + 1) * 1024));
      sent.chunks += 1;
    },
  });
  const request = new Request('http://test/upload', {
    method: 'POST',
    headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
    body,
    duplex: 'half',
  });
  return { request, sent };
}

const emptyFields = (count: number) => Array.from({ length: count }, () => part('a', ''));

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

  const refused = (what: string) => (error: unknown) =>
    error instanceof ProblemError &&
    error.status === 413 &&
    error.message.startsWith(`The form holds more than ${what}:`);

  test('thousands of parts before the file: a 413, and the form is read no further', async () => {
    const shapes = {
      '8 fields': emptyFields(5_000),
      '2 files': Array.from({ length: 5_000 }, () => part('a', '', 'a.txt')),
      // Parts busboy skips (no Content-Disposition) count only as parts.
      '10 parts': Array.from({ length: 5_000 }, () => `--${BOUNDARY}\r\nX-A: b\r\n\r\n\r\n`),
    };
    for (const [what, parts] of Object.entries(shapes)) {
      const { request, sent } = streamedForm([...parts, part('file', '{}\n', 'batch.jsonl')]);
      await assert.rejects(readMultipartFile(request, 'file'), refused(what));
      assert.ok(sent.chunks < sent.of / 4, `${what}: ${sent.chunks} of ${sent.of} chunks read`);
    }
  });

  test('a form at the limits is read; one part more of any kind is a 413', async () => {
    const others = [...emptyFields(8), part('other', 'x', 'other.txt')];
    const file = part('file', '{}\n', 'batch.jsonl');
    const atLimits = await readMultipartFile(streamedForm([...others, file]).request, 'file');
    assert.equal(atLimits.found, 'file');
    if (atLimits.found === 'file') assert.equal(await text(atLimits.chunks), '{}\n');
    // Ten parts or fewer, so that each of these two meets its own limit, not that on parts.
    const field = streamedForm([...emptyFields(9), file]);
    await assert.rejects(readMultipartFile(field.request, 'file'), refused('8 fields'));
    const another = streamedForm([
      part('other', 'x', 'other.txt'),
      part('more', 'x', 'more.txt'),
      file,
    ]);
    await assert.rejects(readMultipartFile(another.request, 'file'), refused('2 files'));
    const nameless = streamedForm([...others, `--${BOUNDARY}\r\n\r\n\r\n`, file]);
    await assert.rejects(readMultipartFile(nameless.request, 'file'), refused('10 parts'));
  });

  test('parts past the limit after the file are not read, and the file is whole', async () => {
    const content = 'line 1\n'.repeat(1_000);
    const { request, sent } = streamedForm([
      part('purpose', 'batch'),
      part('file', content, 'batch.jsonl'),
      ...emptyFields(5_000),
    ]);
    const found = await readMultipartFile(request, 'file');
    assert.equal(found.found, 'file');
    if (found.found !== 'file') return;
    assert.equal(await text(found.chunks), content);
    assert.ok(sent.chunks < sent.of / 4, `${sent.chunks} of ${sent.of} chunks read`);
  });
});
