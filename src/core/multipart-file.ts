import { Readable } from 'node:stream';
import type { BusboyConstructor, BusboyFileStream, BusboyInstance } from '@fastify/busboy';
import { ProblemError } from './problem.ts';

let busboy: Promise<{ Busboy: BusboyConstructor }> | undefined;

/** What a multipart form holds under one field name. */
export type MultipartFile =
  | { found: 'file'; filename: string; chunks: AsyncIterable<Uint8Array> }
  /** The field was sent as text, not as a file. */
  | { found: 'text' }
  | { found: 'nothing' };

/**
 * What a form may hold: an upload sends its file and a field or two beside it (OpenAI's
 * clients send `purpose`). Without limits every part was parsed, however many: a body of
 * thousands of empty parts before the file cost 130 to 220 ms a megabyte.
 */
const FORM_LIMITS = {
  parts: 10,
  fields: 8,
  files: 2,
  // The fields' values are never read (only whether the file came as text): none is kept whole.
  fieldSize: 1024,
};

const overLimit = (what: 'parts' | 'fields' | 'files', field: string) =>
  new ProblemError(413, {
    detail: `The form holds more than ${FORM_LIMITS[what]} ${what}: send the file in \`${field}\` with at most ${FORM_LIMITS.fields} fields and one other file beside it`,
  });

const malformed = (error: unknown) =>
  new ProblemError(400, {
    detail: `Malformed FormData request. ${error instanceof Error ? error.message : String(error)}`,
  });

/** The file's bytes; a form that breaks off inside it (busboy's own error) is a 400. */
async function* asProblems(stream: BusboyFileStream): AsyncGenerator<Uint8Array> {
  try {
    for await (const chunk of stream) yield chunk;
  } catch (error) {
    throw error instanceof ProblemError ? error : malformed(error);
  }
}

/**
 * The file a multipart form sends under `field`, as it arrives: found once the part's headers
 * are read, its bytes then read from the request as the caller reads them, so neither the
 * form nor the file is ever gathered in memory (Hono's `parseBody` gathers both). Other parts
 * are read past, up to FORM_LIMITS: more before the file is a 413, and more after it is not
 * read. A form that breaks off or does not parse is a 400, when it is found or, after the file
 * was handed over, as an error of its bytes.
 */
export async function readMultipartFile(request: Request, field: string): Promise<MultipartFile> {
  const body = request.body;
  if (!body) return { found: 'nothing' };
  // Loaded on the first upload: most processes never take one.
  busboy ??= import('@fastify/busboy');
  const { Busboy } = await busboy;
  return new Promise((resolve, reject) => {
    let parser: BusboyInstance;
    try {
      parser = Busboy({
        headers: { 'content-type': request.headers.get('content-type') ?? '' },
        limits: FORM_LIMITS,
      });
    } catch (error) {
      // No boundary, or not multipart at all.
      reject(malformed(error));
      return;
    }
    const source = Readable.from(body);
    let file: BusboyFileStream | undefined;
    let settled = false;
    const settle = (outcome: MultipartFile) => {
      if (settled) return;
      settled = true;
      resolve(outcome);
    };
    parser.on('file', (name, stream, filename) => {
      if (name !== field || settled) {
        stream.resume();
        return;
      }
      file = stream;
      settle({ found: 'file', filename, chunks: asProblems(stream) });
    });
    parser.on('field', (name) => {
      if (name === field) settle({ found: 'text' });
    });
    parser.on('finish', () => settle({ found: 'nothing' }));
    // A limit is reached at a part after the last one allowed. Busboy would go on parsing the
    // rest only to skip it: the rest is not read. Past the file, whose bytes are whole by
    // then, that is all; before it, the form is refused.
    const refuse = (what: 'parts' | 'fields' | 'files') => {
      source.unpipe(parser);
      if (settled) return;
      settled = true;
      reject(overLimit(what, field));
    };
    parser.on('partsLimit', () => refuse('parts'));
    parser.on('fieldsLimit', () => refuse('fields'));
    parser.on('filesLimit', () => refuse('files'));
    parser.on('error', (error: unknown) => {
      if (!settled) {
        settled = true;
        reject(malformed(error));
      } else {
        file?.destroy(malformed(error));
      }
    });
    source.on('error', (error) => {
      if (!settled) {
        settled = true;
        reject(error instanceof ProblemError ? error : malformed(error));
      } else {
        file?.destroy(error);
      }
    });
    source.pipe(parser);
  });
}
