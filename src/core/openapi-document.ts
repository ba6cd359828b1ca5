import type { OpenAPIHono } from '@hono/zod-openapi';
import packageJson from '../../package.json' with { type: 'json' };
import type { AppEnv } from './app-env.ts';
import type { RateLimitPolicy } from './rate-limit/rate-limiter.ts';
import type { ScopeCatalog } from './security/scopes.ts';
import { withoutTrailingSlashes } from './url-encoding.ts';

export interface DocumentOptions {
  publicUrl: string | undefined;
  tags: { name: string; description: string }[];
  /** What `x-rate-limit: 'default'` stands for, written out for readers of the document. */
  defaultRateLimit: RateLimitPolicy;
  /**
   * The scopes the service knows: the `Scope` schema lists them (they come from modules), and
   * bounds every list of them.
   */
  scopes: Pick<ScopeCatalog, 'descriptions'>;
}

type OpenApiDocument = ReturnType<OpenAPIHono['getOpenAPI31Document']>;
type SchemaOrReference = NonNullable<NonNullable<OpenApiDocument['components']>['schemas']>[string];

/**
 * Generates the OpenAPI 3.1 document from the routes registered on `app`. Routes never
 * change after start, so the caller generates it once and serves the same object.
 */
export function buildOpenApiDocument(
  app: OpenAPIHono<AppEnv>,
  options: DocumentOptions,
): OpenApiDocument {
  const document = app.getOpenAPI31Document({
    openapi: '3.1.0',
    info: {
      title: 'Hono Service Template API',
      version: packageJson.version,
      description: [
        'A FastAPI-style typed HTTP service: every operation validates its input with zod and is',
        'documented from the same schemas. Errors are RFC 9457 problem documents',
        '(`application/problem+json`); invalid input is a 422 listing every invalid field.',
      ].join(' '),
      license: { name: 'MIT', url: 'https://spdx.org/licenses/MIT.html' },
      // Where client authors ask: a service made from the template puts its own team here.
      contact: { name: 'API maintainers', email: 'api@example.com' },
    },
    servers: serversOf(options.publicUrl),
    tags: options.tags,
  });
  for (const pathItem of Object.values(document.paths ?? {})) {
    for (const operation of Object.values(pathItem)) {
      if (isOperation(operation) && operation['x-rate-limit'] === 'default') {
        operation['x-rate-limit'] = options.defaultRateLimit;
      }
    }
  }
  const schemas = document.components?.schemas;
  if (schemas?.Scope) {
    const names = Object.keys(options.scopes.descriptions);
    // The enum is the contract; the pattern the schema checks at run time says less.
    schemas.Scope = { type: 'string', enum: names };
    for (const schema of Object.values(schemas)) boundScopeLists(schema, names.length);
  }
  return document;
}

/** A list of scopes holds each scope at most once, so it is never longer than the catalog. */
function boundScopeLists(schema: SchemaOrReference, scopeCount: number): void {
  if ('$ref' in schema) return;
  for (const property of Object.values(schema.properties ?? {})) {
    if ('$ref' in property || property.type !== 'array' || !property.items) continue;
    if ('$ref' in property.items && property.items.$ref === '#/components/schemas/Scope') {
      property.maxItems = scopeCount;
    }
  }
}

/**
 * Where clients send requests: `PUBLIC_URL` when set. Unset, the document names the server it
 * was fetched from (a relative URL), then a local development server for generated clients,
 * which need an absolute one.
 */
function serversOf(publicUrl: string | undefined) {
  if (publicUrl) return [{ url: withoutTrailingSlashes(publicUrl), description: 'This service' }];
  return [
    { url: '/', description: 'The server this document was fetched from' },
    {
      url: 'http://127.0.0.1:{port}',
      description: 'Local development (`npm run dev`)',
      variables: { port: { default: '3000', description: 'The `PORT` it listens on.' } },
    },
  ];
}

function isOperation(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && 'responses' in value;
}
