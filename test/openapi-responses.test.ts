/**
 * Every operation answers each status `defineRoute` documents for it from what it accepts,
 * driven by the served document so a new operation is covered without editing this file:
 * 400 for a URL whose escapes are not UTF-8, 413 for a body past the limit, 415 for a body of
 * a type it does not take, 422 for a value its own documented schema refuses, and 429 once
 * its documented rate limit is used up. (401 and 403 are the auth matrix's.)
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { createApp } from '../src/app.ts';
import { createTestUser } from './support/auth.ts';
import { createTestDeps } from './support/deps.ts';
import {
  documentedRequest,
  jsonMedia,
  listOperations,
  type OpenApiDocument,
  type Operation,
  queryString,
  resolve,
  type SchemaObject,
  sampleValue,
} from './support/openapi.ts';

const BODY_LIMIT = 64 * 1024;
const DEFAULT_LIMIT = 3;

const deps = await createTestDeps({
  env: {
    BODY_LIMIT_BYTES: String(BODY_LIMIT),
    UPLOAD_MAX_BYTES: String(BODY_LIMIT),
    RATE_LIMIT_DEFAULT_REQUESTS: String(DEFAULT_LIMIT),
  },
});
after(() => deps.close());
const app = createApp(deps);
const document = (await (await app.request('/openapi.json')).json()) as OpenApiDocument;
const operations = listOperations(document);

/** A value `schema` surely refuses, from what it documents; undefined when none is sure. */
function violating(schemaOrRef: SchemaObject | undefined): string | undefined {
  if (!schemaOrRef) return undefined;
  const schema = resolve(document, schemaOrRef);
  if (schema.enum) return 'not-one-of-the-values';
  if (schema.format === 'uuid' || schema.format === 'date' || schema.format === 'date-time') {
    return 'not-a-valid-value';
  }
  const type = [schema.type].flat()[0];
  if (type === 'integer' || type === 'number') return 'not-a-number';
  if (schema.maxLength !== undefined) return 'x'.repeat(schema.maxLength + 1);
  if (schema.pattern && !new RegExp(schema.pattern, 'u').test(' ')) return ' ';
  return undefined;
}

/** The operation's request made invalid in one documented respect, or undefined. */
function invalidRequest(op: Operation, headers: Record<string, string>) {
  for (const parameter of op.parameters.filter((p) => p.in === 'path')) {
    const value = violating(parameter.schema);
    if (value !== undefined)
      return documentedRequest(document, op, headers, (p) =>
        p === parameter ? value : sampleValue(document, p),
      );
  }
  for (const parameter of op.parameters.filter((p) => p.in === 'query')) {
    const value = violating(parameter.schema);
    if (value === undefined) continue;
    const request = documentedRequest(document, op, headers);
    const separator = request.url.includes('?') ? '&' : '?';
    return {
      ...request,
      url: `${request.url}${separator}${queryString([[parameter.name, value]]).slice(1)}`,
    };
  }
  const types = Object.keys(op.requestBody?.content ?? {});
  if (types.length > 0) {
    const request = documentedRequest(document, op, headers);
    const [type = ''] = types;
    // An array where an object is expected; a form with none of its required fields.
    const body = jsonMedia(op.requestBody?.content).length > 0 ? '[]' : '';
    const contentType = type === 'multipart/form-data' ? `${type}; boundary=x` : type;
    return {
      ...request,
      init: {
        ...request.init,
        body: type === 'multipart/form-data' ? '--x--\r\n' : body,
        headers: { ...headers, 'content-type': contentType },
      },
    };
  }
  return undefined;
}

function rateLimitOf(op: Operation): number | undefined {
  const policy: unknown = Reflect.get(op.operation, 'x-rate-limit');
  if (typeof policy !== 'object' || policy === null) return undefined;
  const limit: unknown = Reflect.get(policy, 'limit');
  return typeof limit === 'number' ? limit : undefined;
}

async function statusOf(request: { url: string; init: RequestInit }): Promise<number> {
  const response = await app.request(request.url, request.init);
  await response.body?.cancel();
  return response.status;
}

describe('every operation answers the statuses defineRoute documents for it', () => {
  for (const op of operations) {
    const declared = Object.keys(op.operation.responses ?? {});
    const protectedOp = (op.operation.security ?? []).length > 0;
    describe(op.label, () => {
      const caller = () =>
        protectedOp
          ? createTestUser(deps, { role: 'admin' }).then((user) => user.headers)
          : Promise.resolve({});

      test('400 for a URL whose escapes are not UTF-8', async () => {
        assert.ok(declared.includes('400'));
        const request = documentedRequest(document, op, await caller());
        assert.equal(
          await statusOf({
            ...request,
            url: `${request.url}${request.url.includes('?') ? '&' : '?'}q=%FF`,
          }),
          400,
        );
      });

      if (op.requestBody) {
        test('413 for a body past the limit', async () => {
          assert.ok(declared.includes('413'));
          const request = documentedRequest(document, op, await caller());
          const [type = 'application/json'] = Object.keys(op.requestBody?.content ?? {});
          const big = {
            ...request.init,
            body: 'x'.repeat(BODY_LIMIT + 1),
            headers: { ...(request.init.headers as Record<string, string>), 'content-type': type },
          };
          assert.equal(await statusOf({ url: request.url, init: big }), 413);
        });

        test('415 for a body of a type it does not take', async () => {
          assert.ok(declared.includes('415'));
          const request = documentedRequest(document, op, await caller());
          const plain = {
            ...request.init,
            body: 'plain text',
            headers: {
              ...(request.init.headers as Record<string, string>),
              'content-type': 'text/plain',
            },
          };
          assert.equal(await statusOf({ url: request.url, init: plain }), 415);
        });
      }

      if (declared.includes('422')) {
        test('422 for a value its documented schema refuses', async () => {
          const request = invalidRequest(op, await caller());
          assert.ok(request, `${op.label} documents 422, and nothing it takes can be made invalid`);
          assert.equal(await statusOf(request), 422);
        });
      }

      const limit = rateLimitOf(op);
      if (declared.includes('429')) {
        test('429 once its rate limit is used up', async () => {
          assert.ok(limit, `${op.label} documents 429 and no x-rate-limit`);
          const headers = await caller();
          // Invalid requests count too, and cost nothing past the limiter.
          const request = invalidRequest(op, headers) ?? documentedRequest(document, op, headers);
          let status = 0;
          for (let call = 0; call <= limit && status !== 429; call++)
            status = await statusOf(request);
          assert.equal(status, 429);
        });
      }
    });
  }
});
