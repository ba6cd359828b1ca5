/**
 * The breaking-change classification, on the committed document with planted changes: a
 * removal, a new required field and a narrowed enum are breaking; an added optional field is
 * not; and the way this template moved API-key scopes into `x-required-scopes` is no change
 * of auth at all.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { type Change, compareDocuments } from '../../scripts/openapi-changes.ts';

type Json = Record<string, unknown>;

const ROOT = new URL('../..', import.meta.url).pathname;
const committed = readFileSync(`${ROOT}openapi.json`, 'utf8');

/** A fresh copy of the committed document, for planting one change in. */
const documentCopy = (): Json => JSON.parse(committed) as Json;

/** The object at a path of keys, asserting it is there. */
function at(node: unknown, ...keys: string[]): Json {
  let current = node;
  for (const key of keys) {
    assert.ok(typeof current === 'object' && current !== null, `no ${keys.join('.')}`);
    current = Reflect.get(current, key);
  }
  assert.ok(typeof current === 'object' && current !== null, `no ${keys.join('.')}`);
  return current as Json;
}

const breakingOf = (changes: Change[]) =>
  changes.filter((change) => change.breaking).map((c) => `${c.operation} ${c.where}: ${c.what}`);

describe('compareDocuments', () => {
  test('finds nothing between a document and itself', () => {
    assert.deepEqual(compareDocuments(documentCopy(), documentCopy()), []);
  });

  test('a removed operation is breaking', () => {
    const after = documentCopy();
    delete at(after, 'paths', '/v1/items/{id}').delete;
    assert.deepEqual(breakingOf(compareDocuments(documentCopy(), after)), [
      'DELETE /v1/items/{id} operation: removed',
    ]);
  });

  test('a new required request field is breaking', () => {
    const after = documentCopy();
    const schema = at(after, 'components', 'schemas', 'ItemCreate');
    at(schema, 'properties').colour = { type: 'string' };
    schema.required = [...(schema.required as string[]), 'colour'];
    const breaking = breakingOf(compareDocuments(documentCopy(), after));
    assert.ok(breaking.length > 0);
    assert.ok(
      breaking.every((line) => /› colour: field added, required$/.test(line)),
      breaking.join('\n'),
    );
    assert.ok(breaking.some((line) => line.startsWith('POST /v1/items request body')));
  });

  test('an optional field that becomes required in a request is breaking', () => {
    const after = documentCopy();
    const schema = at(after, 'components', 'schemas', 'ItemCreate');
    schema.required = [...(schema.required as string[]), 'description'];
    assert.ok(
      breakingOf(compareDocuments(documentCopy(), after)).some((line) =>
        line.endsWith('› description: now required'),
      ),
    );
  });

  test('a narrowed enum is breaking, in a parameter and in a body', () => {
    const after = documentCopy();
    const sort = (at(after, 'paths', '/v1/items', 'get').parameters as Json[]).find(
      (parameter) => parameter.name === 'sort',
    );
    assert.ok(sort);
    at(sort, 'schema').enum = ['createdAt', 'name'];
    at(after, 'components', 'schemas', 'ExportCreate', 'properties', 'format').enum = ['csv'];
    const breaking = breakingOf(compareDocuments(documentCopy(), after));
    assert.ok(
      breaking.includes('GET /v1/items parameter query sort: enum no longer has "price"'),
      breaking.join('\n'),
    );
    assert.ok(
      breaking.some((line) => /^POST \/v1\/exports request body .* enum no longer has/.test(line)),
      breaking.join('\n'),
    );
  });

  test('an added optional field passes', () => {
    const after = documentCopy();
    at(after, 'components', 'schemas', 'ItemCreate', 'properties').colour = { type: 'string' };
    at(after, 'components', 'schemas', 'ItemPublic', 'properties').colour = { type: 'string' };
    const changes = compareDocuments(documentCopy(), after);
    assert.deepEqual(breakingOf(changes), []);
    assert.ok(changes.some((change) => change.what === 'field added, optional'));
  });

  test('answers must not lose fields or grow enums; requests may grow enums', () => {
    const after = documentCopy();
    delete at(after, 'components', 'schemas', 'ItemPublic', 'properties').tags;
    const status = at(after, 'components', 'schemas', 'ItemPublic', 'properties', 'status');
    status.enum = [...(status.enum as string[]), 'retired'];
    const breaking = breakingOf(compareDocuments(documentCopy(), after));
    assert.ok(breaking.some((line) => line.endsWith('› tags: field removed')));
    assert.ok(
      breaking.some((line) =>
        /^GET \/v1\/items\/\{id\} response 200 .*enum now has "retired"$/.test(line),
      ),
    );
    // ItemCreate's own status enum was left alone: a request accepting more is never listed.
    assert.ok(!breaking.some((line) => line.includes('request body') && line.includes('retired')));
  });

  test('a removed response, stricter bounds and a new required parameter are breaking', () => {
    const after = documentCopy();
    delete at(after, 'paths', '/v1/items/{id}', 'get', 'responses')['304'];
    const limit = (at(after, 'paths', '/v1/items', 'get').parameters as Json[]).find(
      (parameter) => parameter.name === 'limit',
    );
    assert.ok(limit);
    at(limit, 'schema').maximum = 50;
    (at(after, 'paths', '/v1/items', 'get').parameters as Json[]).push({
      name: 'region',
      in: 'query',
      required: true,
      schema: { type: 'string' },
    });
    assert.deepEqual(breakingOf(compareDocuments(documentCopy(), after)).sort(), [
      'GET /v1/items parameter query limit: maximum 100 → 50',
      'GET /v1/items parameter query region: added, required',
      'GET /v1/items/{id} response 304: removed',
    ]);
  });

  test('auth: a public operation that needs credentials, or a scope more, is breaking', () => {
    const after = documentCopy();
    const livez = at(after, 'paths', '/livez', 'get');
    livez.security = [{ OAuth2Password: [] }, { ApiKeyHeader: [] }];
    const getItem = at(after, 'paths', '/v1/items/{id}', 'get');
    getItem['x-required-scopes'] = ['items:read', 'admin'];
    getItem.security = [{ OAuth2Password: ['items:read', 'admin'] }, { ApiKeyHeader: [] }];
    assert.deepEqual(breakingOf(compareDocuments(documentCopy(), after)).sort(), [
      'GET /livez security: now requires credentials',
      'GET /v1/items/{id} security: ApiKeyHeader now needs admin',
      'GET /v1/items/{id} security: OAuth2Password now needs admin',
    ]);
  });

  test('API-key scopes moved from the requirement to x-required-scopes are no change', () => {
    const before = documentCopy();
    for (const pathItem of Object.values(at(before, 'paths'))) {
      for (const operation of Object.values(pathItem as Json)) {
        const op = operation as Json;
        const scopes = op['x-required-scopes'];
        if (!Array.isArray(scopes)) continue;
        op.security = [{ OAuth2Password: scopes }, { ApiKeyHeader: scopes }];
        delete op['x-required-scopes'];
      }
    }
    assert.deepEqual(breakingOf(compareDocuments(before, documentCopy())), []);
  });
});
