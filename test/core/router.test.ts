import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createRoute, z } from '@hono/zod-openapi';
import { HTTPException } from 'hono/http-exception';
import { ProblemError } from '../../src/core/problem.ts';
import { createRouter } from '../../src/core/router.ts';

const Params = z.object({ id: z.uuid() });
const Query = z.object({
  limit: z.coerce.number().int().max(100).optional(),
  note: z.string().optional(),
});
const Headers = z.object({ 'If-None-Match': z.string().max(20).optional() });
const Body = z.object({ name: z.string() });

const ID = '01937a3c-5b7e-7cc2-9a1e-3f2b1c4d5e6f';

const thing = createRoute({
  method: 'post',
  path: '/things/{id}',
  request: {
    params: Params,
    query: Query,
    headers: Headers,
    body: { content: { 'application/json': { schema: Body } }, required: true },
  },
  responses: { 200: { description: 'The parts as validated' } },
});

/**
 * The router, answering with what the validators handed the handler, and 422s as JSON. The
 * route's request is set as `defineRoute`'s chain sets it, so a 422 lists every part.
 */
function appWith(route = thing) {
  const router = createRouter();
  router.use((c, next) => {
    c.set('routeRequest', route.request);
    return next();
  });
  router.onError((error, c) => {
    if (error instanceof ProblemError) return c.json(error.init.extensions ?? {}, 422);
    return c.text(`unexpected: ${error.message}`, 500);
  });
  return router.openapi(route, (c) =>
    c.json({
      param: c.req.valid('param'),
      query: c.req.valid('query'),
      header: c.req.valid('header'),
      json: c.req.valid('json'),
    }),
  );
}

const post = (path: string, headers: Record<string, string> = {}, body = '{"name":"a"}') =>
  appWith().request(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });

describe('createRouter: the parts of a request validated in one middleware', () => {
  test('valid parts reach the handler parsed: path, coerced query, headers by their declared names, body', async () => {
    const res = await post(`/things/${ID}?limit=7&other=x`, {
      'if-none-match': '"3"',
      'x-unrelated': 'not declared',
    });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), {
      param: { id: ID },
      query: { limit: 7 },
      header: { 'If-None-Match': '"3"' },
      json: { name: 'a' },
    });
  });

  test('every invalid part is reported in one 422, the body included, as zod-openapi reported them', async () => {
    const res = await post(
      '/things/not-a-uuid?limit=1000',
      { 'if-none-match': 'x'.repeat(21) },
      '{"name":1}',
    );
    assert.equal(res.status, 422);
    const { errors } = (await res.json()) as { errors: { location: string; path: string }[] };
    assert.deepEqual(
      errors.map(({ location, path }) => `${location}:${path}`),
      ['query:limit', 'path:id', 'header:If-None-Match', 'body:name'],
    );
  });

  test('text a client may not send is refused in a part that otherwise parses', async () => {
    const res = await post(`/things/${ID}?note=a%00b`);
    assert.equal(res.status, 422);
    const { errors } = (await res.json()) as { errors: { path: string; code: string }[] };
    assert.deepEqual(
      errors.map(({ path, code }) => `${path}:${code}`),
      ['note:nul_character'],
    );
  });

  test('a header schema that takes undeclared headers (a catchall) is given them all', async () => {
    const route = createRoute({
      method: 'get',
      path: '/loose',
      request: { headers: z.looseObject({ 'x-one': z.string() }) },
      responses: { 200: { description: 'ok' } },
    });
    const app = createRouter()
      .openapi(route, (c) => c.json(c.req.valid('header')))
      .onError((error, c) => c.text(error.message, 500));
    const res = await app.request('/loose', { headers: { 'x-one': '1', 'x-two': '2' } });
    assert.equal(res.status, 200);
    const seen = (await res.json()) as Record<string, string>;
    assert.equal(seen['x-one'], '1');
    assert.equal(seen['x-two'], '2');
  });

  test('a schema with an async refinement is parsed asynchronously, and still refuses', async () => {
    const route = createRoute({
      method: 'get',
      path: '/async/{code}',
      request: {
        params: z.object({
          code: z.string().refine(async (code) => code === 'open', 'not open'),
        }),
      },
      responses: { 200: { description: 'ok' } },
    });
    const app = createRouter()
      .openapi(route, (c) => c.json(c.req.valid('param')))
      .onError((error, c) =>
        error instanceof ProblemError ? c.json(error.init.extensions ?? {}, 422) : c.text('', 500),
      );
    assert.deepEqual(await (await app.request('/async/open')).json(), { code: 'open' });
    assert.equal((await app.request('/async/shut')).status, 422);
  });

  test("a route's own hook answers for its invalid parts, and sees the parsed value of a valid one", async () => {
    const seen: unknown[] = [];
    const route = createRoute({
      method: 'get',
      path: '/hooked',
      request: { query: z.object({ grant: z.enum(['password']) }) },
      responses: { 200: { description: 'ok' }, 400: { description: 'refused' } },
    });
    const app = createRouter().openapi(
      route,
      (c) => c.json(c.req.valid('query'), 200),
      (result, c) => {
        seen.push(result.success ? result.data : 'refused');
        if (!result.success) return c.json({ error: 'invalid_request' }, 400);
      },
    );
    const refused = await app.request('/hooked?grant=magic');
    assert.equal(refused.status, 400);
    assert.deepEqual(await refused.json(), { error: 'invalid_request' });
    const passed = await app.request('/hooked?grant=password');
    assert.deepEqual(await passed.json(), { grant: 'password' });
    assert.deepEqual(seen, ['refused', { grant: 'password' }]);
  });

  test('a JSON body is checked in that middleware too: zod-openapi adds no validator of its own', () => {
    const handlers = appWith().routes.filter(
      (route) => route.method === 'POST' && route.path === '/things/:id',
    );
    // The parts-and-body check and the handler; zod-openapi's would add its media-type gate
    // and Hono's JSON validator.
    assert.equal(handlers.length, 2);
  });

  test('a body of another type, or of none, is 415; malformed JSON is 400; no body at all is {}', async () => {
    const app = appWith().onError((error, c) =>
      error instanceof HTTPException
        ? c.text(error.message, error.status)
        : error instanceof ProblemError
          ? c.json(error.init.extensions ?? {}, 422)
          : c.text(`unexpected: ${error.message}`, 500),
    );
    // Bytes rather than a string, which a Request would give a text/plain type of its own.
    const send = (headers: Record<string, string>, body?: string) =>
      app.request(`/things/${ID}`, {
        method: 'POST',
        headers,
        body: body === undefined ? undefined : new TextEncoder().encode(body),
      });
    const typed = await send({ 'content-type': 'text/plain' }, '{"name":"a"}');
    assert.deepEqual([typed.status, await typed.text()], [415, 'Unsupported Media Type']);
    const untyped = await send({}, '{"name":"a"}');
    assert.deepEqual([untyped.status, await untyped.text()], [415, 'Unsupported Media Type']);
    const malformed = await send({ 'content-type': 'application/json' }, '{"name":');
    assert.deepEqual(
      [malformed.status, await malformed.text()],
      [400, 'Malformed JSON in request body'],
    );
    const parameterised = await send(
      { 'content-type': 'application/json; charset=utf-8' },
      '{"name":"b"}',
    );
    assert.equal(parameterised.status, 200);
    assert.deepEqual(((await parameterised.json()) as { json: unknown }).json, { name: 'b' });
    const emptyType = await send({ 'content-type': '' });
    assert.equal(emptyType.status, 422, 'an empty type is no type: validated as {}');
    const empty = await send({});
    assert.equal(empty.status, 422, 'validated as {}: the name is missing');
    const { errors } = (await empty.json()) as { errors: { location: string; path: string }[] };
    assert.deepEqual(
      errors.map(({ location, path }) => `${location}:${path}`),
      ['body:name'],
    );
  });

  test("a route's own hook answers for an invalid body, and sees the value sent", async () => {
    const seen: unknown[] = [];
    const route = createRoute({
      method: 'post',
      path: '/hooked-body',
      request: { body: { content: { 'application/json': { schema: Body } }, required: true } },
      responses: { 200: { description: 'ok' }, 400: { description: 'refused' } },
    });
    const app = createRouter().openapi(
      route,
      (c) => c.json(c.req.valid('json'), 200),
      (result, c) => {
        seen.push([result.target, result.success, 'data' in result ? result.data : undefined]);
        if (!result.success) return c.json({ error: 'invalid_request' }, 400);
      },
    );
    const send = (body: string) =>
      app.request('/hooked-body', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
    const refused = await send('{"name":7}');
    assert.deepEqual([refused.status, await refused.json()], [400, { error: 'invalid_request' }]);
    const passed = await send('{"name":"n","extra":1}');
    assert.deepEqual(await passed.json(), { name: 'n' });
    assert.deepEqual(seen, [
      ['json', false, { name: 7 }],
      ['json', true, { name: 'n' }],
    ]);
  });

  test('the document still describes every part', () => {
    const document = appWith().getOpenAPI31Document({
      openapi: '3.1.0',
      info: { title: 't', version: '1' },
    });
    const operation = document.paths?.['/things/{id}']?.post;
    const parameters = (operation?.parameters ?? []).map((p) =>
      'in' in p ? `${p.in}:${p.name}` : '',
    );
    assert.deepEqual(parameters.sort(), [
      'header:If-None-Match',
      'path:id',
      'query:limit',
      'query:note',
    ]);
    assert.ok(operation?.requestBody);
  });
});
