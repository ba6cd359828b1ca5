/**
 * The streamed-chunk check accepts exactly what `ChatCompletionChunk` accepts: valid chunks of
 * every kind, and each of them with every field removed or replaced by values of every kind.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ChatCompletionChunk } from '../../../src/modules/ai/ai.schemas.ts';
import { isChatCompletionChunk } from '../../../src/modules/ai/chunk-check.ts';

const head = { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1764460800, model: 'm' };
const VALID: Record<string, unknown>[] = [
  {
    ...head,
    choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }],
  },
  { ...head, choices: [{ index: 0, delta: { content: 'Hello' }, finish_reason: null }] },
  { ...head, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], system_fingerprint: 'fp' },
  {
    ...head,
    choices: [
      {
        index: 0,
        delta: { tool_calls: [{ index: 0, id: 'call_1', function: { name: 'f', arguments: '' } }] },
      },
    ],
  },
  {
    ...head,
    choices: [],
    usage: {
      prompt_tokens: 9,
      completion_tokens: 12,
      total_tokens: 21,
      prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 0 },
    },
  },
  { ...head, choices: [{ index: 1, delta: { content: null }, logprobs: null }], usage: null },
];

/** Values of every kind a JSON document can hold, and a few numbers on the edges. */
const REPLACEMENTS: unknown[] = [
  undefined,
  null,
  true,
  0,
  -1,
  1.5,
  2 ** 53,
  '',
  'x',
  'chat.completion.chunk',
  [],
  [{}],
  {},
];

/** Every path to a value in `value`, objects and arrays included. */
function pathsOf(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (typeof value !== 'object' || value === null) return [];
  const entries = Array.isArray(value)
    ? value.map((item, index) => [index, item] as const)
    : Object.entries(value);
  return entries.flatMap(([key, item]) => [[...prefix, key], ...pathsOf(item, [...prefix, key])]);
}

/** A deep copy of `value` with the value at `path` replaced (or removed, for undefined). */
function replaced(value: unknown, path: (string | number)[], next: unknown): unknown {
  const copy: unknown = structuredClone(value);
  let parent: unknown = copy;
  for (const key of path.slice(0, -1)) {
    if (typeof parent !== 'object' || parent === null) return copy;
    parent = (parent as Record<string | number, unknown>)[key];
  }
  const last = path.at(-1);
  if (last === undefined || typeof parent !== 'object' || parent === null) return copy;
  const target = parent as Record<string | number, unknown>;
  if (next === undefined && !Array.isArray(target)) delete target[last];
  else target[last] = next;
  return copy;
}

describe('isChatCompletionChunk', () => {
  test('accepts every valid chunk the schema accepts, as it is', () => {
    for (const chunk of VALID) {
      assert.equal(ChatCompletionChunk.safeParse(chunk).success, true, JSON.stringify(chunk));
      assert.equal(isChatCompletionChunk(chunk), true, JSON.stringify(chunk));
    }
  });

  test('agrees with the schema on every field of every chunk, removed or replaced', () => {
    let cases = 0;
    let refused = 0;
    for (const chunk of VALID) {
      for (const path of [...pathsOf(chunk), ['usage'], ['choices', 0, 'delta', 'role']]) {
        for (const next of REPLACEMENTS) {
          const broken = replaced(chunk, path, next);
          const expected = ChatCompletionChunk.safeParse(broken).success;
          assert.equal(isChatCompletionChunk(broken), expected, JSON.stringify(broken));
          cases++;
          if (!expected) refused++;
        }
      }
    }
    // The corpus holds both kinds, many of each.
    assert.ok(cases > 1000 && refused > 300 && cases - refused > 300, `${cases}, ${refused}`);
  });

  test('refuses what is not an object', () => {
    for (const value of [null, [], 'chunk', 1, [head]]) {
      assert.equal(isChatCompletionChunk(value), false);
      assert.equal(ChatCompletionChunk.safeParse(value).success, false);
    }
  });
});
