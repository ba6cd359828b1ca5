/**
 * The document's examples are true: every operation has an example of its request body and
 * of each success answer, and every example in the document (bodies, answers, parameters,
 * component schemas) validates against its own schema, checked with a JSON Schema 2020-12
 * validator by pointer into the document, so `$ref`s resolve as a reader's tools resolve
 * them. Then each operation's example request is sent, as the docs page's code samples send
 * it, and the server must take it as valid. Driven by the served document: a new operation
 * is checked without editing this file.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { createApp } from '../src/app.ts';
import { createTestUser } from './support/auth.ts';
import { createTestDeps } from './support/deps.ts';
import {
  exampleOf,
  fillPath,
  jsonMedia,
  listOperations,
  type MediaTypeObject,
  type OpenApiDocument,
  queryString,
  resolve,
  sampleValue,
} from './support/openapi.ts';

const deps = await createTestDeps();
after(() => deps.close());
const app = createApp(deps);
const document = (await (await app.request('/openapi.json')).json()) as OpenApiDocument;
const operations = listOperations(document);

const DOCUMENT_ID = 'https://example.com/openapi.json';
const ajv = new Ajv2020({ strict: false, allErrors: true });
// ajv-formats is CommonJS: Node's default import is its module.exports, whose `default` is
// the plugin, as TypeScript reads it.
addFormatsModule.default(ajv);
ajv.addSchema({ ...document, $id: DOCUMENT_ID });

const escapeKey = (key: string) => key.replaceAll('~', '~0').replaceAll('/', '~1');
const pointer = (...keys: string[]) => `${DOCUMENT_ID}#/${keys.map(escapeKey).join('/')}`;

/** Why `value` does not fit the schema at `at` (a pointer into the document), or ''. */
function misfit(at: string, value: unknown): string {
  const validate = ajv.compile({ $ref: at });
  if (validate(value)) return '';
  return ajv.errorsText(validate.errors);
}

/** Every example a media type carries: its own, its named ones, its schema's. */
function examplesOf(media: MediaTypeObject): unknown[] {
  const found: unknown[] = [];
  if (media.example !== undefined) found.push(media.example);
  for (const named of Object.values(media.examples ?? {})) {
    found.push(resolve<{ value?: unknown }>(document, named).value);
  }
  if (found.length === 0 && media.schema) {
    const schema = resolve(document, media.schema);
    if (schema.example !== undefined) found.push(schema.example);
    found.push(...(schema.examples ?? []));
  }
  return found;
}

describe('every operation has true examples', () => {
  for (const op of operations) {
    const base = ['paths', op.path, op.method];
    test(`${op.label}: its request body and success answers have examples that fit`, () => {
      const problems: string[] = [];
      const body = op.operation.requestBody;
      const bodyKeys = body && '$ref' in body ? undefined : ['requestBody'];
      for (const [mediaType, media] of Object.entries(op.requestBody?.content ?? {})) {
        const examples = examplesOf(media);
        if (examples.length === 0) problems.push(`request ${mediaType}: no example`);
        for (const example of examples) {
          const why = bodyKeys
            ? misfit(pointer(...base, ...bodyKeys, 'content', mediaType, 'schema'), example)
            : '';
          if (why) problems.push(`request ${mediaType}: ${why}`);
        }
      }
      for (const [status, raw] of Object.entries(op.operation.responses ?? {})) {
        const response = resolve(document, raw);
        for (const [mediaType, media] of Object.entries(response.content ?? {})) {
          const examples = examplesOf(media);
          if (examples.length === 0 && status.startsWith('2')) {
            problems.push(`${status} ${mediaType}: no example`);
          }
          for (const example of examples) {
            const why = misfit(
              pointer(...base, 'responses', status, 'content', mediaType, 'schema'),
              example,
            );
            if (why) problems.push(`${status} ${mediaType}: ${why}`);
          }
        }
      }
      op.operation.parameters?.forEach((raw, index) => {
        const parameter = resolve(document, raw);
        const example = parameter.example ?? parameter.schema?.example;
        if (example === undefined || '$ref' in raw) return;
        const why = misfit(pointer(...base, 'parameters', String(index), 'schema'), example);
        if (why) problems.push(`parameter ${parameter.name}: ${why}`);
      });
      assert.deepEqual(problems, []);
    });
  }

  test('every component schema fits its own example', () => {
    const schemas = document.components?.schemas ?? {};
    const problems = Object.entries(schemas).flatMap(([name, schema]) => {
      const example: unknown = Reflect.get(Object(schema), 'example');
      if (example === undefined) return [];
      const why = misfit(pointer('components', 'schemas', name), example);
      return why ? [`${name}: ${why}`] : [];
    });
    assert.deepEqual(problems, []);
  });
});

describe('the example requests run as shown', () => {
  for (const op of operations) {
    const [json] = jsonMedia(op.requestBody?.content);
    const needsOtherBody = op.requestBody && !json;
    test(`${op.label}: the server takes its example request as valid`, {
      skip: needsOtherBody ? 'a form or file body: built by hand in its module tests' : false,
    }, async () => {
      const protectedOp = (op.operation.security ?? []).length > 0;
      const headers: Record<string, string> = protectedOp
        ? (await createTestUser(deps, { role: 'admin' })).headers
        : {};
      for (const parameter of op.parameters.filter((p) => p.in === 'header' && p.required)) {
        headers[parameter.name] = sampleValue(document, parameter);
      }
      const url =
        fillPath(op.path, (name) => {
          const parameter = op.parameters.find((p) => p.in === 'path' && p.name === name);
          return encodeURIComponent(parameter ? sampleValue(document, parameter) : 'x');
        }) +
        queryString(
          op.parameters
            .filter((p) => p.in === 'query' && p.example !== undefined)
            .map((p): [string, string] => [p.name, sampleValue(document, p)]),
        );
      const response = await app.request(url, {
        method: op.method.toUpperCase(),
        headers: { ...headers, ...(json ? { 'content-type': json[0] } : {}) },
        ...(json ? { body: JSON.stringify(exampleOf(document, json[1])) } : {}),
      });
      const text = await response.text();
      assert.ok(
        response.status !== 422 && response.status !== 400 && response.status < 500,
        `${op.label}: ${response.status} ${text.slice(0, 500)}`,
      );
    });
  }
});
