/**
 * Contract tests driven by the served OpenAPI document: they walk every operation it lists,
 * so a new route is checked (documentation rules and hostile input) without editing this file.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { z } from '@hono/zod-openapi';
import { Validator } from '@seriousme/openapi-schema-validator';
import packageJson from '../package.json' with { type: 'json' };
import { createApp } from '../src/app.ts';
import { defineRoute, jsonResponse } from '../src/core/route.ts';
import { createRouter } from '../src/core/router.ts';
import { createTestDeps } from './support/deps.ts';
import {
  assertProblem,
  exampleOf,
  fillPath,
  jsonMedia,
  listOperations,
  type MediaTypeObject,
  type OpenApiDocument,
  type Operation,
  type ParameterObject,
  queryString,
  resolve,
  type SchemaObject,
  sampleValue,
} from './support/openapi.ts';

// --- A probe operation with every kind of input, so the walker provably exercises them -------

const PROBE_TAG = 'probe';

const ProbeThing = z
  .object({
    name: z.string().min(1).max(50),
    count: z.number().int().nonnegative(),
  })
  .openapi('ProbeThing', { example: { name: 'widget', count: 3 } });

const probePut = defineRoute({
  method: 'put',
  path: '/probe/things/{id}',
  operationId: 'probeReplaceThing',
  summary: 'Probe: replace a thing',
  tags: [PROBE_TAG],
  request: {
    params: z.object({ id: z.uuid() }),
    query: z.object({
      limit: z.coerce.number().int().min(1).max(100),
      mode: z.enum(['fast', 'careful']).optional(),
    }),
    body: { content: { 'application/json': { schema: ProbeThing } }, required: true },
  },
  responses: { 200: jsonResponse(ProbeThing, 'The thing as stored') },
});

// --- The app and its document ------------------------------------------------------------------

const deps = await createTestDeps();
after(() => deps.close());
const app = createApp(deps);
// Mounted after createApp (the app's middleware and error handling still apply) and before the
// first request to /openapi.json, which generates the document once.
app.route(
  '/',
  createRouter().openapi(probePut, (c) => c.json(c.req.valid('json'), 200)),
);

const documentResponse = await app.request('/openapi.json');
const document = (await documentResponse.json()) as OpenApiDocument;
const operations = listOperations(document);

// --- Document helpers ------------------------------------------------------------------------

function hasExample(media: MediaTypeObject): boolean {
  return (
    media.example !== undefined ||
    Object.keys(media.examples ?? {}).length > 0 ||
    exampleOf(document, media) !== undefined
  );
}

// --- Values no sane schema accepts -----------------------------------------------------------

/** Whether `value` (as sent in a URL) surely fails `schema`. Unsure means false. */
function rejects(schema: SchemaObject | undefined, value: string): boolean {
  if (!schema) return false;
  const resolved = resolve(document, schema);
  const variants = resolved.anyOf ?? resolved.oneOf;
  if (variants) return variants.every((variant) => rejects(variant, value));
  if (resolved.enum) return !resolved.enum.map(String).includes(value);
  if (resolved.const !== undefined) return String(resolved.const) !== value;
  const types = [resolved.type].flat();
  if (types.includes('string') || types[0] === undefined) {
    if (resolved.format) return true; // uuid, email, date-time... none match our garbage
    if (resolved.pattern && !new RegExp(resolved.pattern, 'u').test(value)) return true;
    if (resolved.maxLength !== undefined && value.length > resolved.maxLength) return true;
    if (resolved.minLength !== undefined && value.length < resolved.minLength) return true;
    return false;
  }
  if (types.includes('integer') || types.includes('number')) return Number.isNaN(Number(value));
  if (types.includes('boolean')) return value !== 'true' && value !== 'false';
  return false;
}

/**
 * Query values of the wrong type for a parameter: a word where a number, boolean or enum is
 * expected, text for a formatted string, and for a free string two values (an array).
 */
function garbageFor(parameter: ParameterObject): { values: string[]; certain: boolean } {
  const schema = parameter.schema ? resolve(document, parameter.schema) : {};
  const variants = (schema.anyOf ?? schema.oneOf ?? [schema]).map((variant) =>
    resolve(document, variant),
  );
  const list = variants.find((variant) => [variant.type].flat().includes('array'));
  if (list) {
    const item = list.items ? resolve(document, list.items) : {};
    const word = `not-a-${[item.type].flat()[0] ?? 'value'}\u0000`;
    const others = variants.filter((variant) => variant !== list);
    return {
      values: [word, word],
      certain: rejects(item, word) && others.every((variant) => rejects(variant, word)),
    };
  }
  const word = `not-a-${schema.format ?? [schema.type].flat()[0] ?? 'value'}\u0000`;
  if (rejects(schema, word)) return { values: [word], certain: true };
  // A free string accepts any word, but not a list of them.
  return { values: ['garbage-1', 'garbage-2'], certain: true };
}

// --- Hostile requests --------------------------------------------------------------------------

interface HostileCase {
  name: string;
  url: string;
  init: RequestInit;
  /** The request is invalid for sure, so only a 4xx is right; otherwise a 2xx is allowed. */
  certainlyInvalid: boolean;
}

function hostileCases(op: Operation): HostileCase[] {
  const pathParams = op.parameters.filter((p) => p.in === 'path');
  const queryParams = op.parameters.filter((p) => p.in === 'query');
  const requiredQuery = queryParams.filter((p) => p.required);
  const body = op.requestBody;
  const bodyRequired = Boolean(body?.required);
  const method = op.method.toUpperCase();
  const samplePath = fillPath(op.path, (name) => {
    const parameter = pathParams.find((p) => p.name === name);
    return encodeURIComponent(parameter ? sampleValue(document, parameter) : 'x');
  });
  const sampleQuery = requiredQuery.map((p): [string, string] => [
    p.name,
    sampleValue(document, p),
  ]);
  const [json] = jsonMedia(body?.content);
  const sampleBody = json ? exampleOf(document, json[1]) : undefined;
  // Every other part as documented, so each case attacks one part only.
  const withSampleBody: RequestInit =
    json && sampleBody !== undefined
      ? { method, body: JSON.stringify(sampleBody), headers: { 'content-type': json[0] } }
      : { method };
  const bodyMissing = bodyRequired && sampleBody === undefined;
  const cases: HostileCase[] = [];

  // Path parameters: the raw `%00` (a NUL once decoded), the same text encoded, a huge value.
  const pathAttacks: [string, string, string][] = [
    ['a NUL byte (%00)', 'not-valid-%00', 'not-valid-\u0000'],
    ['an encoded %00', encodeURIComponent('not-valid-%00'), 'not-valid-%00'],
    ['a 10,000-character value', 'x'.repeat(10_000), 'x'.repeat(10_000)],
  ];
  if (pathParams.length > 0) {
    for (const [what, encoded, decoded] of pathAttacks) {
      cases.push({
        name: `path parameters set to ${what}`,
        url: fillPath(op.path, () => encoded) + queryString(sampleQuery),
        init: withSampleBody,
        certainlyInvalid: bodyMissing || pathParams.some((p) => rejects(p.schema, decoded)),
      });
    }
  }

  // Query parameters, required or not, each with a value of the wrong type.
  if (queryParams.length > 0) {
    const garbage = queryParams.map((p) => ({ parameter: p, ...garbageFor(p) }));
    const entries = garbage.flatMap(({ parameter, values }) =>
      values.map((value): [string, string] => [parameter.name, value]),
    );
    cases.push({
      name: `query parameters of the wrong type (${queryParams.map((p) => p.name).join(', ')})`,
      url: samplePath + queryString(entries),
      init: withSampleBody,
      certainlyInvalid: bodyMissing || garbage.some(({ certain }) => certain),
    });
  }

  // JSON bodies: malformed, an array, an empty object, and a body that is not JSON at all.
  if (body && json) {
    const [mediaType, media] = json;
    const schema = media.schema ? resolve(document, media.schema) : {};
    const wantsObject = [schema.type].flat().includes('object') || schema.properties !== undefined;
    const url = samplePath + queryString(sampleQuery);
    const send = (contentType: string, payload: string): RequestInit => ({
      method,
      body: payload,
      headers: { 'content-type': contentType },
    });
    const acceptsAnything = Object.keys(body.content).some((type) => /^(\*\/\*|text\/)/.test(type));
    cases.push(
      {
        name: 'malformed JSON',
        url,
        init: send(mediaType, '{"unterminated": '),
        certainlyInvalid: true,
      },
      {
        name: 'a JSON array instead of an object',
        url,
        init: send(mediaType, '[]'),
        certainlyInvalid: wantsObject,
      },
      {
        name: 'an empty JSON object',
        url,
        init: send(mediaType, '{}'),
        certainlyInvalid: (schema.required ?? []).length > 0,
      },
      {
        name: 'a text/plain body',
        url,
        init: send('text/plain', 'not json at all'),
        certainlyInvalid: bodyRequired && !acceptsAnything,
      },
      {
        name: 'an empty body',
        url,
        init: send(mediaType, ''),
        certainlyInvalid: bodyRequired,
      },
    );
  }
  return cases;
}

// --- The tests -------------------------------------------------------------------------------

describe('the OpenAPI document', () => {
  test('is served as JSON and is a valid OpenAPI 3.1 document', async () => {
    assert.equal(documentResponse.status, 200);
    assert.match(documentResponse.headers.get('content-type') ?? '', /^application\/json/);
    const validator = new Validator({ allErrors: true });
    const result = await validator.validate(
      structuredClone(document) as unknown as Record<string, unknown>,
    );
    assert.ok(result.valid, `invalid OpenAPI document:\n${JSON.stringify(result.errors, null, 2)}`);
    assert.equal(validator.version, '3.1');
    assert.match(document.openapi, /^3\.1\.\d+$/);
  });

  test('has a title, the package version, a description, servers and tags', () => {
    assert.ok(document.info.title?.trim(), 'info.title');
    assert.equal(document.info.version, packageJson.version);
    assert.ok(document.info.description?.trim(), 'info.description');
    assert.ok((document.servers ?? []).length > 0, 'servers');
    assert.ok((document.tags ?? []).length > 0, 'tags');
    for (const tag of document.tags ?? []) assert.ok(tag.description?.trim(), `tag ${tag.name}`);
  });

  test('declares every tag its operations use', () => {
    const declared = new Set((document.tags ?? []).map((tag) => tag.name));
    // The probe of this file is mounted from outside the app, so the app cannot declare it.
    declared.add(PROBE_TAG);
    const undeclared = operations.flatMap((op) =>
      (op.operation.tags ?? [])
        .filter((tag) => !declared.has(tag))
        .map((tag) => `${op.label}: ${tag}`),
    );
    assert.deepEqual(undeclared, []);
  });

  test('lists the app operations and the probe', () => {
    const labels = operations.map((op) => op.label);
    assert.ok(labels.includes('GET /livez'), labels.join(', '));
    assert.ok(labels.includes('PUT /probe/things/{id}'), labels.join(', '));
  });

  test('documents the times the database fills (createdAt, updatedAt) as never null', () => {
    // A coercing date schema reached the document as `string | null`, and generated clients
    // then made every such field nullable.
    const schemas: Record<string, SchemaObject> = document.components?.schemas ?? {};
    const nullable = Object.entries(schemas).flatMap(([name, schema]) =>
      ['createdAt', 'updatedAt'].flatMap((field) => {
        const type = schema.properties?.[field]?.type;
        return Array.isArray(type) && type.includes('null') ? [`${name}.${field}`] : [];
      }),
    );
    assert.deepEqual(nullable, []);
  });

  test('gives each operation a unique operationId', () => {
    const ids = operations.map((op) => op.operation.operationId);
    assert.ok(
      ids.every((id) => typeof id === 'string' && id.length > 0),
      JSON.stringify(ids),
    );
    const duplicates = ids.filter((id, index) => ids.indexOf(id) !== index);
    assert.deepEqual(duplicates, []);
  });
});

describe('security requirements are legal for each scheme', () => {
  test('public operations say so; API-key requirements carry no scopes, x-required-scopes does', () => {
    const schemes = document.components?.securitySchemes ?? {};
    const wrong = operations.flatMap((op) => {
      const { security, description } = op.operation;
      if (!security) return [`${op.label}: no security (public ones say security: [])`];
      const required = op.operation['x-required-scopes'];
      return security.flatMap((requirement) =>
        Object.entries(requirement).flatMap(([name, scopes]) => {
          const type = schemes[name]?.type;
          if (type === 'oauth2' || type === 'openIdConnect') {
            const same = JSON.stringify(scopes) === JSON.stringify(required);
            return same ? [] : [`${op.label}: ${name} ${scopes} ≠ x-required-scopes ${required}`];
          }
          if (scopes.length > 0) return [`${op.label}: ${name} (${type}) lists scopes`];
          const named = (required ?? []).every((scope) => description?.includes(`\`${scope}\``));
          return named ? [] : [`${op.label}: the description does not name ${required}`];
        }),
      );
    });
    assert.deepEqual(wrong, []);
  });
});

describe('every operation is documented', () => {
  for (const op of operations) {
    describe(op.label, () => {
      const { operation } = op;
      const responses = Object.entries(operation.responses ?? {}).map(
        ([status, response]) => [status, resolve(document, response)] as const,
      );

      test('has a summary and a tag', () => {
        assert.ok(operation.summary?.trim(), 'summary');
        assert.ok((operation.tags ?? []).length > 0, 'tags');
      });

      test('has an example for every JSON success response', () => {
        const missing = responses
          .filter(([status]) => /^2/.test(status))
          .flatMap(([status, response]) =>
            jsonMedia(response.content)
              .filter(([, media]) => !hasExample(media))
              .map(([mediaType]) => `${status} ${mediaType}`),
          );
        assert.deepEqual(missing, [], 'success responses without an example');
      });

      test('has an example for its request body', () => {
        const missing = Object.entries(op.requestBody?.content ?? {})
          .filter(([, media]) => !hasExample(media))
          .map(([mediaType]) => mediaType);
        assert.deepEqual(missing, [], 'request bodies without an example');
      });

      test("documents 422 (or a protocol's 400) when it takes input, and 500", () => {
        const statuses = responses.map(([status]) => status);
        if (op.parameters.length > 0 || op.requestBody) {
          // OAuth2's token endpoint answers invalid input 400, as RFC 6749 §5.2 says.
          const invalidInput = op.operation.operationId === 'issueToken' ? '400' : '422';
          assert.ok(
            statuses.includes(invalidInput),
            `${invalidInput} missing from ${statuses.join(', ')}`,
          );
        }
        assert.ok(statuses.includes('500'), `500 missing from ${statuses.join(', ')}`);
      });

      test('documents its errors as application/problem+json', () => {
        const wrong = responses
          .filter(([status]) => /^[45]/.test(status))
          .filter(([, response]) => {
            const types = Object.keys(response.content ?? {});
            return types.length === 0 || types.some((type) => type !== 'application/problem+json');
          })
          .map(
            ([status, response]) =>
              `${status}: ${Object.keys(response.content ?? {}).join(', ') || 'no content'}`,
          );
        assert.deepEqual(wrong, []);
      });
    });
  }
});

describe('every operation rejects hostile input with a problem document', () => {
  for (const op of operations) {
    const cases = hostileCases(op);
    describe(op.label, () => {
      if (cases.length === 0) {
        test('takes no input; another method on its path is 405 with Allow', async () => {
          const documented = op.siblings.map((method) => method.toUpperCase());
          const wrong = ['DELETE', 'PUT', 'PATCH', 'POST', 'GET'].find(
            (method) => !documented.includes(method),
          );
          assert.ok(wrong, 'no undocumented method left to try');
          const response = await app.request(op.path, { method: wrong });
          assert.equal(response.status, 405, `${wrong} ${op.path}`);
          const allow = (response.headers.get('allow') ?? '').split(/,\s*/);
          for (const method of documented) assert.ok(allow.includes(method), `Allow: ${allow}`);
          await assertProblem(response, `${wrong} ${op.path}`);
        });
        return;
      }
      for (const hostile of cases) {
        test(hostile.name, async () => {
          const response = await app.request(hostile.url, hostile.init);
          const context = `${hostile.init.method} ${hostile.url.slice(0, 120)} (${hostile.name})`;
          assert.ok(response.status < 500, `${context}: server error ${response.status}`);
          if (hostile.certainlyInvalid) {
            assert.ok(response.status >= 400, `${context}: accepted with ${response.status}`);
          }
          if (response.status >= 400) await assertProblem(response, context);
        });
      }
    });
  }

  test('the probe accepts a request built from its documented samples', async () => {
    // Proves the hostile cases fail for their hostile part, not for a wrong base request.
    const op = operations.find(
      (candidate) => candidate.operation.operationId === 'probeReplaceThing',
    );
    assert.ok(op?.requestBody);
    const [json] = jsonMedia(op.requestBody.content);
    assert.ok(json);
    const pathParams = op.parameters.filter((p) => p.in === 'path');
    const url =
      fillPath(op.path, (name) =>
        encodeURIComponent(
          sampleValue(document, pathParams.find((p) => p.name === name) ?? { name, in: 'path' }),
        ),
      ) +
      queryString(
        op.parameters
          .filter((p) => p.in === 'query' && p.required)
          .map((p): [string, string] => [p.name, sampleValue(document, p)]),
      );
    const response = await app.request(url, {
      method: 'PUT',
      body: JSON.stringify(exampleOf(document, json[1])),
      headers: { 'content-type': json[0] },
    });
    assert.equal(response.status, 200, await response.clone().text());
    assert.deepEqual(await response.json(), { name: 'widget', count: 3 });
  });
});
