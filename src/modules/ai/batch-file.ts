import { z } from '@hono/zod-openapi';
import { findUnsafeText } from '../../core/safe-text.ts';
import { ChatCompletionRequest } from './ai.schemas.ts';
import type { ModelCatalog } from './models.ts';

/** The longest line a batch file may hold: one request, with room for a long prompt. */
const MAX_LINE_BYTES = 4 * 1024 * 1024;

/** One line of a batch file, OpenAI's Batch API shape: a request and the id to match it by. */
export const BatchRequestLine = z
  .object({
    custom_id: z.string().min(1).max(200),
    method: z.literal('POST'),
    url: z.literal('/v1/chat/completions', {
      error: 'must be /v1/chat/completions: batches run chat completions',
    }),
    body: ChatCompletionRequest,
  })
  .strict();

export type BatchRequestLine = z.output<typeof BatchRequestLine>;

export interface FileLine {
  /** From 1, counting blank lines, as an editor numbers them. */
  line: number;
  text: string;
}

/** A line longer than a request can be: the file is not JSONL (or not a batch). */
export class LineTooLongError extends Error {
  readonly line: number;

  constructor(line: number) {
    super(`longer than ${MAX_LINE_BYTES} bytes`);
    this.name = 'LineTooLongError';
    this.line = line;
  }
}

/**
 * Pieces gathered into a run before the run is joined: the pieces of a line sent in tiny
 * chunks would otherwise cost a string each (tens of bytes for one or two characters).
 */
const RUN_PIECES = 256;

/**
 * A line that arrives over many chunks. Its pieces are kept apart and joined once, when the
 * line ends: appending each chunk to one string and searching it again for a newline copied
 * the line so far at every chunk (a 4 MB line in 1 KiB chunks took 5.7 s).
 */
class PartialLine {
  private readonly runs: string[] = [];
  private pieces: string[] = [];
  private size = 0;

  /** Characters (UTF-16 code units) held so far. */
  get length(): number {
    return this.size;
  }

  add(piece: string): void {
    if (piece === '') return;
    this.pieces.push(piece);
    this.size += piece.length;
    if (this.pieces.length === RUN_PIECES) this.closeRun();
  }

  /** The line whole, ending with `last`, and the holder empty for the next one. */
  take(last = ''): string {
    // Most lines end in the chunk they start in: nothing to join.
    if (this.size === 0) return last;
    this.add(last);
    this.closeRun();
    const text = this.runs.join('');
    this.runs.length = 0;
    this.size = 0;
    return text;
  }

  private closeRun(): void {
    if (this.pieces.length === 0) return;
    this.runs.push(this.pieces.join(''));
    this.pieces = [];
  }
}

/**
 * The lines of a UTF-8 text read as chunks, one at a time: memory holds one chunk and one
 * line, whatever the file's size. Blank lines are skipped (their numbers still count).
 */
export async function* linesOf(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<FileLine> {
  const decoder = new TextDecoder('utf-8', { fatal: false });
  const pending = new PartialLine();
  let line = 0;
  const emit = function* (text: string): Generator<FileLine> {
    line += 1;
    const trimmed = text.endsWith('\r') ? text.slice(0, -1) : text;
    if (trimmed.trim() !== '') yield { line, text: trimmed };
  };
  for await (const chunk of chunks) {
    // Only the text just decoded is searched: what came before holds no newline.
    const text = decoder.decode(chunk, { stream: true });
    let from = 0;
    let end = text.indexOf('\n');
    while (end >= 0) {
      yield* emit(pending.take(text.slice(from, end)));
      from = end + 1;
      end = text.indexOf('\n', from);
    }
    pending.add(text.slice(from));
    if (pending.length > MAX_LINE_BYTES) throw new LineTooLongError(line + 1);
  }
  const last = pending.take(decoder.decode());
  if (last !== '') yield* emit(last);
}

/** What is wrong with one line of a batch file. */
export interface LineProblem {
  line: number;
  message: string;
}

/**
 * Checks a batch file line by line as it passes: each line a request the gateway could run
 * (its model known and a chat model, not streamed), each `custom_id` once. Keeps the ids it
 * has seen, not the lines.
 */
export class BatchFileCheck {
  readonly problems: LineProblem[] = [];
  requests = 0;
  private readonly seen = new Map<string, number>();

  private readonly catalog: ModelCatalog;
  private readonly maxLines: number;
  private readonly maxProblems: number;

  constructor(catalog: ModelCatalog, maxLines: number, maxProblems = 20) {
    this.catalog = catalog;
    this.maxLines = maxLines;
    this.maxProblems = maxProblems;
  }

  get full(): boolean {
    return this.problems.length >= this.maxProblems;
  }

  check({ line, text }: FileLine): BatchRequestLine | undefined {
    const fail = (message: string) => {
      this.problems.push({ line, message });
      return undefined;
    };
    this.requests += 1;
    if (this.requests > this.maxLines) {
      return fail(`a batch holds at most ${this.maxLines.toLocaleString('en')} requests`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return fail('not JSON: each line is one JSON object');
    }
    const parsed = BatchRequestLine.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return fail(`${issue?.path.join('.') || 'line'}: ${issue?.message ?? 'invalid'}`);
    }
    const unsafe = findUnsafeText(parsed.data)[0];
    if (unsafe) return fail(`${unsafe.path}: ${unsafe.message}`);
    const request = parsed.data;
    const before = this.seen.get(request.custom_id);
    if (before !== undefined) {
      return fail(`custom_id "${request.custom_id}" is used on line ${before} already`);
    }
    this.seen.set(request.custom_id, line);
    if (request.body.stream === true) return fail('body.stream: batch lines are not streamed');
    const model = this.catalog.find(request.body.model);
    if (!model) return fail(`body.model: no model is named ${request.body.model}`);
    if (model.kind !== 'chat') return fail(`body.model: ${model.id} is not a chat model`);
    return request;
  }
}
