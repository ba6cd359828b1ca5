/**
 * Reading the served OpenAPI document in tests: the parts of an OpenAPI 3.1 document the
 * contract tests look at, `$ref` resolution, the list of operations, and documented examples
 * and sample values to build requests from.
 *
 * @example
 * const document = (await (await app.request('/openapi.json')).json()) as OpenApiDocument;
 * for (const op of listOperations(document)) console.log(op.label);
 */
import assert from 'node:assert/strict';

export interface Ref {
  $ref: string;
}

export interface SchemaObject {
  $ref?: string;
  type?: string | string[];
  format?: string;
  enum?: unknown[];
  const?: unknown;
  pattern?: string;
  /** OpenAPI 3.1's way of saying a string is a file's content (3.0 said `format: binary`). */
  contentMediaType?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  exclusiveMinimum?: number;
  items?: SchemaObject;
  properties?: Record<string, SchemaObject>;
  required?: string[];
  anyOf?: SchemaObject[];
  oneOf?: SchemaObject[];
  allOf?: SchemaObject[];
  example?: unknown;
  examples?: unknown[];
  default?: unknown;
}

export interface MediaTypeObject {
  schema?: SchemaObject;
  example?: unknown;
  examples?: Record<string, { value?: unknown } | Ref>;
  /** Per property of a multipart body: e.g. the content type its file part must have. */
  encoding?: Record<string, { contentType?: string }>;
}

export interface ParameterObject {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  schema?: SchemaObject;
  example?: unknown;
}

export interface RequestBodyObject {
  required?: boolean;
  content: Record<string, MediaTypeObject>;
}

export interface ResponseObject {
  description: string;
  content?: Record<string, MediaTypeObject>;
}

/** One alternative of an operation's `security`: scheme name → required scopes. */
export type SecurityRequirement = Record<string, string[]>;

export interface OperationObject {
  operationId?: string;
  summary?: string;
  description?: string;
  tags?: string[];
  parameters?: (ParameterObject | Ref)[];
  requestBody?: RequestBodyObject | Ref;
  responses?: Record<string, ResponseObject | Ref>;
  security?: SecurityRequirement[];
  /** The scopes every credential needs, stated for schemes whose requirement cannot list them. */
  'x-required-scopes'?: string[];
}

export const HTTP_METHODS = [
  'get',
  'put',
  'post',
  'delete',
  'options',
  'head',
  'patch',
  'trace',
] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

export type PathItem = Partial<Record<HttpMethod, OperationObject>> & {
  parameters?: (ParameterObject | Ref)[];
};

export interface SecuritySchemeObject {
  type: 'apiKey' | 'http' | 'oauth2' | 'openIdConnect' | 'mutualTLS';
  name?: string;
  in?: 'query' | 'header' | 'cookie';
  scheme?: string;
}

export interface OpenApiDocument {
  openapi: string;
  info: { title?: string; version?: string; description?: string };
  servers?: { url: string }[];
  tags?: { name: string; description?: string }[];
  paths?: Record<string, PathItem>;
  security?: SecurityRequirement[];
  components?: Record<string, Record<string, unknown>> & {
    schemas?: Record<string, SchemaObject>;
    securitySchemes?: Record<string, SecuritySchemeObject>;
  };
}

export interface Operation {
  method: HttpMethod;
  path: string;
  /** `GET /v1/items/{id}`, for messages and test names. */
  label: string;
  operation: OperationObject;
  /** Path-item and operation parameters, `$ref`s resolved (the operation's win). */
  parameters: ParameterObject[];
  requestBody: RequestBodyObject | undefined;
  /** Every method documented on the same path. */
  siblings: HttpMethod[];
}

export function isRef(value: unknown): value is Ref {
  return typeof value === 'object' && value !== null && typeof (value as Ref).$ref === 'string';
}

/** Follows local `$ref`s (`#/components/...`) of `document` until a real object is reached. */
export function resolve<T extends object>(document: OpenApiDocument, value: T | Ref): T {
  let current: unknown = value;
  for (let hops = 0; isRef(current); hops++) {
    assert.ok(hops < 20, `$ref loop at ${current.$ref}`);
    const ref: string = current.$ref;
    assert.ok(ref.startsWith('#/'), `only local $refs are expected, got ${ref}`);
    current = ref
      .slice(2)
      .split('/')
      .map((part) => part.replaceAll('~1', '/').replaceAll('~0', '~'))
      .reduce<unknown>(
        (node, key) => (node as Record<string, unknown> | undefined)?.[key],
        document,
      );
    assert.ok(current !== undefined, `unresolvable $ref ${ref}`);
  }
  return current as T;
}

/** Every operation of the document, in document order. */
export function listOperations(document: OpenApiDocument): Operation[] {
  const found: Operation[] = [];
  for (const [path, pathItem] of Object.entries(document.paths ?? {})) {
    const siblings = HTTP_METHODS.filter((method) => pathItem[method] !== undefined);
    for (const method of siblings) {
      const operation = pathItem[method] as OperationObject;
      const byKey = new Map<string, ParameterObject>();
      for (const parameter of [...(pathItem.parameters ?? []), ...(operation.parameters ?? [])]) {
        const resolved = resolve(document, parameter);
        byKey.set(`${resolved.in}:${resolved.name}`, resolved);
      }
      found.push({
        method,
        path,
        label: `${method.toUpperCase()} ${path}`,
        operation,
        parameters: [...byKey.values()],
        requestBody: operation.requestBody ? resolve(document, operation.requestBody) : undefined,
        siblings,
      });
    }
  }
  return found;
}

/** The security requirements that apply to an operation: its own, else the document's. */
export function securityOf(document: OpenApiDocument, op: Operation): SecurityRequirement[] {
  return op.operation.security ?? document.security ?? [];
}

/**
 * The scopes a credential of scheme `name` needs for an operation: an OAuth2 (or OpenID
 * Connect) requirement lists them; other schemes take none in the requirement (`[]`), so the
 * operation states them in `x-required-scopes`.
 */
export function requiredScopesFor(
  document: OpenApiDocument,
  op: Operation,
  name: string,
  listed: string[],
): string[] {
  const type = document.components?.securitySchemes?.[name]?.type;
  if (type === 'oauth2' || type === 'openIdConnect') return listed;
  return [...listed, ...(op.operation['x-required-scopes'] ?? [])];
}

/** An example for a media type: on itself, or on its schema (through `$ref`s). */
export function exampleOf(document: OpenApiDocument, media: MediaTypeObject): unknown {
  if (media.example !== undefined) return media.example;
  const named = Object.values(media.examples ?? {})[0];
  if (named !== undefined) return resolve<{ value?: unknown }>(document, named).value;
  if (!media.schema) return undefined;
  const schema = resolve(document, media.schema);
  return schema.example ?? schema.examples?.[0];
}

export const isJson = (mediaType: string) => /^application\/([\w.-]+\+)?json\b/i.test(mediaType);

export function jsonMedia(content: Record<string, MediaTypeObject> | undefined) {
  return Object.entries(content ?? {}).filter(([mediaType]) => isJson(mediaType));
}

/** A property sent as a file in a multipart body: a string of binary content. */
export const isFileSchema = (schema: SchemaObject) =>
  schema.format === 'binary' || schema.contentMediaType !== undefined;

export const SAMPLE_UUID = '0193a5b0-7e2f-7c3a-9d4e-5f6a7b8c9d0e';

const FORMAT_SAMPLES: Record<string, string> = {
  uuid: SAMPLE_UUID,
  'date-time': '2024-05-06T07:08:09Z',
  date: '2024-05-06',
  email: 'someone@example.com',
  uri: 'https://example.com/',
  url: 'https://example.com/',
};

/** A value the parameter's schema most likely accepts: its example, default, or a sample. */
export function sampleValue(document: OpenApiDocument, parameter: ParameterObject): string {
  const schema = parameter.schema ? resolve(document, parameter.schema) : {};
  const given = parameter.example ?? schema.example ?? schema.examples?.[0] ?? schema.default;
  if (given !== undefined) return String(given);
  return sampleOfSchema(document, schema);
}

/** A string the schema most likely accepts, from its type, enum, bounds or format. */
export function sampleOfSchema(document: OpenApiDocument, schema: SchemaObject): string {
  const variant = schema.anyOf ?? schema.oneOf;
  if (variant?.[0]) return sampleOfSchema(document, resolve(document, variant[0]));
  if (schema.enum?.[0] !== undefined) return String(schema.enum[0]);
  if (schema.const !== undefined) return String(schema.const);
  const type = [schema.type].flat()[0];
  if (type === 'integer' || type === 'number') {
    const low = schema.minimum ?? (schema.exclusiveMinimum ?? 0) + 1;
    return String(Math.ceil(low));
  }
  if (type === 'boolean') return 'true';
  if (type === 'array' && schema.items)
    return sampleOfSchema(document, resolve(document, schema.items));
  if (schema.format && FORMAT_SAMPLES[schema.format]) return FORMAT_SAMPLES[schema.format] ?? '';
  return 'x'.repeat(Math.max(1, schema.minLength ?? 1));
}

/** Fills `{name}` placeholders of a path template. */
export function fillPath(template: string, values: (name: string) => string): string {
  return template.replace(/\{([^}]+)\}/g, (_, name: string) => values(name));
}

export function queryString(entries: [string, string][]): string {
  if (entries.length === 0) return '';
  return `?${entries.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')}`;
}

/** Asserts `response` is an RFC 9457 problem document with its own status; returns the body. */
export async function assertProblem(
  response: Response,
  context: string,
): Promise<Record<string, unknown>> {
  const text = await response.text();
  const where = `${context}: got ${response.status} ${text.slice(0, 500)}`;
  assert.equal(response.headers.get('content-type'), 'application/problem+json', where);
  const body = JSON.parse(text) as Record<string, unknown>;
  assert.equal(body.status, response.status, where);
  assert.equal(typeof body.title, 'string', where);
  return body;
}

/** The documented request: path and required query from samples, the example body. */
export function documentedRequest(
  document: OpenApiDocument,
  op: Operation,
  headers: Record<string, string>,
  pathValue?: (parameter: ParameterObject) => string,
): { url: string; init: RequestInit } {
  const url =
    fillPath(op.path, (name) => {
      const parameter = op.parameters.find((p) => p.in === 'path' && p.name === name);
      if (!parameter) return 'x';
      return encodeURIComponent(pathValue?.(parameter) ?? sampleValue(document, parameter));
    }) +
    queryString(
      op.parameters
        .filter((p) => p.in === 'query' && p.required)
        .map((p): [string, string] => [p.name, sampleValue(document, p)]),
    );
  const [json] = jsonMedia(op.requestBody?.content);
  const body = json ? exampleOf(document, json[1]) : undefined;
  return {
    url,
    init: {
      method: op.method.toUpperCase(),
      headers: { ...headers, ...(json ? { 'content-type': json[0] } : {}) },
      ...(json ? { body: JSON.stringify(body ?? {}) } : {}),
    },
  };
}
