/**
 * Hostile text in every string field of every operation the document lists: path, query,
 * header, JSON body, form and multipart fields each get a NUL character, a lone surrogate,
 * a 1 MB string and a right-to-left override, sent by an administrator holding every scope,
 * so the text reaches validation and the handlers instead of stopping at 401. No answer may
 * be a 500; text no field may hold must be refused with a 4xx problem document.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { z } from '@hono/zod-openapi';
import { createApp } from '../src/app.ts';
import { unlimitedRateLimiter } from '../src/core/rate-limit/rate-limiter.ts';
import { defineRoute, jsonResponse } from '../src/core/route.ts';
import { createRouter } from '../src/core/router.ts';
import { createTestDeps } from './support/deps.ts';
import {
  encodeForHeader,
  encodeForUrl,
  type FieldPath,
  HOSTILE_TEXTS,
  type HostileText,
  stringFields,
  withValueAt,
} from './support/hostile-text.ts';
import {
  assertProblem,
  exampleOf,
  fillPath,
  isFileSchema,
  jsonMedia,
  listOperations,
  type OpenApiDocument,
  type Operation,
  type ParameterObject,
  resolve,
  sampleValue,
} from './support/openapi.ts';
import { walkFixtures } from './support/walk-fixtures.ts';

// --- Probe operations with a string field in every part, so the walker provably reaches them --

const PROBE_TAG = 'probe';

const ProbeNested = z
  .object({
    title: z.string().max(2_000_000),
    labels: z.array(z.string().max(2_000_000)).max(5),
    owner: z.object({ name: z.string().max(2_000_000) }),
  })
  .openapi('ProbeNested', {
    example: { title: 'hello', labels: ['one'], owner: { name: 'ada' } },
  });

const probeJson = defineRoute({
  method: 'put',
  path: '/probe/text/{slug}',
  operationId: 'probeTextJson',
  summary: 'Probe: free text in the path, query, a header and a nested JSON body',
  tags: [PROBE_TAG],
  request: {
    params: z.object({ slug: z.string().max(2_000_000).openapi({ example: 'slug' }) }),
    query: z.object({ q: z.string().max(2_000_000).openapi({ example: 'query' }) }),
    headers: z.object({ 'x-note': z.string().max(2_000_000).optional() }),
    body: { content: { 'application/json': { schema: ProbeNested } }, required: true },
  },
  responses: { 200: jsonResponse(ProbeNested, 'The body, as received') },
});

const ProbeForm = z
  .object({ comment: z.string().max(2_000_000) })
  .openapi('ProbeForm', { example: { comment: 'hello' } });

const probeForm = defineRoute({
  method: 'post',
  path: '/probe/text-form',
  operationId: 'probeTextForm',
  summary: 'Probe: free text in a form and a multipart body',
  tags: [PROBE_TAG],
  request: {
    body: {
      content: {
        'application/x-www-form-urlencoded': { schema: ProbeForm },
        'multipart/form-data': { schema: ProbeForm },
      },
      required: true,
    },
  },
  responses: { 200: jsonResponse(ProbeForm, 'The form, as received') },
});

// --- The app, an administrator, and resources for the path parameters ----------------------

const deps = await createTestDeps();
after(() => deps.close());
// Thousands of requests from one administrator: limits are tested elsewhere.
const app = createApp({ ...deps, rateLimiter: unlimitedRateLimiter() });
app.route(
  '/',
  createRouter()
    .openapi(probeJson, (c) => c.json(c.req.valid('json'), 200))
    .openapi(probeForm, (c) => c.json(c.req.valid('form'), 200)),
);

const { admin, pathIds } = await walkFixtures(deps);

const document = (await (await app.request('/openapi.json')).json()) as OpenApiDocument;
const operations = listOperations(document);

// --- Building requests --------------------------------------------------------------------

interface TextCase {
  name: string;
  url: string;
  init: RequestInit;
  /** Only a 4xx is right. */
  refused: boolean;
}

function parameterValue(op: Operation, parameter: ParameterObject): string {
  if (parameter.in === 'path' && pathIds[op.path]) return pathIds[op.path] ?? '';
  return sampleValue(document, parameter);
}

function isStringParameter(parameter: ParameterObject): boolean {
  const schema = parameter.schema ? resolve(document, parameter.schema) : {};
  const variants = schema.anyOf ?? schema.oneOf ?? [schema];
  return variants.some((variant) => {
    const resolved = resolve(document, variant);
    const types = [resolved.type].flat();
    const itemTypes = resolved.items ? [resolve(document, resolved.items).type].flat() : [];
    return types.includes('string') || itemTypes.includes('string');
  });
}

type Body = { kind: 'json' | 'form' | 'multipart'; mediaType: string; value: unknown };

/** The documented request: sample parameters, the example body (or one per body kind). */
function baseRequest(op: Operation, overrides: Map<ParameterObject, string> = new Map()) {
  const chosen = (parameter: ParameterObject) =>
    overrides.get(parameter) ?? parameterValue(op, parameter);
  const encoded = (parameter: ParameterObject) => {
    const value = chosen(parameter);
    return overrides.has(parameter) ? encodeForUrl(value) : encodeURIComponent(value);
  };
  const path = fillPath(op.path, (name) => {
    const parameter = op.parameters.find((p) => p.in === 'path' && p.name === name);
    return parameter ? encoded(parameter) : 'x';
  });
  const query = op.parameters
    .filter((p) => p.in === 'query' && (p.required || overrides.has(p)))
    .map((p) => `${encodeURIComponent(p.name)}=${encoded(p)}`);
  const headers: Record<string, string> = { ...admin.headers };
  for (const parameter of op.parameters.filter((p) => p.in === 'header' && overrides.has(p)))
    headers[parameter.name] = encodeForHeader(chosen(parameter));
  return { url: `${path}${query.length > 0 ? `?${query.join('&')}` : ''}`, headers };
}

function bodies(op: Operation): Body[] {
  const content = op.requestBody?.content ?? {};
  const found: Body[] = [];
  for (const [mediaType, media] of Object.entries(content)) {
    const kind = /json/i.test(mediaType)
      ? 'json'
      : /^multipart\//i.test(mediaType)
        ? 'multipart'
        : /urlencoded/i.test(mediaType)
          ? 'form'
          : undefined;
    if (kind) found.push({ kind, mediaType, value: exampleOf(document, media) ?? {} });
  }
  return found;
}

interface EncodedBody {
  body: string | FormData;
  /** Absent for multipart: fetch writes the boundary itself. */
  headers?: Record<string, string>;
}

function encodeBody(op: Operation, body: Body): EncodedBody {
  if (body.kind === 'json') {
    return { body: JSON.stringify(body.value), headers: { 'content-type': body.mediaType } };
  }
  const media = op.requestBody?.content[body.mediaType];
  const schema = media?.schema ? resolve(document, media.schema) : {};
  const entries = Object.entries(
    typeof body.value === 'object' && body.value !== null ? body.value : {},
  );
  if (body.kind === 'form') {
    const form = new URLSearchParams();
    for (const [key, value] of entries) form.append(key, String(value));
    return { body: form.toString(), headers: { 'content-type': body.mediaType } };
  }
  const form = new FormData();
  for (const [key, value] of entries) {
    const property = schema.properties?.[key];
    if (property && isFileSchema(resolve(document, property))) {
      form.append(key, new File([String(value)], 'upload.csv', { type: 'text/csv' }));
    } else {
      form.append(key, String(value));
    }
  }
  return { body: form };
}

function textCases(op: Operation): TextCase[] {
  const method = op.method.toUpperCase();
  const [firstBody] = bodies(op);
  const withBody = (headers: Record<string, string>): RequestInit => {
    const encoded = firstBody ? encodeBody(op, firstBody) : undefined;
    return {
      method,
      ...(encoded ? { body: encoded.body } : {}),
      headers: { ...headers, ...encoded?.headers },
    };
  };
  const cases: TextCase[] = [];
  const label = (where: string, text: HostileText) => `${where} set to ${text.name}`;

  for (const parameter of op.parameters.filter(isStringParameter)) {
    for (const text of HOSTILE_TEXTS) {
      const { url, headers } = baseRequest(op, new Map([[parameter, text.value]]));
      cases.push({
        name: label(`${parameter.in} parameter ${parameter.name}`, text),
        url,
        init: withBody(headers),
        // Headers cannot carry NUL or a lone surrogate: what arrives is other, valid text.
        refused: text.refused && parameter.in !== 'header',
      });
    }
  }

  const base = baseRequest(op);
  // `%00` in the path itself, outside any parameter.
  cases.push({
    name: 'a %00 appended to the path',
    url: base.url.replace(/^([^?]*)/, '$1%00'),
    init: withBody(base.headers),
    refused: true,
  });

  const json = bodies(op).find((body) => body.kind === 'json');
  if (json) {
    // Within the body limit, deeper than any recursive walker survives.
    const depth = 200_000;
    cases.push({
      name: `a JSON body nested ${depth.toLocaleString('en')} deep`,
      url: base.url,
      init: {
        method,
        body: `{"x":${'['.repeat(depth)}"\u0000"${']'.repeat(depth)}}`,
        headers: { ...base.headers, 'content-type': json.mediaType },
      },
      refused: false,
    });
    // Not the shape of any body, and a string no field may hold at every level: refused, with
    // each unstorable string reported from the raw body, each at its own deep path.
    const levels = 90_000;
    cases.push({
      name: `a JSON body with a lone surrogate at each of ${levels.toLocaleString('en')} levels`,
      url: base.url,
      init: {
        method,
        body: `${'["\\ud800",'.repeat(levels)}0${']'.repeat(levels)}`,
        headers: { ...base.headers, 'content-type': json.mediaType },
      },
      refused: true,
    });
  }

  for (const body of bodies(op)) {
    const media = op.requestBody?.content[body.mediaType];
    const fields: FieldPath[] = stringFields(document, media?.schema);
    for (const field of fields) {
      for (const text of HOSTILE_TEXTS) {
        const encoded = encodeBody(op, {
          ...body,
          value: withValueAt(body.value, field, text.value),
        });
        cases.push({
          name: label(`${body.kind} field ${field.join('.')}`, text),
          url: base.url,
          init: { method, body: encoded.body, headers: { ...base.headers, ...encoded.headers } },
          // A form is sent as UTF-8, which has no lone surrogates: one arrives as U+FFFD.
          refused: text.refused && (body.kind === 'json' || !text.name.includes('surrogate')),
        });
      }
    }
  }
  return cases;
}

// --- The tests -----------------------------------------------------------------------------

describe('hostile text in every string field of every operation', () => {
  for (const op of operations) {
    describe(op.label, () => {
      for (const hostile of textCases(op)) {
        test(hostile.name, async () => {
          const response = await app.request(hostile.url, hostile.init);
          const context = `${op.label} (${hostile.name})`;
          assert.ok(response.status < 500, `${context}: server error ${response.status}`);
          if (hostile.refused) {
            assert.ok(response.status >= 400, `${context}: accepted with ${response.status}`);
          }
          if (response.status >= 400) await assertProblem(response, context);
        });
      }
    });
  }

  test('the walk kept its credentials, so every operation was reached past authentication', async () => {
    const response = await app.request('/v1/users/me', { headers: admin.headers });
    assert.equal(response.status, 200);
  });

  test('the probes reach every part: each refusal names the field in its location', async () => {
    const probes = operations.filter((op) => op.operation.tags?.includes(PROBE_TAG));
    const named = new Set<string>();
    for (const op of probes) {
      for (const hostile of textCases(op).filter((c) => c.name.endsWith('a NUL character'))) {
        const response = await app.request(hostile.url, hostile.init);
        if (response.status !== 422) continue;
        const body = (await response.json()) as { errors?: { location: string; path: string }[] };
        for (const error of body.errors ?? []) named.add(`${error.location}:${error.path}`);
      }
    }
    assert.deepEqual([...named].sort(), [
      'body:comment',
      'body:labels.0',
      'body:owner.name',
      'body:title',
      'path:slug',
      'query:q',
    ]);
  });

  test('a valid request to each probe is accepted, so refusals are for the hostile part', async () => {
    for (const op of operations.filter((candidate) =>
      candidate.operation.tags?.includes(PROBE_TAG),
    )) {
      const { url, headers } = baseRequest(op);
      for (const body of bodies(op)) {
        const encoded = encodeBody(op, body);
        const response = await app.request(url, {
          method: op.method.toUpperCase(),
          body: encoded.body,
          headers: { ...headers, ...encoded.headers },
        });
        assert.equal(
          response.status,
          200,
          `${op.label} ${body.mediaType}: ${await response.text()}`,
        );
      }
    }
  });

  test('every operation of the app has hostile cases', () => {
    const without = operations.filter((op) => textCases(op).length === 0).map((op) => op.label);
    assert.deepEqual(without, []);
  });

  test('JSON media of the document are all reached', () => {
    // A body kind the walker does not know would silently go untested.
    const unknown = operations.flatMap((op) =>
      Object.keys(op.requestBody?.content ?? {})
        .filter((type) => !/json|urlencoded|^multipart\//i.test(type))
        .map((type) => `${op.label}: ${type}`),
    );
    assert.deepEqual(unknown, []);
    assert.ok(operations.some((op) => jsonMedia(op.requestBody?.content).length > 0));
  });
});
