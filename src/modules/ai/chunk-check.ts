import { isPlainObject } from '../../core/plain-object.ts';
import type { ChatCompletionChunk } from './ai.schemas.ts';

/**
 * Whether a parsed event is a chunk `ChatCompletionChunk` accepts, checked in place.
 *
 * The schema's `safeParse` gives a copy of every object it accepts (loose objects keep their
 * other fields by copying them): every event of every streamed answer was parsed by
 * `JSON.parse`, then copied, and the copies were the largest share of what outlived a
 * young-generation collection under load (decision 084). Of what `JSON.parse` makes, this
 * accepts exactly what the schema accepts: `test/modules/ai/chunk-check.test.ts` holds the
 * two to that over valid chunks and every field of them broken. A field the schema comes to
 * require, or a change to one it names, fails that test until this follows; a new optional
 * field needs a chunk carrying it among the test's valid ones.
 */
export function isChatCompletionChunk(value: unknown): value is ChatCompletionChunk {
  if (!isPlainObject(value)) return false;
  if (typeof value.id !== 'string' || typeof value.model !== 'string') return false;
  if (value.object !== 'chat.completion.chunk' || !Number.isSafeInteger(value.created)) {
    return false;
  }
  const { choices, usage } = value;
  if (!Array.isArray(choices) || !choices.every(isChoice)) return false;
  return usage === undefined || usage === null || isUsage(usage);
}

/** Absent, null or a string: `z.string().nullable().optional()`. */
function isOptionalText(value: unknown): boolean {
  return value === undefined || value === null || typeof value === 'string';
}

function isChoice(choice: unknown): boolean {
  if (!isPlainObject(choice) || !Number.isSafeInteger(choice.index)) return false;
  if (!isOptionalText(choice.finish_reason)) return false;
  const { delta } = choice;
  if (!isPlainObject(delta)) return false;
  if (delta.role !== undefined && typeof delta.role !== 'string') return false;
  if (!isOptionalText(delta.content)) return false;
  const calls = delta.tool_calls;
  return calls === undefined || (Array.isArray(calls) && calls.every(isPlainObject));
}

function isUsage(usage: unknown): boolean {
  if (!isPlainObject(usage)) return false;
  if (!Number.isSafeInteger(usage.prompt_tokens)) return false;
  if (!Number.isSafeInteger(usage.completion_tokens)) return false;
  if (!Number.isSafeInteger(usage.total_tokens)) return false;
  const details = usage.prompt_tokens_details;
  if (details === undefined) return true;
  if (!isPlainObject(details)) return false;
  return details.cached_tokens === undefined || Number.isSafeInteger(details.cached_tokens);
}
