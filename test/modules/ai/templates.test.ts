/**
 * Prompt templates: versions, typed variables, and answers checked against a declared JSON
 * Schema, asked again once when they do not fit.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { bodyOf, type Gateway, startGateway } from '../../support/ai.ts';
import { createTestApiKey, createTestUser } from '../../support/auth.ts';

let gateway: Gateway;
before(async () => {
  gateway = await startGateway();
});
after(() => gateway?.close());

async function call(method: string, path: string, body?: unknown) {
  const res = await fetch(`${gateway.base}${path}`, {
    method,
    headers: { authorization: `Bearer ${gateway.key}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const summary = (system: string) => ({
  name: 'summary',
  model: 'gpt-test',
  messages: [
    { role: 'system', content: system },
    { role: 'user', content: 'Summarise in {{words}} words: {{text}}' },
  ],
  variables: {
    type: 'object',
    properties: { text: { type: 'string' }, words: { type: 'integer', minimum: 5 } },
    required: ['text', 'words'],
  },
  temperature: 0,
});

describe('prompt templates', () => {
  test('saving a name again makes its next version; each version stays callable by its id', async () => {
    const first = await call('POST', '/v1/ai/templates', summary('Be brief.'));
    const second = await call('POST', '/v1/ai/templates', summary('Be very brief.'));
    assert.equal(first.status, 201);
    assert.equal(first.body.version, 1);
    assert.equal(second.body.version, 2);
    const latest = await call('GET', '/v1/ai/templates');
    assert.deepEqual(
      (latest.body.data as { name: string; version: number }[]).map((t) => [t.name, t.version]),
      [['summary', 2]],
    );
    const versions = await call('GET', '/v1/ai/templates?name=summary');
    assert.deepEqual(
      (versions.body.data as { version: number }[]).map((t) => t.version),
      [2, 1],
    );
    gateway.fake.script('chat', { kind: 'completion', content: 'Short.' });
    const answer = await call('POST', `/v1/ai/templates/${first.body.id}/completions`, {
      variables: { text: 'Keyset pages stay exact.', words: 5 },
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.output, 'Short.');
    const sent = bodyOf(gateway.fake.requests.at(-1));
    assert.deepEqual(sent.messages, [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Summarise in 5 words: Keyset pages stay exact.' },
    ]);
    assert.equal(sent.temperature, 0);
  });

  test('variables are checked against the template’s schema; a placeholder must be declared', async () => {
    const template = await call('POST', '/v1/ai/templates', summary('Be brief.'));
    const wrong = await call('POST', `/v1/ai/templates/${template.body.id}/completions`, {
      variables: { text: 'x', words: 2 },
    });
    assert.equal(wrong.status, 422);
    assert.deepEqual(
      (wrong.body.errors as { path: string }[]).map((error) => error.path),
      ['variables.words'],
    );
    const undeclared = await call('POST', '/v1/ai/templates', {
      ...summary('Hello {{name}}'),
      name: 'greeting',
    });
    assert.equal(undeclared.status, 422);
    assert.match(JSON.stringify(undeclared.body.errors), /\{\{name\}\} is not a declared variable/);
  });

  const structured = {
    name: 'title',
    model: 'gpt-test',
    messages: [{ role: 'user', content: 'A title for: {{text}}' }],
    variables: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
    outputSchema: {
      type: 'object',
      properties: { title: { type: 'string', minLength: 3 } },
      required: ['title'],
      additionalProperties: false,
    },
  };

  test('an answer that does not fit the output schema is asked again, with what was wrong', async () => {
    const template = await call('POST', '/v1/ai/templates', structured);
    gateway.fake.script(
      'chat',
      { kind: 'completion', content: '{"name": 1}' },
      { kind: 'completion', content: '{"title": "Exact pages"}' },
    );
    const answer = await call('POST', `/v1/ai/templates/${template.body.id}/completions`, {
      variables: { text: 'keyset pagination' },
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(answer.body.output, { title: 'Exact pages' });
    assert.equal(answer.body.attempts, 2);
    const [firstTry, secondTry] = gateway.fake.requests.slice(-2).map(bodyOf);
    assert.ok(firstTry && secondTry);
    assert.equal(bodyOf({ body: firstTry.response_format }).type, 'json_schema');
    const retryMessages = secondTry.messages as { role: string; content: string }[];
    assert.equal(retryMessages.at(-2)?.content, '{"name": 1}');
    assert.match(
      retryMessages.at(-1)?.content ?? '',
      /does not fit the required JSON Schema.*title/,
    );
  });

  test('an answer that never fits is a 502 invalid_output', async () => {
    const template = await call('POST', '/v1/ai/templates', { ...structured, name: 'title2' });
    gateway.fake.script(
      'chat',
      { kind: 'completion', content: 'not json at all' },
      { kind: 'completion', content: '{"title": "x"}' },
    );
    const answer = await call('POST', `/v1/ai/templates/${template.body.id}/completions`, {
      variables: { text: 'anything' },
    });
    assert.equal(answer.status, 502);
    assert.equal(answer.body.code, 'invalid_output');
  });

  test('another user’s template is not found', async () => {
    const template = await call('POST', '/v1/ai/templates', { ...summary('x'), name: 'mine' });
    const stranger = await createTestUser(gateway.deps);
    const { key } = await createTestApiKey(gateway.deps, stranger.user, ['ai:chat']);
    for (const [method, path] of [
      ['GET', `/v1/ai/templates/${template.body.id}`],
      ['POST', `/v1/ai/templates/${template.body.id}/completions`],
    ] as const) {
      const res = await fetch(`${gateway.base}${path}`, {
        method,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        ...(method === 'POST' ? { body: '{"variables":{}}' } : {}),
      });
      assert.equal(res.status, 404, `${method} ${path}`);
    }
  });
});
