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
 * are read past. A form that breaks off or does not parse is a 400, when it is found or,
 * after the file was handed over, as an error of its bytes.
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
      parser = Busboy({ headers: { 'content-type': request.headers.get('content-type') ?? '' } });
    } catch (error) {
      // No boundary, or not multipart at all.
      reject(malformed(error));
      return;
    }
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
    parser.on('error', (error: unknown) => {
      if (!settled) {
        settled = true;
        reject(malformed(error));
      } else {
        file?.destroy(malformed(error));
      }
    });
    const source = Readable.from(body);
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
