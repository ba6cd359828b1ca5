import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { withCurrentTable } from '../scripts/config-docs.ts';
import { createApp } from '../src/app.ts';
import { createTestDeps } from './support/deps.ts';

test('the README configuration table matches the settings schema (npm run docs:config)', () => {
  const readme = readFileSync('README.md', 'utf8');
  assert.equal(readme, withCurrentTable(readme));
});

test('the README quick start shows the exact commands CI runs', () => {
  const readme = readFileSync('README.md', 'utf8');
  const ci = readFileSync('.ci/run', 'utf8');
  assert.match(readme, /^npm test\b/m);
  assert.match(ci, /\bnpm test\b/);
  assert.match(readme, /npm run dev/);
});

test('the committed openapi.json matches the code (npm run openapi)', async () => {
  const { renderOpenApi, OPENAPI_FILE } = await import('../scripts/openapi.ts');
  assert.equal(readFileSync(OPENAPI_FILE, 'utf8'), await renderOpenApi());
});

const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const;

/**
 * Every API path the README names, as written (`GET /v1/jobs/{id}`, or a path alone): in
 * its inline code spans and its tables. Fenced code blocks are left out: they show code to
 * write (a new `/v1/greetings` route), not routes that exist.
 */
function readmeApiPaths(readme: string): { method: string | undefined; path: string }[] {
  const prose = readme.replace(/^```[^\n]*\n[\s\S]*?^```$/gm, '');
  const spans = [...prose.matchAll(/`([^`]+)`/g)].map((match) => match[1] ?? '');
  const tableRows = prose.split('\n').filter((line) => line.startsWith('|'));
  const mentions = new Map<string, { method: string | undefined; path: string }>();
  const pathPattern = new RegExp(
    `(?:\\b(${HTTP_METHODS.join('|')})\\s+)?(/v1/[\\w\\-.~{}/%:@]*[\\w\\-~}])`,
    'g',
  );
  for (const text of [...spans, ...tableRows]) {
    for (const [, method, path = ''] of text.matchAll(pathPattern)) {
      mentions.set(`${method ?? ''} ${path}`, { method, path });
    }
  }
  return [...mentions.values()];
}

interface PathParameter {
  name: string;
  in: string;
  schema?: { type?: string; format?: string; pattern?: string; enum?: unknown[] };
}

interface Operation {
  parameters?: PathParameter[];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether a concrete path segment is a value the parameter's schema accepts. */
function acceptsValue(parameter: PathParameter | undefined, value: string): boolean {
  const schema = parameter?.schema ?? {};
  if (schema.enum) return schema.enum.includes(value);
  if (schema.format === 'uuid') return UUID.test(value);
  if (schema.type === 'integer') return /^-?\d+$/.test(value);
  if (schema.pattern) return new RegExp(schema.pattern).test(value);
  return value.length > 0;
}

/**
 * Whether `path` as the README writes it names this operation's path `template`: literal
 * segments equal, and each `{param}` written as a placeholder (`{id}`) or as a value its
 * schema accepts, so `/v1/items/stats` is not taken for `/v1/items/{id}`.
 */
function namesTemplate(path: string, template: string, operation: Operation): boolean {
  const given = path.split('/');
  const wanted = template.split('/');
  if (given.length !== wanted.length) return false;
  return wanted.every((segment, index) => {
    const value = given[index] ?? '';
    const param = /^\{(.+)\}$/.exec(segment)?.[1];
    if (param === undefined) return value === segment;
    if (/^\{.+\}$/.test(value)) return true;
    const parameter = operation.parameters?.find(
      (candidate) => candidate.in === 'path' && candidate.name === param,
    );
    return acceptsValue(parameter, value);
  });
}

test('every API path the README names is an operation of the OpenAPI document the app serves', async () => {
  const deps = await createTestDeps();
  try {
    const response = await createApp(deps).request('/openapi.json');
    assert.equal(response.status, 200);
    const document = (await response.json()) as {
      paths: Record<string, Record<string, Operation>>;
    };
    const operations = Object.entries(document.paths).flatMap(([template, item]) =>
      Object.entries(item).map(([method, operation]) => ({
        template,
        method: method.toUpperCase(),
        operation,
      })),
    );

    const mentioned = readmeApiPaths(readFileSync('README.md', 'utf8'));
    // The README does name routes: a parser that finds none would pass for ever.
    assert.ok(
      mentioned.some((mention) => mention.method === 'POST' && mention.path === '/v1/exports'),
      JSON.stringify(mentioned),
    );
    const unknown = mentioned.filter(
      ({ method, path }) =>
        !operations.some(
          (candidate) =>
            (method === undefined || candidate.method === method) &&
            namesTemplate(path, candidate.template, candidate.operation),
        ),
    );
    assert.deepEqual(
      unknown.map(({ method, path }) => `${method ?? '(any method)'} ${path}`),
      [],
      `the README names operations the API does not have; it has: ${[...new Set(operations.map((candidate) => candidate.template))].join(', ')}`,
    );
  } finally {
    await deps.close();
  }
});

test('the README path check tells templates, ids and other words apart', () => {
  const item: Operation = {
    parameters: [{ name: 'id', in: 'path', schema: { type: 'string', format: 'uuid' } }],
  };
  assert.ok(namesTemplate('/v1/items/{id}', '/v1/items/{id}', item));
  assert.ok(
    namesTemplate('/v1/items/0193a5b0-7e2f-7c3a-9d4e-5f6a7b8c9d0e', '/v1/items/{id}', item),
  );
  assert.ok(!namesTemplate('/v1/items/stats', '/v1/items/{id}', item));
  assert.ok(!namesTemplate('/v1/items/{id}/events', '/v1/items/{id}', item));
  assert.deepEqual(
    readmeApiPaths(
      "Call `GET /v1/jobs/{id}`, then `/v1/items`.\n| `DELETE /v1/jobs/{id}` | x |\n```ts\npath: '/v1/greetings'\n```\n",
    ),
    [
      { method: 'GET', path: '/v1/jobs/{id}' },
      { method: undefined, path: '/v1/items' },
      { method: 'DELETE', path: '/v1/jobs/{id}' },
    ],
  );
});
