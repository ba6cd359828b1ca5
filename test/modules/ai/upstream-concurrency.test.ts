/**
 * The upstream's concurrency cap at its default (decision 096): a streamed answer holds its
 * slot until its last token, so calls in flight are the call rate times the answer's length,
 * and the default must not be what holds them back.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type Gateway, startGateway } from '../../support/ai.ts';

let gateway: Gateway;

before(async () => {
  // The per-key limit raised past the test's calls, and the wait for the upstream's head past
  // the test's hold (a call held longer is retried); the cap and the queue at their defaults.
  gateway = await startGateway({
    env: { AI_REQUESTS_PER_MINUTE: '100000', AI_CONNECT_TIMEOUT_MS: '60000' },
  });
});
after(() => gateway?.close());

test('at the default cap, a hundred streamed answers held by the upstream are all in flight at once', async () => {
  const calls = 100;
  const held = Promise.withResolvers<void>();
  for (let i = 0; i < calls; i++) {
    gateway.fake.script('chat', {
      kind: 'stream',
      pieces: ['still ', 'here'],
      until: held.promise,
    });
  }
  const answers = Array.from({ length: calls }, (_, index) =>
    gateway.postJson('/v1/chat/completions', {
      model: 'gpt-test',
      messages: [{ role: 'user', content: `stream ${index}` }],
      stream: true,
    }),
  );
  try {
    // Every call reached the upstream while none had been answered: none waited for a slot.
    await gateway.fake.waitForRequests(calls, { endpoint: 'chat', timeoutMs: 10_000 });
  } finally {
    held.resolve();
  }
  const responses = await Promise.all(answers);
  assert.deepEqual(
    responses.map((response) => response.status),
    Array.from({ length: calls }, () => 200),
  );
  const bodies = await Promise.all(responses.map((response) => response.text()));
  assert.ok(bodies.every((body) => body.includes('still ') && body.endsWith('data: [DONE]\n\n')));
});
