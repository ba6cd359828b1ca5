/**
 * A streamed answer gathered as it passes: the text each chunk adds, tool-call fragments
 * merged by index (arguments joined, the rest kept from its first fragment), and a call that
 * grows by a field a fragment merged in place, not copied each time.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ChatCompletionChunk } from '../../../src/modules/ai/ai.schemas.ts';
import { StreamAssembly } from '../../../src/modules/ai/stream-assembly.ts';

const chunkOf = (delta: Record<string, unknown>, finish: string | null = null) =>
  ({
    id: 'chatcmpl-1',
    object: 'chat.completion.chunk',
    created: 1,
    model: 'm',
    choices: [{ index: 0, delta, finish_reason: finish }],
  }) satisfies ChatCompletionChunk;

test('each chunk says the text it added; the whole text is their sum', () => {
  const assembly = new StreamAssembly();
  assert.equal(assembly.add(chunkOf({ role: 'assistant', content: '' })), '');
  assert.equal(assembly.add(chunkOf({ content: 'Bon' })), 'Bon');
  assert.equal(assembly.add(chunkOf({ content: 'jour' })), 'jour');
  assert.equal(assembly.add(chunkOf({}, 'stop')), '');
  assert.equal(assembly.text, 'Bonjour');
  assert.equal(assembly.completion().choices[0]?.finish_reason, 'stop');
});

test('tool-call fragments are merged by index: arguments joined, the rest kept first', () => {
  const assembly = new StreamAssembly();
  const call = (fragment: Record<string, unknown>) => chunkOf({ tool_calls: [fragment] });
  assembly.add(
    call({ index: 0, id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"a"' } }),
  );
  assembly.add(call({ index: 1, id: 'call_2', function: { name: 'g', arguments: '' } }));
  assembly.add(call({ index: 0, id: 'ignored', function: { arguments: ':1}' } }));
  assembly.add(call({ index: 1, function: { arguments: '{}' } }));
  assert.deepEqual(assembly.completion().choices[0]?.message.tool_calls, [
    { id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } },
    { id: 'call_2', function: { name: 'g', arguments: '{}' } },
  ]);
});

test('a call growing by a new field in each of 200,000 fragments is gathered whole', () => {
  // Copied for every fragment, this was quadratic: 11.5 s for a megabyte of fragments, and
  // minutes past the test's timeout for this many.
  const assembly = new StreamAssembly();
  const count = 200_000;
  for (let index = 0; index < count; index++) {
    assembly.add(chunkOf({ tool_calls: [{ index: 0, function: { [`k${index}`]: index } }] }));
  }
  const [call] = assembly.completion().choices[0]?.message.tool_calls ?? [];
  const fn = call?.function;
  assert.ok(typeof fn === 'object' && fn !== null);
  assert.equal(Object.keys(fn).length, count);
});
