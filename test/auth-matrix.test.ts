/**
 * The authentication and authorization matrix, driven by the served OpenAPI document: every
 * operation with a `security` requirement is called without credentials, with bad, expired
 * and revoked ones, with too few scopes, on someone else's resource, and as the right
 * principal. A new protected route is covered without editing this file.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createApp } from '../src/app.ts';
import { manualClock } from '../src/core/clock.ts';
import { uuidv7 } from '../src/core/ids.ts';
import { unlimitedRateLimiter } from '../src/core/rate-limit/rate-limiter.ts';
import { accessTokens } from '../src/core/security/access-tokens.ts';
import type { Role, Scope } from '../src/core/security/scopes.ts';
import type { User } from '../src/modules/users/users.service.ts';
import { updateUser } from '../src/modules/users/users.service.ts';
import { SCOPES } from '../src/modules.ts';

/** Every scope: an administrator may hold them all. */
const ALL_SCOPES = SCOPES.forRole('admin');

import { createTestApiKey, createTestUser, type TestUser } from './support/auth.ts';
import { createTestDeps } from './support/deps.ts';
import {
  assertProblem,
  exampleOf,
  fillPath,
  isFileSchema,
  jsonMedia,
  listOperations,
  type MediaTypeObject,
  type OpenApiDocument,
  type Operation,
  queryString,
  requiredScopesFor,
  resolve,
  type SchemaObject,
  sampleOfSchema,
  sampleValue,
  securityOf,
} from './support/openapi.ts';

/** Short, so waiting for a revoked key to leave every cache keeps the file fast. */
const CACHE_TTL_MS = 200;
/**
 * The clock starts at a fixed instant, so documented examples holding dates (an API key's
 * `expiresAt`) stay in the future however long this file lives.
 */
const START = new Date('2026-06-01T00:00:00Z');

const clock = manualClock(START);
const deps = await createTestDeps({ clock, env: { API_KEY_CACHE_TTL_MS: String(CACHE_TTL_MS) } });
after(() => deps.close());
// The matrix calls each operation far more often than its rate limit allows; the limits
// have their own tests.
const app = createApp({ ...deps, rateLimiter: unlimitedRateLimiter() });
const TOKEN_TTL_MS = deps.settings.ACCESS_TOKEN_TTL_SECONDS * 1000;

const document = (await (await app.request('/openapi.json')).json()) as OpenApiDocument;
const operations = listOperations(document);

// --- What each protected operation requires -------------------------------------------------

type HeaderScheme = { name: string; kind: 'header'; header: string };
type Scheme = { name: string; kind: 'bearer' } | HeaderScheme;

/** One way to call an operation: a security scheme, and the scopes it must carry. */
interface Alternative {
  scheme: Scheme;
  scopes: Scope[];
}

function schemeNamed(name: string): Scheme {
  const scheme = document.components?.securitySchemes?.[name];
  assert.ok(scheme, `security scheme ${name} is not declared in components.securitySchemes`);
  if (scheme.type === 'oauth2' || (scheme.type === 'http' && /^bearer$/i.test(scheme.scheme ?? '')))
    return { name, kind: 'bearer' };
  if (scheme.type === 'apiKey' && scheme.in === 'header' && scheme.name)
    return { name, kind: 'header', header: scheme.name.toLowerCase() };
  assert.fail(
    `security scheme ${name} (${scheme.type}) is not one this test can authenticate with`,
  );
}

function alternativesOf(op: Operation): Alternative[] {
  return securityOf(document, op).flatMap((requirement) =>
    Object.entries(requirement).map(([name, listed]) => {
      const scopes = requiredScopesFor(document, op, name, listed);
      const unknown = scopes.filter((scope) => !SCOPES.has(scope));
      assert.deepEqual(unknown, [], `${op.label} requires scopes the API does not define`);
      return { scheme: schemeNamed(name), scopes: scopes.filter(SCOPES.has) };
    }),
  );
}

/** Protected: it names at least one requirement, and none is `{}` (anonymous allowed). */
const protectedOps = operations.filter((op) => {
  const security = securityOf(document, op);
  return security.length > 0 && security.every((item) => Object.keys(item).length > 0);
});

/** Every scope any alternative of the operation names. */
function requiredScopes(op: Operation): Scope[] {
  return [...new Set(alternativesOf(op).flatMap((alternative) => alternative.scopes))];
}

/** The least privileged role that may hold every scope the operation requires. */
function roleFor(op: Operation): Role {
  const needed = requiredScopes(op);
  const roles: Role[] = ['user', 'admin'];
  const role = roles.find((candidate) =>
    needed.every((s) => SCOPES.forRole(candidate).includes(s)),
  );
  assert.ok(role, `no role may hold ${needed.join(' ')} (${op.label})`);
  return role;
}

const requiresAdmin = (op: Operation) => requiredScopes(op).includes('admin');

/**
 * Where the resources an `{id}` operation addresses live: `/v1/jobs/` for `/v1/jobs/{id}` and
 * for `/v1/jobs/{id}/events`. Undefined when the path has no `{id}` segment.
 */
function resourcePrefix(op: Operation): string | undefined {
  return /^(.*?\/)\{id\}(?:\/|$)/.exec(op.path)?.[1];
}

/** The path of the collection an `{id}` operation belongs to, e.g. `/v1/api-keys`. */
function collectionOf(op: Operation): string | undefined {
  return resourcePrefix(op)?.slice(0, -1);
}

function collectionPost(op: Operation): Operation | undefined {
  const collection = collectionOf(op);
  return operations.find((other) => other.method === 'post' && other.path === collection);
}

/** The component (`$ref`) of the JSON schema a response documents, if any. */
function responseSchemaRef(op: Operation, status: string): string | undefined {
  const response = op.operation.responses?.[status];
  if (!response) return undefined;
  const [json] = jsonMedia(resolve(document, response).content);
  return json?.[1].schema?.$ref;
}

/** A POST whose 201 is the very schema `{prefix}{id}` returns (`register` for `/v1/users/`). */
function creatorBySchema(prefix: string): Operation | undefined {
  const returned = new Set<string>();
  for (const other of operations.filter((candidate) => candidate.path === `${prefix}{id}`)) {
    for (const status of Object.keys(other.operation.responses ?? {})) {
      const ref = /^2/.test(status) ? responseSchemaRef(other, status) : undefined;
      if (ref) returned.add(ref);
    }
  }
  return operations.find((other) => {
    const created = other.method === 'post' ? responseSchemaRef(other, '201') : undefined;
    return created !== undefined && returned.has(created);
  });
}

/** The id a `Location` header names under `prefix` (`/v1/jobs/<id>`), if it names one. */
function idFromLocation(response: Response, prefix: string): string | undefined {
  const location = response.headers.get('location');
  if (!location) return undefined;
  const { pathname } = new URL(location, 'http://matrix.invalid');
  const rest = pathname.startsWith(prefix) ? pathname.slice(prefix.length) : '';
  return /^[^/]+$/.test(rest) ? decodeURIComponent(rest) : undefined;
}

/**
 * How to get a real resource for an `{id}` operation, first rule that applies: the POST on its
 * collection; a POST whose 201 has the schema the `{id}` path returns; a POST whose answer's
 * `Location` points under the operation's prefix (jobs, made by `POST /v1/exports` and
 * `POST /v1/imports`). The last is learnt by calling the POSTs once: see
 * `discoverLocationCreators`, below.
 */
function creatorOf(op: Operation): Operation | undefined {
  const prefix = resourcePrefix(op);
  if (prefix === undefined) return undefined;
  return collectionPost(op) ?? creatorBySchema(prefix) ?? locationCreators.get(prefix);
}

/**
 * An operation addresses something its caller owns when it is an `{id}` operation whose
 * resource is made by a POST that needs credentials (the resource is the caller's: a user
 * made by `register` is not), and it is not an administrator's operation (those reach every
 * user's resources by design).
 */
const isOwnershipScoped = (op: Operation) => {
  const creator = creatorOf(op);
  return creator !== undefined && alternativesOf(creator).length > 0 && !requiresAdmin(op);
};

// --- Principals and credentials ---------------------------------------------------------------

const sharedUsers = new Map<string, Promise<TestUser>>();

/** A user of `role`, created once per `slot` and reused (hashing a password is slow). */
function sharedUser(role: Role, slot: 'a' | 'b' = 'a'): Promise<TestUser> {
  const key = `${role}:${slot}`;
  let user = sharedUsers.get(key);
  if (!user) {
    user = createTestUser(deps, { role });
    sharedUsers.set(key, user);
  }
  return user;
}

type Headers = Record<string, string>;

async function bearer(user: User, scopes: readonly Scope[]): Promise<Headers> {
  const { token } = await deps.tokens.issue(user.id, scopes, clock.now());
  return { authorization: `Bearer ${token}` };
}

/** A credential for `scheme`: an access token, or a new API key, carrying `scopes`. */
async function credential(scheme: Scheme, user: User, scopes: readonly Scope[]): Promise<Headers> {
  if (scheme.kind === 'bearer') return bearer(user, scopes);
  const { key } = await createTestApiKey(deps, user, [...scopes]);
  return { [scheme.header]: key };
}

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

// --- Valid requests ---------------------------------------------------------------------------

interface PreparedRequest {
  url: string;
  init: { method: string; body?: string | FormData; headers: Headers };
  /** The `{id}` the request addresses, when it addresses one. */
  id?: string;
}

/** An object schema's properties, its `allOf` parts' included. */
function propertiesOf(schema: SchemaObject): Record<string, SchemaObject> {
  return Object.assign(
    {},
    ...(schema.allOf ?? []).map((part) => resolve(document, part).properties ?? {}),
    schema.properties ?? {},
  ) as Record<string, SchemaObject>;
}

/**
 * A copy of a documented example that can be sent again and again: every email is a new
 * one, and every free-text property (a string with no format, pattern or enum) gets a random
 * suffix, so names that must be unique (per owner) do not collide. Array elements are left
 * as they are.
 */
function uniquify(value: unknown, schema: SchemaObject | undefined, inArray = false): unknown {
  if (!schema) return value;
  const resolved = resolve(document, schema);
  const suffix = ` ${randomBytes(4).toString('hex')}`;
  if (typeof value === 'string' && resolved.format === 'email')
    return `matrix-${randomBytes(6).toString('hex')}@example.com`;
  if (typeof value === 'string') {
    const freeText =
      !inArray &&
      !resolved.format &&
      !isFileSchema(resolved) &&
      !resolved.pattern &&
      resolved.enum === undefined &&
      resolved.const === undefined;
    if (!freeText) return value;
    const room = (resolved.maxLength ?? Number.POSITIVE_INFINITY) - suffix.length;
    return room >= 1 ? `${value.slice(0, room)}${suffix}` : value;
  }
  if (Array.isArray(value)) return value.map((item) => uniquify(item, resolved.items, true));
  if (typeof value === 'object' && value !== null) {
    const properties = propertiesOf(resolved);
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, uniquify(item, properties[key])]),
    );
  }
  return value;
}

/** What a file part holds when the example gives no content for it: a one-row CSV. */
const SAMPLE_FILE = 'name,price\nA,1.00\n';

/**
 * A multipart body: each property of `value` (the documented example) and each other required
 * one, files as files. A file's content is the example's text, else a small CSV; its type is
 * the one the document gives (`encoding` or `contentMediaType`), else `text/csv`.
 */
function formDataOf(media: MediaTypeObject, value: unknown): FormData {
  const schema = media.schema ? resolve(document, media.schema) : {};
  const properties = propertiesOf(schema);
  const given = (typeof value === 'object' && value !== null ? value : {}) as Record<
    string,
    unknown
  >;
  const names = new Set([...Object.keys(given), ...(schema.required ?? [])]);
  const form = new FormData();
  for (const name of names) {
    const property = resolve(document, properties[name] ?? {});
    const example = given[name];
    if (isFileSchema(property)) {
      const documented = media.encoding?.[name]?.contentType ?? property.contentMediaType;
      const type = documented?.split(',')[0]?.trim();
      const fileType = type && !type.includes('*') ? type : 'text/csv';
      const content = typeof example === 'string' ? example : SAMPLE_FILE;
      const extension = fileType === 'text/csv' ? '.csv' : '';
      form.append(name, new File([content], `${name}${extension}`, { type: fileType }));
      continue;
    }
    const items = Array.isArray(example)
      ? example
      : [example ?? sampleOfSchema(document, property)];
    for (const item of items)
      form.append(name, typeof item === 'object' ? JSON.stringify(item) : String(item));
  }
  return form;
}

function bodyOf(op: Operation): Pick<PreparedRequest['init'], 'body' | 'headers'> {
  const body = op.requestBody;
  if (!body) return { headers: {} };
  const [json] = jsonMedia(body.content);
  const other = (type: string) => Object.entries(body.content).find(([each]) => each === type);
  const form = other('application/x-www-form-urlencoded');
  const multipart = other('multipart/form-data');
  const [mediaType, media] = json ?? form ?? multipart ?? [];
  assert.ok(mediaType && media, `${op.label}: no JSON, form or multipart request body to send`);
  const example = exampleOf(document, media);
  if (multipart && !json && !form) {
    // Buildable from the schema alone (a file needs no example), so sent even if optional.
    const value = example === undefined ? undefined : uniquify(example, media.schema);
    // No content-type: fetch writes it, with the boundary.
    return { body: formDataOf(media, value), headers: {} };
  }
  if (example === undefined) {
    assert.ok(!body.required, `${op.label}: its required ${mediaType} body has no example`);
    return { headers: {} };
  }
  const value = uniquify(example, media.schema);
  const encoded = json
    ? JSON.stringify(value)
    : new URLSearchParams(
        Object.entries(value as Record<string, unknown>).map(([k, v]): [string, string] => [
          k,
          String(v),
        ]),
      ).toString();
  return { body: encoded, headers: { 'content-type': mediaType } };
}

/**
 * A request the operation accepts: documented body example, required query parameters, and
 * path parameters from examples, except uuids, which are fresh. With `owner`, the `{id}` is
 * a resource created for it through the API; with `id`, that one.
 */
async function prepareRequest(
  op: Operation,
  options: { owner?: TestUser; id?: string } = {},
): Promise<PreparedRequest> {
  let id = options.id;
  if (id === undefined && options.owner && resourcePrefix(op) !== undefined)
    id = await createResource(op, options.owner);
  const pathParams = op.parameters.filter((p) => p.in === 'path');
  const path = fillPath(op.path, (name) => {
    if (name === 'id' && id !== undefined) return encodeURIComponent(id);
    const parameter = pathParams.find((p) => p.name === name);
    const schema = parameter?.schema ? resolve(document, parameter.schema) : undefined;
    if (!parameter || schema?.format === 'uuid') return uuidv7();
    return encodeURIComponent(sampleValue(document, parameter));
  });
  const query = op.parameters
    .filter((p) => p.in === 'query' && p.required)
    .map((p): [string, string] => [p.name, sampleValue(document, p)]);
  const { body, headers } = bodyOf(op);
  return {
    url: path + queryString(query),
    init: { method: op.method.toUpperCase(), ...(body === undefined ? {} : { body }), headers },
    ...(id === undefined ? {} : { id }),
  };
}

/**
 * Ids of resources whose creation was answered 202 Accepted: they exist, but what they
 * produce is made later, by a worker (none runs in this file).
 */
const acceptedIds = new Set<string>();

/**
 * Creates, as `owner`, a resource the `{id}` operation can address; returns its id: the one
 * the `Location` names under the operation's prefix, else the `id` of the answer's body.
 */
async function createResource(op: Operation, owner: TestUser): Promise<string> {
  const creator = creatorOf(op);
  assert.ok(
    creator,
    `${op.label}: no POST creates what it addresses (neither on its collection, nor one whose 201 has its schema, nor one answering a Location under ${resourcePrefix(op)})`,
  );
  const request = await prepareRequest(creator);
  const needsAuth = alternativesOf(creator).length > 0;
  const auth = needsAuth ? await bearer(owner.user, SCOPES.forRole(owner.user.role)) : {};
  const response = await send(request, auth);
  const text = await response.text();
  assert.ok(
    response.status >= 200 && response.status < 300,
    `creating a resource for ${op.label} with ${creator.label}: ${response.status} ${text}`,
  );
  const located = idFromLocation(response, resourcePrefix(op) ?? '');
  const id = located ?? (JSON.parse(text) as { id?: unknown }).id;
  assert.ok(
    typeof id === 'string',
    `${creator.label} answered neither a Location under ${resourcePrefix(op)} nor an id: ${text}`,
  );
  if (response.status === 202) acceptedIds.add(id);
  return id;
}

function send(request: PreparedRequest, credentials: Headers = {}): Promise<Response> {
  return Promise.resolve(
    app.request(request.url, {
      ...request.init,
      headers: { ...request.init.headers, ...credentials },
    }),
  );
}

/** Drops an answer's body unread (an event stream never ends). */
async function discard(response: Response): Promise<void> {
  await response.body?.cancel();
}

/**
 * Resource prefixes (`/v1/jobs/`) no POST is known to create from the document alone, mapped
 * to the POST that does: learnt by sending POSTs that document 201 or 202, once each, as an
 * administrator, and reading where their `Location` points. Only done when some protected
 * `{id}` operation needs it.
 */
async function discoverLocationCreators(): Promise<Map<string, Operation>> {
  const found = new Map<string, Operation>();
  const missing = new Set(
    protectedOps
      .filter((op) => resourcePrefix(op) !== undefined && !collectionPost(op))
      .map((op) => resourcePrefix(op) ?? '')
      .filter((prefix) => !creatorBySchema(prefix)),
  );
  if (missing.size === 0) return found;
  const admin = await sharedUser('admin');
  const candidates = operations
    .filter((op) => {
      const statuses = Object.keys(op.operation.responses ?? {});
      const creates = statuses.includes('201') || statuses.includes('202');
      return op.method === 'post' && creates && !op.parameters.some((p) => p.in === 'path');
    })
    // Protected POSTs first: what they make has an owner, and anonymous ones (`register`)
    // are rate limited per address and leave accounts behind.
    .sort((a, b) => Number(alternativesOf(b).length > 0) - Number(alternativesOf(a).length > 0));
  for (const candidate of candidates) {
    if (found.size === missing.size) break;
    const needsAuth = alternativesOf(candidate).length > 0;
    const auth = needsAuth ? await bearer(admin.user, SCOPES.forRole('admin')) : {};
    const response = await send(await prepareRequest(candidate), auth);
    await discard(response);
    if (response.status < 200 || response.status >= 300) continue;
    for (const prefix of missing) {
      if (!found.has(prefix) && idFromLocation(response, prefix) !== undefined)
        found.set(prefix, candidate);
    }
  }
  return found;
}

// --- Expected answers -------------------------------------------------------------------------

const describeRequest = (request: PreparedRequest) => `${request.init.method} ${request.url}`;

/** 401, a problem document, and a Bearer challenge: `error="invalid_token"` unless none was sent. */
async function assertUnauthorized(
  response: Response,
  request: PreparedRequest,
  credentialsSent: boolean,
): Promise<void> {
  const context = describeRequest(request);
  const challenge = response.headers.get('www-authenticate');
  await assertProblem(response, context);
  assert.equal(response.status, 401, context);
  assert.ok(challenge, `${context}: 401 without WWW-Authenticate`);
  assert.match(challenge, /^Bearer\b/i, context);
  if (credentialsSent) assert.match(challenge, /error="invalid_token"/, context);
  // RFC 6750 3.1: a request without credentials gets no error code.
  else assert.doesNotMatch(challenge, /error=/, context);
}

async function assertForbidden(response: Response, request: PreparedRequest): Promise<void> {
  const context = describeRequest(request);
  const challenge = response.headers.get('www-authenticate') ?? '';
  await assertProblem(response, context);
  assert.equal(response.status, 403, context);
  assert.match(
    challenge,
    /error="insufficient_scope"/,
    `${context}: WWW-Authenticate ${challenge}`,
  );
}

/**
 * May the right principal be told 409 instead of 2xx? Only when reading (GET or HEAD) what a
 * 202 Accepted created, and the operation documents 409. Such a resource exists at once but
 * what it produces (an export's file) is made later by a worker, and none runs here: "not
 * ready yet" is then the documented, correct answer. A 409 to an unsafe method is a refusal
 * (cancelling a job that started), and whether anything is still pending is not for this file
 * to guess, so there 2xx is still required (a job nobody works on stays cancellable). Reads of
 * something created synchronously must succeed.
 */
function mayBePending(op: Operation, request: PreparedRequest): boolean {
  const documented = Object.keys(op.operation.responses ?? {}).includes('409');
  const safe = op.method === 'get' || op.method === 'head';
  return safe && documented && request.id !== undefined && acceptedIds.has(request.id);
}

async function assertSuccess(
  response: Response,
  op: Operation,
  request: PreparedRequest,
): Promise<void> {
  const documented = Object.keys(op.operation.responses ?? {});
  const type = response.headers.get('content-type') ?? '';
  if (/^text\/event-stream\b/i.test(type)) {
    // Server-sent events go on while the job does: the status and headers say it all.
    await discard(response);
    const context = `${describeRequest(request)}: ${response.status} ${type}`;
    assert.ok(response.status >= 200 && response.status < 300, context);
    assert.ok(
      documented.includes(String(response.status)),
      `${context} (documented: ${documented})`,
    );
    const media = resolve(
      document,
      op.operation.responses?.[response.status] ?? { description: '' },
    );
    assert.ok('text/event-stream' in (media.content ?? {}), `${context}: not a documented type`);
    return;
  }
  // This server may lack pgvector (the project's own does): the operations that need it say
  // so with a documented 503, after authentication and ownership have been checked.
  if (response.status === 503) {
    const body = await assertProblem(response.clone(), describeRequest(request));
    if (body.code === 'vector_extension_missing') return;
  }
  if (response.status === 409 && mayBePending(op, request)) {
    await assertProblem(response, `${describeRequest(request)} (pending, documented 409)`);
    return;
  }
  const text = await response.text();
  const context = `${describeRequest(request)}: ${response.status} ${text.slice(0, 500)}`;
  assert.ok(response.status >= 200 && response.status < 300, context);
  assert.ok(documented.includes(String(response.status)), `${context} (documented: ${documented})`);
}

/** Runs `body` with the clock moved; puts it back however `body` ends. */
async function withClockRestored<T>(body: () => Promise<T>): Promise<T> {
  const before = clock.now();
  try {
    return await body();
  } finally {
    clock.set(before);
  }
}

const locationCreators = await discoverLocationCreators();

// --- The tests --------------------------------------------------------------------------------

describe('the protected operations of the OpenAPI document', () => {
  test('are found: getMe and listUsers among them', (t) => {
    const ids = protectedOps.map((op) => op.operation.operationId);
    t.diagnostic(
      `protected: ${protectedOps.map((op) => `${op.label} (${op.operation.operationId})`).join(', ')}`,
    );
    assert.ok(protectedOps.length > 0, 'no protected operation found');
    assert.ok(ids.includes('getMe'), ids.join(', '));
    assert.ok(ids.includes('listUsers'), ids.join(', '));
  });

  test('offer a bearer token and an API key, each with the same scopes', () => {
    const wrong = protectedOps.flatMap((op) => {
      const alternatives = alternativesOf(op);
      const kinds = new Set(alternatives.map((alternative) => alternative.scheme.kind));
      const scopeSets = new Set(alternatives.map((a) => [...a.scopes].sort().join(' ')));
      const single = securityOf(document, op).every((item) => Object.keys(item).length === 1);
      return kinds.size === 2 && scopeSets.size === 1 && single ? [] : [op.label];
    });
    assert.deepEqual(wrong, []);
  });

  test('document 401, and 403 when they require a scope', () => {
    const missing = protectedOps.flatMap((op) => {
      const statuses = Object.keys(op.operation.responses ?? {});
      const expected = requiredScopes(op).length > 0 ? ['401', '403'] : ['401'];
      return expected
        .filter((status) => !statuses.includes(status))
        .map((status) => `${op.label}: ${status}`);
    });
    assert.deepEqual(missing, []);
  });
});

for (const op of protectedOps) {
  const alternatives = alternativesOf(op);
  const bearerSchemes = alternatives.filter((a) => a.scheme.kind === 'bearer');
  const keySchemes = alternatives
    .map((a) => a.scheme)
    .filter((scheme): scheme is HeaderScheme => scheme.kind === 'header');
  const role = roleFor(op);
  const scopes = requiredScopes(op);

  describe(`${op.label} (${op.operation.operationId})`, () => {
    // --- a. Nothing sent --------------------------------------------------------------------

    test('a. no credentials → 401 problem with a WWW-Authenticate challenge', async () => {
      const request = await prepareRequest(op);
      await assertUnauthorized(await send(request), request, false);
    });

    // --- b. Malformed or forged bearer tokens ---------------------------------------------

    if (bearerSchemes.length > 0) {
      const forged: [string, (user: User) => Promise<string>][] = [
        ['"Bearer not-a-jwt"', async () => 'Bearer not-a-jwt'],
        [
          'another scheme ("Basic …") in Authorization',
          async () => `Basic ${Buffer.from('someone:secret').toString('base64')}`,
        ],
        [
          'a JWT signed with another secret',
          async (user) => {
            const other = accessTokens(randomBytes(32).toString('hex'), 900, SCOPES);
            const { token } = await other.issue(user.id, SCOPES.forRole(role), clock.now());
            return `Bearer ${token}`;
          },
        ],
        [
          'a JWT with alg "none" and no signature',
          async (user) => {
            const { token } = await deps.tokens.issue(user.id, SCOPES.forRole(role), clock.now());
            const [, payload] = token.split('.');
            return `Bearer ${base64url({ alg: 'none', typ: 'JWT' })}.${payload}.`;
          },
        ],
        [
          'a JWT whose payload was changed after signing',
          async (user) => {
            const { token } = await deps.tokens.issue(user.id, [], clock.now());
            const [header, payload, signature] = token.split('.');
            const claims = JSON.parse(Buffer.from(payload ?? '', 'base64url').toString('utf8'));
            const widened = { ...claims, scope: ALL_SCOPES.join(' ') };
            return `Bearer ${header}.${base64url(widened)}.${signature}`;
          },
        ],
        [
          'a valid JWT for a user that does not exist',
          async () => {
            const { token } = await deps.tokens.issue(uuidv7(), ALL_SCOPES, clock.now());
            return `Bearer ${token}`;
          },
        ],
      ];
      for (const [what, make] of forged) {
        test(`b. ${what} → 401`, async () => {
          const principal = await sharedUser(role);
          const request = await prepareRequest(op, { owner: principal });
          const authorization = await make(principal.user);
          await assertUnauthorized(await send(request, { authorization }), request, true);
        });
      }

      // --- c. Expired access token ----------------------------------------------------------

      test('c. expired access token → 401 (accepted a second before it expires)', async () => {
        const principal = await sharedUser(role);
        const auth = await bearer(principal.user, SCOPES.forRole(role));
        const justBefore = await prepareRequest(op, { owner: principal });
        const justAfter = await prepareRequest(op, { owner: principal });
        await withClockRestored(async () => {
          clock.advance(TOKEN_TTL_MS - 1_000);
          await assertSuccess(await send(justBefore, auth), op, justBefore);
          clock.advance(2_000);
          await assertUnauthorized(await send(justAfter, auth), justAfter, true);
        });
      });
    }

    // --- d. Revoked, expired and unknown API keys -------------------------------------------

    for (const scheme of keySchemes) {
      test(`d. revoked API key (${scheme.name}) → 401 once API_KEY_CACHE_TTL_MS has passed`, async () => {
        const principal = await sharedUser(role);
        const { id, key } = await createTestApiKey(deps, principal.user, SCOPES.forRole(role));
        // Used first, so the key's record is cached as valid when it is revoked.
        const warmUp = await prepareRequest(op, { owner: principal });
        const warm = await send(warmUp, { [scheme.header]: key });
        if (warm.status === 401)
          assert.fail(`the key works before it is revoked: ${await warm.text()}`);
        await discard(warm);
        const revoke = await app.request(`/v1/api-keys/${id}`, {
          method: 'DELETE',
          headers: await bearer(principal.user, SCOPES.forRole(role)),
        });
        assert.equal(revoke.status, 204, await revoke.text());
        await sleep(CACHE_TTL_MS + 50);
        const request = await prepareRequest(op, { owner: principal });
        await assertUnauthorized(await send(request, { [scheme.header]: key }), request, true);
      });

      test(`d. expired API key (${scheme.name}) → 401, even while its record is cached`, async () => {
        const principal = await sharedUser(role);
        const expiresAt = new Date(clock.now().getTime() + 60_000);
        const { key } = await createTestApiKey(
          deps,
          principal.user,
          SCOPES.forRole(role),
          expiresAt,
        );
        const before = await prepareRequest(op, { owner: principal });
        const request = await prepareRequest(op, { owner: principal });
        await withClockRestored(async () => {
          await assertSuccess(await send(before, { [scheme.header]: key }), op, before);
          clock.advance(60_000);
          await assertUnauthorized(await send(request, { [scheme.header]: key }), request, true);
        });
      });

      test(`d. unknown API key (${scheme.name}) → 401`, async () => {
        const request = await prepareRequest(op);
        const key = `hsk_${randomBytes(32).toString('base64url')}`;
        await assertUnauthorized(await send(request, { [scheme.header]: key }), request, true);
      });
    }

    // --- e. Too few scopes ------------------------------------------------------------------

    for (const alternative of alternatives) {
      const { scheme } = alternative;
      if (alternative.scopes.length === 0) continue;
      const required = alternative.scopes;
      const variants: [string, Scope[]][] = [
        ['no scopes at all', []],
        [`every scope but ${required.join(' ')}`, ALL_SCOPES.filter((s) => !required.includes(s))],
        ...(required.length > 1
          ? required.map((s): [string, Scope[]] => [
              `every scope but ${s}`,
              ALL_SCOPES.filter((other) => other !== s),
            ])
          : []),
      ];
      const seen = new Set<string>();
      for (const [what, held] of variants) {
        const key = held.join(' ');
        if (seen.has(key)) continue;
        seen.add(key);
        test(`e. ${scheme.name} credential of an admin with ${what} → 403`, async () => {
          const admin = await sharedUser('admin');
          const request = await prepareRequest(op, { owner: admin });
          const auth = await credential(scheme, admin.user, held);
          await assertForbidden(await send(request, auth), request);
        });
      }
      const beyondUser = required.filter((s) => !SCOPES.forRole('user').includes(s));
      if (beyondUser.length > 0) {
        test(`e. ${scheme.name} credential claiming ${beyondUser.join(' ')}, of an admin since demoted → 403`, async () => {
          const demoted = await createTestUser(deps, { role: 'admin' });
          const auth = await credential(scheme, demoted.user, ALL_SCOPES);
          await updateUser(deps.db, demoted.user.id, { role: 'user' });
          const admin = await sharedUser('admin');
          const request = await prepareRequest(op, { owner: admin });
          await assertForbidden(await send(request, auth), request);
        });
      }
    }

    // --- f. Someone else's resource -------------------------------------------------------

    if (isOwnershipScoped(op)) {
      for (const { scheme } of alternatives) {
        test(`f. another user's resource via ${scheme.name} → 404, and it is left alone`, async () => {
          const owner = await sharedUser(role, 'a');
          const intruder = await sharedUser(role, 'b');
          const id = await createResource(op, owner);
          const request = await prepareRequest(op, { id });
          const response = await send(
            request,
            await credential(scheme, intruder.user, SCOPES.forRole(role)),
          );
          const body = await assertProblem(response, describeRequest(request));
          assert.equal(response.status, 404, JSON.stringify(body));
          const again = await prepareRequest(op, { id });
          const byOwner = await send(again, await bearer(owner.user, SCOPES.forRole(role)));
          await assertSuccess(byOwner, op, again);
        });
      }
    }

    // --- g. The right principal -------------------------------------------------------------

    for (const { scheme } of alternatives) {
      const who = role === 'admin' ? 'an admin' : 'a user';
      test(`g. ${who} with ${scopes.join(' ') || 'any scopes'} via ${scheme.name} → 2xx`, async () => {
        const principal = await sharedUser(role);
        const request = await prepareRequest(op, { owner: principal });
        const auth = await credential(scheme, principal.user, SCOPES.forRole(role));
        await assertSuccess(await send(request, auth), op, request);
      });
    }
  });
}
