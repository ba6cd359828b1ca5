/**
 * A batch file's lines read as its chunks arrive: a line is found however the chunks cut it
 * (a line ending, a character's bytes), and a long line sent in small chunks is read in time
 * linear in its length. Appending each chunk to the line so far and searching all of it again
 * for a newline made a 4 MB line in 1 KiB chunks take 5.7 s, and in 16-byte chunks minutes.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setImmediate } from 'node:timers/promises';
import { type FileLine, LineTooLongError, linesOf } from '../../../src/modules/ai/batch-file.ts';

/** The batch file's limit on a line, in characters (batch-file.ts). */
const MAX_LINE = 4 * 1024 * 1024;

/**
 * The bytes in chunks of `size`, letting the event loop turn now and then as a socket's chunks
 * do: a read that takes minutes is then ended by the test's timeout, not waited for.
 */
async function* chunksOf(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0, count = 1; at < bytes.length; at += size, count++) {
    if (count % 1024 === 0) await setImmediate();
    yield bytes.subarray(at, at + size);
  }
}

async function linesIn(text: string | Uint8Array, chunkBytes: number): Promise<FileLine[]> {
  const bytes = typeof text === 'string' ? new TextEncoder().encode(text) : text;
  const lines: FileLine[] = [];
  for await (const line of linesOf(chunksOf(bytes, chunkBytes))) lines.push(line);
  return lines;
}

const longLine = (length: number) => `{"custom_id":"${'a'.repeat(length - 16)}"}`;

describe('linesOf', () => {
  test('a line at the limit, sent in 16-byte chunks, comes out whole', async () => {
    const line = longLine(MAX_LINE);
    assert.equal(line.length, MAX_LINE);
    const lines = await linesIn(`${line}\n{"next":1}\n`, 16);
    assert.equal(lines.length, 2);
    assert.equal(lines[0]?.line, 1);
    assert.ok(lines[0]?.text === line, 'the long line, whole and unchanged');
    assert.deepEqual(lines[1], { line: 2, text: '{"next":1}' });
  });

  test('a line ending or a character cut between chunks, blank lines, and no last newline', async () => {
    const text = 'first\r\n\n  \r\nsecond €uro ✓\r\n\n{"last":"line"}';
    const expected = [
      { line: 1, text: 'first' },
      { line: 4, text: 'second €uro ✓' },
      { line: 6, text: '{"last":"line"}' },
    ];
    for (const size of [1, 2, 3, 5, 7, 1024]) assert.deepEqual(await linesIn(text, size), expected);
    // Bytes that are not UTF-8 are replaced, as before, not refused.
    const broken = new Uint8Array([0x61, 0xff, 0x62, 0x0a, 0xe2, 0x82]);
    assert.deepEqual(await linesIn(broken, 1), [
      { line: 1, text: 'a\uFFFDb' },
      { line: 2, text: '\uFFFD' },
    ]);
  });

  test('a line longer than the limit fails, naming it, however it is cut', async () => {
    // Checked where a chunk ends, so a line may pass the limit by less than a chunk.
    const text = `{"a":1}\n\n${'x'.repeat(MAX_LINE + 1024 * 1024)}\n{"b":2}\n`;
    for (const size of [64 * 1024, 1024 * 1024]) {
      await assert.rejects(
        linesIn(text, size),
        (error: unknown) => error instanceof LineTooLongError && error.line === 3,
      );
    }
  });
});
