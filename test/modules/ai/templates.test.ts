/**
 * Prompt templates: versions, typed variables, and answers checked against a declared JSON
 * Schema, asked again once when they do not fit.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { uuidv7 } from '../../../src/core/ids.ts';
import { aiPromptTemplates } from '../../../src/modules/ai/ai.table.ts';
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

/** The `errors` of a 422 problem document, by path and code. */
function fieldErrors(body: Record<string, unknown>) {
  return (body.errors as { path: string; code: string; message: string }[]).map(
    ({ path, code }) => [path, code],
  );
}

/** A template of one user message, `{{x}}`, with `x` as `schema` says. */
const withX = (name: string, schema: Record<string, unknown>, extra: object = {}) => ({
  name,
  model: 'gpt-test',
  messages: [{ role: 'user', content: 'Look at {{x}}' }],
  variables: { type: 'object', properties: { x: schema }, required: ['x'], ...extra },
});

/**
 * `d0` to `d<depth>`, each an `anyOf` of two ways to the next: directly (`{$ref: d_i+1}` twice)
 * or through a definition of its own for each branch (`a_i`, `b_i`, both `{$ref: d_i+1}`).
 */
function doublingDefinitions(depth: number, through: boolean) {
  const $defs: Record<string, unknown> = {
    [`d${depth}`]: { type: 'string', minLength: 5 },
  };
  for (let i = 0; i < depth; i++) {
    const next = { $ref: `#/$defs/d${i + 1}` };
    if (!through) {
      $defs[`d${i}`] = { anyOf: [next, next] };
      continue;
    }
    $defs[`d${i}`] = { anyOf: [{ $ref: `#/$defs/a${i}` }, { $ref: `#/$defs/b${i}` }] };
    $defs[`a${i}`] = next;
    $defs[`b${i}`] = next;
  }
  return $defs;
}

describe('prompt templates: schemas and renderings that would hold the server', () => {
  test('`pattern` is refused when a template is saved, named with its place; a property named `pattern` is not', async () => {
    // ^(a+)+$ backtracks: 31 characters held the event loop 34 s.
    const variables = await call(
      'POST',
      '/v1/ai/templates',
      withX('regex', { type: 'string', pattern: '^(a+)+$' }),
    );
    assert.equal(variables.status, 422, JSON.stringify(variables.body));
    assert.deepEqual(fieldErrors(variables.body), [
      ['variables.properties.x.pattern', 'schema_regex_refused'],
    ]);
    assert.match(JSON.stringify(variables.body.errors), /`pattern` is not accepted/);
    const output = await call('POST', '/v1/ai/templates', {
      ...withX('regex-output', { type: 'string' }),
      outputSchema: {
        type: 'object',
        properties: { tags: { type: 'array', items: { type: 'string', pattern: 'a*b' } } },
      },
    });
    assert.equal(output.status, 422, JSON.stringify(output.body));
    assert.deepEqual(fieldErrors(output.body), [
      ['outputSchema.properties.tags.items.pattern', 'schema_regex_refused'],
    ]);
    const named = await call('POST', '/v1/ai/templates', {
      ...withX('named-pattern', { type: 'string' }),
      variables: {
        type: 'object',
        properties: { x: { type: 'string' }, pattern: { type: 'string' } },
      },
    });
    assert.equal(named.status, 201, JSON.stringify(named.body));
  });

  test('`patternProperties` and `propertyNames` are refused when a template is saved', async () => {
    const patterned = await call(
      'POST',
      '/v1/ai/templates',
      withX('pattern-properties', {
        type: 'object',
        patternProperties: { '^(a+)+$': { type: 'string' } },
      }),
    );
    assert.equal(patterned.status, 422, JSON.stringify(patterned.body));
    assert.deepEqual(fieldErrors(patterned.body), [
      ['variables.properties.x.patternProperties', 'schema_regex_refused'],
    ]);
    const named = await call(
      'POST',
      '/v1/ai/templates',
      withX('property-names', { type: 'object', propertyNames: { pattern: '^(a+)+$' } }),
    );
    assert.equal(named.status, 422, JSON.stringify(named.body));
    assert.deepEqual(fieldErrors(named.body), [
      ['variables.properties.x.propertyNames', 'schema_regex_refused'],
      ['variables.properties.x.propertyNames.pattern', 'schema_regex_refused'],
    ]);
  });

  test('`anyOf` branches that lead to one definition, directly or through others, are refused when saved', async () => {
    // 20 levels (1.4 KB) took 3.6 s to check a 3-character string, doubling with each level.
    for (const through of [false, true]) {
      const doubling = await call(
        'POST',
        '/v1/ai/templates',
        withX(
          `doubling-${through}`,
          { $ref: '#/$defs/d0' },
          { $defs: doublingDefinitions(20, through) },
        ),
      );
      assert.equal(doubling.status, 422, JSON.stringify(doubling.body));
      assert.deepEqual(fieldErrors(doubling.body).at(0), [
        'variables.$defs.d0',
        'schema_refs_multiply',
      ]);
      assert.match(
        JSON.stringify(doubling.body.errors),
        /`anyOf` branch 0 and `anyOf` branch 1 both lead to #\/\$defs\/d1/,
      );
    }
    const cycle = await call(
      'POST',
      '/v1/ai/templates',
      withX(
        'cycle',
        { $ref: '#/$defs/a' },
        { $defs: { a: { anyOf: [{ type: 'string' }, { $ref: '#/$defs/a' }] } } },
      ),
    );
    assert.equal(cycle.status, 422, JSON.stringify(cycle.body));
    assert.deepEqual(fieldErrors(cycle.body), [['variables', 'schema_ref_cycle']]);
    // One branch to a definition, and a recursive one through its items, are fine.
    const nullable = await call(
      'POST',
      '/v1/ai/templates',
      withX(
        'nullable-tree',
        { anyOf: [{ $ref: '#/$defs/node' }, { type: 'null' }] },
        {
          $defs: {
            node: {
              type: 'object',
              properties: {
                label: { type: 'string' },
                children: { type: 'array', items: { $ref: '#/$defs/node' } },
              },
            },
          },
        },
      ),
    );
    assert.equal(nullable.status, 201, JSON.stringify(nullable.body));
    gateway.fake.script('chat', { kind: 'completion', content: 'A tree.' });
    const answer = await call('POST', `/v1/ai/templates/${nullable.body.id}/completions`, {
      variables: { x: { label: 'root', children: [{ label: 'leaf', children: [] }] } },
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
  });

  test('a schema past 64 KB or 32 levels deep is refused when saved', async () => {
    const large = await call(
      'POST',
      '/v1/ai/templates',
      withX('large', { type: 'string', description: 'x'.repeat(70_000) }),
    );
    assert.equal(large.status, 422, JSON.stringify(large.body));
    assert.deepEqual(fieldErrors(large.body), [['variables', 'schema_too_large']]);
    let nested: Record<string, unknown> = { type: 'string' };
    for (let level = 0; level < 20; level++) nested = { type: 'object', properties: { x: nested } };
    const deep = await call('POST', '/v1/ai/templates', withX('deep', nested));
    assert.equal(deep.status, 422, JSON.stringify(deep.body));
    assert.deepEqual(fieldErrors(deep.body), [['variables', 'schema_too_deep']]);
  });

  test('a stored template with a `pattern` (saved before the rule) is refused when called, not run', async () => {
    const [row] = await gateway.deps.db
      .insert(aiPromptTemplates)
      .values({
        id: uuidv7(),
        ownerId: gateway.user.id,
        name: 'stored-regex',
        version: 1,
        model: 'gpt-test',
        messages: [{ role: 'user', content: '{{x}}' }],
        variables: withX('', { type: 'string', pattern: '^(a+)+$' }).variables,
      })
      .returning();
    assert.ok(row);
    const answer = await call('POST', `/v1/ai/templates/${row.id}/completions`, {
      variables: { x: `${'a'.repeat(27)}!` },
    });
    assert.equal(answer.status, 422, JSON.stringify(answer.body));
    assert.deepEqual(fieldErrors(answer.body), [
      ['variables.properties.x.pattern', 'schema_regex_refused'],
    ]);
  });

  test('a rendering past 1 MiB characters is refused before it is made, and the server answers on', async () => {
    // 4,000 placeholders (20,000 characters, the most a message may have) times 1,000
    // characters: 4 million. A 1 MB template times 100 KB ran the process out of memory.
    const template = await call('POST', '/v1/ai/templates', {
      ...withX('repeat', { type: 'string' }),
      messages: [{ role: 'user', content: '{{x}}'.repeat(4_000) }],
    });
    assert.equal(template.status, 201, JSON.stringify(template.body));
    const before = gateway.fake.requests.length;
    const refused = await call('POST', `/v1/ai/templates/${template.body.id}/completions`, {
      variables: { x: 'y'.repeat(1_000) },
    });
    assert.equal(refused.status, 422, JSON.stringify(refused.body));
    assert.equal(refused.body.title, 'Unprocessable Content');
    assert.deepEqual(fieldErrors(refused.body), [['variables.x', 'rendering_too_large']]);
    assert.match(
      JSON.stringify(refused.body.errors),
      /4000000 characters, more than 1048576; \{\{x\}\} makes 4000000 of them/,
    );
    assert.equal(gateway.fake.requests.length, before, 'the model was not called');
    const list = await call('GET', '/v1/ai/templates?name=repeat');
    assert.equal(list.status, 200);
    gateway.fake.script('chat', { kind: 'completion', content: 'Short.' });
    const small = await call('POST', `/v1/ai/templates/${template.body.id}/completions`, {
      variables: { x: '' },
    });
    assert.equal(small.status, 200, JSON.stringify(small.body));
  });

  test('variables that would take too long to check, or are nested too deep for it, are refused', async () => {
    // 500 branches that fit no number, times 1,000 numbers: 500,000 checks, each failed
    // branch an issue kept (20,000 values against 2,000 branches ran out of memory).
    const wide = await call(
      'POST',
      '/v1/ai/templates',
      withX('wide', {
        type: 'array',
        items: { anyOf: Array.from({ length: 500 }, (_, i) => ({ type: 'string', minLength: i })) },
      }),
    );
    assert.equal(wide.status, 201, JSON.stringify(wide.body));
    const costly = await call('POST', `/v1/ai/templates/${wide.body.id}/completions`, {
      variables: { x: Array.from({ length: 1_000 }, () => 1) },
    });
    assert.equal(costly.status, 422, JSON.stringify(costly.body));
    assert.deepEqual(fieldErrors(costly.body), [['variables', 'too_costly_to_check']]);
    const tree = await call(
      'POST',
      '/v1/ai/templates',
      withX(
        'nested',
        { $ref: '#/$defs/list' },
        {
          $defs: { list: { type: 'array', items: { $ref: '#/$defs/list' } } },
        },
      ),
    );
    assert.equal(tree.status, 201, JSON.stringify(tree.body));
    // zod recurses once or more per level, and JSON.stringify too (for a value the schema
    // does not look into, put into the message as JSON): each overflowed its stack, a 500.
    const anything = await call('POST', '/v1/ai/templates', withX('anything', {}));
    assert.equal(anything.status, 201, JSON.stringify(anything.body));
    const deep = `{"variables":{"x":${'['.repeat(10_000)}${']'.repeat(10_000)}}}`;
    for (const [id, path] of [
      [tree.body.id, 'variables'],
      [anything.body.id, 'variables.x'],
    ]) {
      const res = await fetch(`${gateway.base}/v1/ai/templates/${id}/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${gateway.key}`, 'content-type': 'application/json' },
        body: deep,
      });
      const body = (await res.json()) as Record<string, unknown>;
      assert.equal(res.status, 422, JSON.stringify(body));
      assert.deepEqual(fieldErrors(body), [[path, 'too_deeply_nested']]);
    }
  });
});
