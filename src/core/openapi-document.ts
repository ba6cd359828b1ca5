import type { OpenAPIHono } from '@hono/zod-openapi';
import packageJson from '../../package.json' with { type: 'json' };
import type { AppEnv } from './app-env.ts';

export interface DocumentOptions {
  publicUrl: string | undefined;
  tags: { name: string; description: string }[];
}

type OpenApiDocument = ReturnType<OpenAPIHono['getOpenAPI31Document']>;

/**
 * Generates the OpenAPI 3.1 document from the routes registered on `app`. Routes never
 * change after start, so the caller generates it once and serves the same object.
 */
export function buildOpenApiDocument(
  app: OpenAPIHono<AppEnv>,
  options: DocumentOptions,
): OpenApiDocument {
  return app.getOpenAPI31Document({
    openapi: '3.1.0',
    info: {
      title: 'Hono Service Template API',
      version: packageJson.version,
      description: [
        'A FastAPI-style typed HTTP service: every operation validates its input with zod and is',
        'documented from the same schemas. Errors are RFC 9457 problem documents',
        '(`application/problem+json`); invalid input is a 422 listing every invalid field.',
      ].join(' '),
      license: { name: 'MIT' },
    },
    servers: [{ url: options.publicUrl ?? '/', description: 'This server' }],
    tags: options.tags,
  });
}
